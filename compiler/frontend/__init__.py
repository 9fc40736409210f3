"""Model import: QONNX files, and Keras / QKeras models through convflow's own converter (keras_*.py), into the
integer IR."""
