"""Held-out metrics: a class without held-out examples is not measured, and report.json says so with null."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.evaluate import compute_metrics

CLASSES = ["a", "b", "c", "d"]


def test_classes_without_held_out_examples_have_null_figures_not_zero() -> None:
    """`c` is predicted once but never true, `d` neither: both unmeasured; `a` and `b` keep real figures."""
    y_true = np.array([0, 0, 1, 1, 1])
    predicted = [0, 2, 1, 1, 0]
    proba = np.full((5, len(CLASSES)), 0.1)
    proba[np.arange(5), predicted] = 0.7
    metrics = compute_metrics(y_true, proba, CLASSES)
    written = json.loads(json.dumps(metrics, allow_nan=False))  # as training writes report.json
    per_class = written["per_class"]
    for cls in ("c", "d"):
        assert per_class[cls] == {"precision": None, "recall": None, "f1-score": None, "support": 0}
    assert per_class["a"] == {"precision": 0.5, "recall": 0.5, "f1-score": 0.5, "support": 2}
    assert per_class["b"]["recall"] == pytest.approx(2 / 3) and per_class["b"]["precision"] == 1.0
    assert written["classes_without_eval_examples"] == ["c", "d"]
    assert written["macro_f1"] == pytest.approx((0.5 + 0.8) / 2)  # over the measured classes only
