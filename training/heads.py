"""The classification head: logistic regression on the body's embeddings (setfit's sklearn head).

Its `predict_proba` columns follow the head's sorted `classes_`, not the class order of the taxonomy; every
probability matrix this package hands out is re-ordered to the taxonomy's class order (`aligned_proba`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.config import TrainConfig


def fit_head(embeddings: np.ndarray, labels: list[int], config: TrainConfig) -> Any:
    """A multinomial logistic regression fitted on `embeddings` with integer `labels`."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=config.head_c, max_iter=config.head_max_iter, random_state=config.seed)
    head.fit(embeddings, np.asarray(labels, dtype=int))
    return head


def aligned_proba(head: Any, embeddings: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities with one column per class index 0..n_classes-1 (a class the head never saw gets 0)."""
    raw = head.predict_proba(embeddings)
    out = np.zeros((embeddings.shape[0], n_classes), dtype=np.float64)
    out[:, np.asarray(head.classes_, dtype=int)] = raw
    return out


def head_arrays(head: Any, class_names: list[str]) -> dict[str, Any]:
    """The head as plain arrays for runtimes without sklearn: coef (k x d), intercept (k), classes in order.

    For two classes sklearn keeps one row: p(classes[1]) = sigmoid(x @ coef[0] + intercept[0]).
    """
    classes = [class_names[int(c)] for c in head.classes_]
    coef = np.asarray(head.coef_, dtype=np.float32)
    intercept = np.asarray(head.intercept_, dtype=np.float32)
    return {"coef": coef, "intercept": intercept, "classes": classes, "binary": coef.shape[0] == 1}
