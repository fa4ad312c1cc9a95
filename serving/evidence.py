"""The learned confidence's inputs in serving: an export's `evidence/<label_set>.npz` (training.evidence).

For a label set with evidence the runtime also reads its body's sentence embedding, and computes per message
the raw signals of `router.confidence` (the head's probability and margin, the second head's view, the
similarity to the labeled examples and class centroids). They are stored with every prediction, so
calibration predictions carry them and `postroom thresholds suggest --guarantee learned` can fit on them.
The names below repeat `training.evidence` (serving may not import it; a test checks they match).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router.confidence import LabeledReference, Signals, normalised, raw_signals
from serving.errors import ModelUnavailable

REFERENCE_EMBEDDINGS = "reference_embeddings"
REFERENCE_LABELS = "reference_labels"
SECOND_COEF = "second_coef"
SECOND_INTERCEPT = "second_intercept"


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SetEvidence:
    """One label set's labeled reference and second head (None when its head was not self-trained)."""

    reference: LabeledReference
    second_coef: np.ndarray | None = None
    second_intercept: np.ndarray | None = None

    def second_proba(self, embeddings: np.ndarray) -> np.ndarray | None:
        if self.second_coef is None or self.second_intercept is None:
            return None
        coef, intercept = self.second_coef, self.second_intercept
        if coef.shape[0] == 1:  # sklearn's binary head: p(class 1) = sigmoid(x @ w + b)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros(1, dtype=intercept.dtype), intercept])
        return _softmax(embeddings @ coef.T + intercept)

    def signals(self, proba: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Raw signals (n x len(FEATURES) - 1) for these probabilities and the body's embeddings."""
        unit = normalised(np.asarray(embeddings, dtype=np.float64))
        return raw_signals(
            Signals(np.asarray(proba, dtype=np.float64), unit, self.second_proba(unit)), self.reference
        )


def load_evidence(path: Path, n_classes: int) -> SetEvidence:
    """Read and check an evidence file; `ModelUnavailable` with the reason when it does not fit the head."""
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelUnavailable(f"cannot read {path.name}: {type(exc).__name__}") from None
    embeddings = arrays.get(REFERENCE_EMBEDDINGS)
    labels = arrays.get(REFERENCE_LABELS)
    if embeddings is None or labels is None or embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ModelUnavailable(f"{path.name} lacks its reference embeddings or labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ModelUnavailable(f"{path.name} names classes the head does not have")
    reference = LabeledReference.build(
        normalised(embeddings.astype(np.float64)), labels.astype(int), n_classes
    )
    coef, intercept = arrays.get(SECOND_COEF), arrays.get(SECOND_INTERCEPT)
    if coef is not None and intercept is not None and coef.shape[1] == embeddings.shape[1]:
        return SetEvidence(reference, coef.astype(np.float64), intercept.astype(np.float64))
    return SetEvidence(reference)
