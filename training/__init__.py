"""Training: datasets from the store, SetFit training, evaluation, model registry, ONNX export.

Imports only the core. Light modules (no torch, setfit, sentence-transformers, sklearn or matplotlib at
import time): `config`, `errors`, `registry` (read by serving), `dataset`, `evaluate`, `model_card`,
`pipeline`, `progress`, `devices`, `benchdata`, `baselines`, `fewshot_bench`, `heads`, `artifacts`, `cli`.
Heavy modules, imported inside functions only: `losses`, `contrastive`, `setfit_trainer`, `multitask`.
"""
