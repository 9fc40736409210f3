"""The ONNX op handlers of the lowering, one module per family; frontend/handlers.py is the table."""
