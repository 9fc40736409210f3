"""Model import: QONNX (and QKeras through qonnx's converter) into the integer IR."""
