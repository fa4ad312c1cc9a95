"""Plain-text and JSON views of threshold suggestions, for the CLI, the API and the benchmark."""

from __future__ import annotations

from typing import Any

from router.calibration import ClassThreshold
from router.suggest import SetSuggestion

MAX_CURVE_POINTS = 60


def downsample_curve(result: ClassThreshold) -> list[dict[str, float]]:
    """At most MAX_CURVE_POINTS points of the precision–coverage curve, ends included."""
    curve = result.curve
    if len(curve) > MAX_CURVE_POINTS:
        step = (len(curve) - 1) / (MAX_CURVE_POINTS - 1)
        curve = [curve[round(i * step)] for i in range(MAX_CURVE_POINTS)]
    return [
        {"threshold": p.threshold, "precision": p.precision, "coverage": p.coverage, "selected": p.selected}
        for p in curve
    ]


def suggestion_to_json(suggestion: SetSuggestion, reply_classes: set[str] | None = None) -> dict[str, Any]:
    share, precision = suggestion.expected(reply_classes)
    return {
        "label_set": suggestion.label_set,
        "guarantee": "per-class",
        "target_precision": suggestion.target_precision,
        "confidence": suggestion.confidence,
        "calibration_size": suggestion.calibration_size,
        "expected_auto_share": share,
        "expected_precision": precision,
        "classes": {
            c.class_name: {
                "threshold": c.threshold,
                "predicted": c.predicted,
                "expected_precision": c.expected_precision,
                "expected_coverage": c.expected_coverage,
                "examples_needed": c.examples_needed,
                "reason": c.reason,
                "curve": downsample_curve(c),
            }
            for c in suggestion.classes
        },
    }
