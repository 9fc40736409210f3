"""convflow.compiler: frontend (QONNX / QKeras import), integer IR, passes, estimator, HLS and RTL emitters."""
