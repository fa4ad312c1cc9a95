"""What the router's learned confidence needs from training, saved beside each head (`evidence.npz`).

The router ranks automated replies by a learned confidence (`router/confidence.py`) that reads, besides the
head's probabilities, the labeled examples' embeddings (how close a message is to the examples of its
predicted class and of the others) and a second head on the same body: the head before self-training, when
the head was self-trained. Training has both at hand; this module keeps them:

    reference_embeddings  (m, d) float32   the labeled examples and class texts, L2-normalised
    reference_labels      (m,)  int32      their classes, as columns of the head (head.json's `classes`)
    second_coef           (k, d) float32   the head before self-training, rows in the same class order
    second_intercept      (k,)  float32    (both absent when the head was not self-trained)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.heads import head_arrays

EVIDENCE_FILE = "evidence.npz"


@dataclass(frozen=True)
class ConfidenceEvidence:
    """One label set's labeled embeddings (training label indices) and its supervised head, if any."""

    embeddings: np.ndarray
    labels: list[int]
    supervised: Any = None  # the sklearn head before self-training; None when not self-trained


def save_evidence(evidence: ConfidenceEvidence, head: Any, class_names: list[str], path: Path) -> None:
    """Write `evidence.npz` into the head directory `path`, columns in `head`'s class order."""
    main = head_arrays(head, class_names)
    column = {name: i for i, name in enumerate(main["classes"])}
    labels = [column.get(class_names[y], -1) for y in evidence.labels]
    keep = np.array([c >= 0 for c in labels], dtype=bool)  # a class the head lacks has no column
    vectors = np.asarray(evidence.embeddings, dtype=np.float32)[keep]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    arrays = {
        "reference_embeddings": vectors / np.where(norms > 0, norms, 1.0),
        "reference_labels": np.asarray([c for c in labels if c >= 0], dtype=np.int32),
    }
    if evidence.supervised is not None:
        second = head_arrays(evidence.supervised, class_names)
        if second["classes"] == main["classes"]:
            arrays["second_coef"], arrays["second_intercept"] = second["coef"], second["intercept"]
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / EVIDENCE_FILE, **arrays)
