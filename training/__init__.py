"""Training: datasets from the store, SetFit training, evaluation, model registry, ONNX export.

Imports only the core.
"""
