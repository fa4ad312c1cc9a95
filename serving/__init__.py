"""Serving: the FastAPI service, the ONNX Runtime model runtime (no torch), auth and metrics."""
