"""Write and read a version's bodies and heads in the registry layout (see `training.registry`).

Reading back into torch (`load_predictor`) is for evaluation, tests and the ONNX export; serving reads the
arrays and the body directory without torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.config import TrainConfig
from training.heads import aligned_proba, head_arrays
from training.registry import (
    HEAD_COEF,
    HEAD_INTERCEPT,
    HEAD_META,
    HEAD_PICKLE,
    LabelSetArtifacts,
    ModelVersion,
)


def has_normalize(body: Any) -> bool:
    return any(type(module).__name__ == "Normalize" for module in body)


def save_body(body: Any, path: Path) -> dict[str, Any]:
    """Save a sentence-transformers body (its modules, Normalize included) and describe it."""
    path.mkdir(parents=True, exist_ok=True)
    body.save(str(path), create_model_card=False)
    return {
        "max_seq_length": int(body.max_seq_length),
        "embedding_dim": int(body.get_embedding_dimension() or 0),
        "normalize": has_normalize(body),
    }


def save_head(
    head: Any, class_names: list[str], body_key: str, max_seq_length: int, path: Path
) -> dict[str, Any]:
    """Save the sklearn head (joblib) and its arrays (coef.npy, intercept.npy, head.json)."""
    import joblib

    path.mkdir(parents=True, exist_ok=True)
    joblib.dump(head, path / HEAD_PICKLE)
    arrays = head_arrays(head, class_names)
    np.save(path / HEAD_COEF, arrays["coef"])
    np.save(path / HEAD_INTERCEPT, arrays["intercept"])
    meta = {
        "classes": arrays["classes"],
        "kind": "binary_logistic" if arrays["binary"] else "multinomial_logistic",
        "body": body_key,
        "max_seq_length": max_seq_length,
        "embedding_dim": int(arrays["coef"].shape[1]),
        "sklearn_class": f"{type(head).__module__}.{type(head).__name__}",
        "temperature": float(getattr(head, "temperature_", 1.0)),  # already folded into coef and intercept
    }
    (path / HEAD_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


@dataclass
class Predictor:
    """A torch body and an sklearn head for one label set, loaded from a version."""

    artifacts: LabelSetArtifacts
    body: Any
    head: Any

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities with columns in `artifacts.classes` order."""
        from training.contrastive import encode
        from training.devices import resolve_device

        config = TrainConfig(device="cpu", encode_batch_size=batch_size)
        embeddings = encode(self.body, texts, config, resolve_device(config))
        return aligned_proba(self.head, embeddings, len(self.artifacts.classes))


def load_predictor(version: ModelVersion, label_set: str) -> Predictor:
    """Load one label set's body and head from a registry version (CPU)."""
    import joblib
    from sentence_transformers import SentenceTransformer

    artifacts = version.artifacts(label_set)
    body = SentenceTransformer(str(artifacts.body_dir), device="cpu")
    body.max_seq_length = artifacts.max_seq_length
    head = joblib.load(artifacts.pickle_path)
    return Predictor(artifacts, body, head)
