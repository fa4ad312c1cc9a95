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


def queue_to_json(suggestion: SetSuggestion, triage_queue: str) -> dict[str, Any]:
    """The queue set's report: as `suggestion_to_json`, plus what applying it routes.

    Queue thresholds are triage, not automated replies: a queue prediction at or above its threshold goes
    straight to that queue, one below it to `triage_queue`. A queue that cannot be certified is applied as 0
    (every prediction trusted, `suggested_values`), so all its predictions go straight to it. Per class:
    `straight_share` (of all calibration messages) and the measured `straight_precision` (None: none);
    per set: `expected_straight_share`, `expected_straight_precision` and `expected_triage_share`.
    (`expected_auto_share` and `expected_precision` cover the certified queues only.)
    """
    data = suggestion_to_json(suggestion)
    total = suggestion.calibration_size
    straight = right = 0
    for c in suggestion.classes:
        if c.threshold is not None:
            selected = round(c.expected_coverage * total)
            correct = round(selected * (c.expected_precision or 0.0))
        else:  # applied as 0: the whole curve (its last point selects every prediction of the queue)
            selected = c.curve[-1].selected if c.curve else 0
            correct = c.curve[-1].correct if c.curve else 0
        data["classes"][c.class_name]["straight_share"] = selected / total if total else 0.0
        data["classes"][c.class_name]["straight_precision"] = correct / selected if selected else None
        straight += selected
        right += correct
    data["role"] = "queue"
    data["triage_queue"] = triage_queue
    data["expected_straight_share"] = straight / total if total else 0.0
    data["expected_straight_precision"] = right / straight if straight else None
    data["expected_triage_share"] = (total - straight) / total if total else 0.0
    return data
