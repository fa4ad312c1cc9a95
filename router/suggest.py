"""Suggest thresholds for every class from calibration data, and summarise what they promise.

Calibration data are predictions of the model variant that is actually served, on labeled messages it did not
train on. For each class of a label set, `class_threshold` finds the lowest threshold certified at the target
precision; classes that cannot reach it get no threshold (no automated reply) and the number of calibration
examples that would be needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from postroom.taxonomy import Taxonomy
from router.calibration import ClassThreshold, class_threshold
from router.pooled import suggest_pooled
from router.thresholds import Values


@dataclass(frozen=True)
class CalibrationExamples:
    """One label set's calibration predictions: predicted class, its probability, and the true class."""

    predicted: Sequence[str]
    scores: np.ndarray
    truth: Sequence[str]

    def __post_init__(self) -> None:
        if not len(self.predicted) == len(self.scores) == len(self.truth):
            raise ValueError("predicted, scores and truth must have the same length")


@dataclass
class SetSuggestion:
    label_set: str
    target_precision: float
    confidence: float
    calibration_size: int
    classes: list[ClassThreshold] = field(default_factory=list)

    def expected(self, classes: Iterable[str] | None = None) -> tuple[float, float | None]:
        """(share of messages auto-answered, their precision) over certified `classes` (default: all)."""
        wanted = None if classes is None else set(classes)
        selected = correct = 0.0
        for c in self.classes:
            if c.threshold is None or (wanted is not None and c.class_name not in wanted):
                continue
            n = c.expected_coverage * self.calibration_size
            selected += n
            correct += n * (c.expected_precision or 0.0)
        share = selected / self.calibration_size if self.calibration_size else 0.0
        return share, (correct / selected if selected else None)

    def thresholds(self) -> dict[str, float | None]:
        return {c.class_name: c.threshold for c in self.classes}


def suggest_for_set(
    label_set: str,
    class_names: Sequence[str],
    examples: CalibrationExamples,
    target_precision: float,
    confidence: float,
) -> SetSuggestion:
    """Thresholds for every class of one label set."""
    predicted = np.asarray(examples.predicted, dtype=object)
    truth = np.asarray(examples.truth, dtype=object)
    scores = np.asarray(examples.scores, dtype=float)
    total = len(predicted)
    suggestion = SetSuggestion(label_set, target_precision, confidence, total)
    for class_name in class_names:
        mask = predicted == class_name
        suggestion.classes.append(
            class_threshold(
                class_name, scores[mask], truth[mask] == class_name, total, target_precision, confidence
            )
        )
    return suggestion


def suggest_thresholds(
    taxonomy: Taxonomy,
    calibration: dict[str, CalibrationExamples],
    target_precision: float,
    confidence: float,
    queue_precision: float | None = None,
) -> dict[str, SetSuggestion]:
    """Suggestions for the reply set (auto-replies) and, with `queue_precision`, the queue set (triage)."""
    wanted = {taxonomy.routing.reply_set: target_precision}
    if queue_precision is not None:
        wanted[taxonomy.routing.queue_set] = queue_precision
    result = {}
    for set_name, target in wanted.items():
        if set_name not in calibration:
            continue
        label_set = taxonomy.label_set(set_name)
        result[set_name] = suggest_for_set(
            set_name, label_set.class_names, calibration[set_name], target, confidence
        )
    return result


def suggested_values(taxonomy: Taxonomy, suggestions: dict[str, SetSuggestion]) -> Values:
    """Values to store: reply classes without a template stay None; uncertified queues keep 0 (trusted)."""
    values: Values = {}
    for set_name, suggestion in suggestions.items():
        label_set = taxonomy.label_set(set_name)
        per_class: dict[str, float | None] = {}
        for class_threshold_ in suggestion.classes:
            value = class_threshold_.threshold
            if (
                set_name == taxonomy.routing.reply_set
                and not label_set.get(class_threshold_.class_name).auto_reply
            ):
                value = None
            if set_name == taxonomy.routing.queue_set and value is None:
                value = 0.0
            per_class[class_threshold_.class_name] = value
        values[set_name] = per_class
    return values


Guarantee = Literal["per-class", "pooled"]


@dataclass
class SuggestionReport:
    """What `postroom thresholds suggest` (and the API) shows and may apply."""

    guarantee: Guarantee
    target_precision: float
    confidence: float
    model_version: str
    values: Values
    report: dict[str, Any]  # JSON: per label set, the expected share/precision and per-class details


def _pooled_report(
    taxonomy: Taxonomy, set_name: str, examples: CalibrationExamples, target: float, confidence: float
) -> tuple[dict[str, float | None], dict[str, Any]]:
    label_set = taxonomy.label_set(set_name)
    eligible = [c.name for c in label_set.classes if c.auto_reply] or label_set.class_names
    pooled = suggest_pooled(eligible, examples.predicted, examples.scores, examples.truth, target, confidence)
    classes = {}
    for name in label_set.class_names:
        counts = pooled.per_class.get(name, {"auto": 0, "correct": 0})
        threshold = pooled.thresholds.get(name)
        classes[name] = {
            "threshold": threshold,
            "predicted": int(sum(1 for p in examples.predicted if p == name)),
            "expected_precision": counts["correct"] / counts["auto"] if counts["auto"] else None,
            "expected_coverage": counts["auto"] / pooled.test_size if pooled.test_size else 0.0,
            "examples_needed": None,
            "reason": ""
            if threshold is not None
            else ("no template" if name not in eligible else "not certified"),
        }
    report = {
        "label_set": set_name,
        "guarantee": "pooled",
        "target_precision": target,
        "confidence": confidence,
        "calibration_size": pooled.fit_size + pooled.test_size,
        "strictness": pooled.strictness,
        "expected_auto_share": pooled.expected_coverage,
        "expected_precision": pooled.expected_precision,
        "classes": classes,
    }
    return {c: v["threshold"] for c, v in classes.items()}, report


def suggest_from_store(
    session: Session,
    taxonomy: Taxonomy,
    model_version: str,
    target_precision: float,
    confidence: float,
    guarantee: Guarantee = "per-class",
    queue_precision: float | None = None,
) -> SuggestionReport:
    """Suggest thresholds from the stored calibration predictions of `model_version`."""
    from router.calibration_data import load_calibration
    from router.report import suggestion_to_json

    calibration = load_calibration(session, taxonomy, model_version)
    reply_set = taxonomy.routing.reply_set
    templated = {c.name for c in taxonomy.label_set(reply_set).classes if c.auto_reply}
    per_class = suggest_thresholds(taxonomy, calibration, target_precision, confidence, queue_precision)
    values = suggested_values(taxonomy, per_class)
    report = {
        name: suggestion_to_json(s, templated if name == reply_set else None) for name, s in per_class.items()
    }
    if guarantee == "pooled" and reply_set in calibration:
        values[reply_set], report[reply_set] = _pooled_report(
            taxonomy, reply_set, calibration[reply_set], target_precision, confidence
        )
    return SuggestionReport(guarantee, target_precision, confidence, model_version, values, report)


def apply_suggestion(session: Session, taxonomy: Taxonomy, suggestion: SuggestionReport, actor: str) -> Any:
    """Store the suggestion as the new active thresholds version (not committed)."""
    from router.thresholds import set_thresholds

    return set_thresholds(
        session,
        taxonomy,
        suggestion.values,
        actor,
        f"suggested ({suggestion.guarantee} guarantee): target {suggestion.target_precision} at confidence "
        f"{suggestion.confidence} on model {suggestion.model_version}",
        model_version=suggestion.model_version,
        details={
            "target_precision": suggestion.target_precision,
            "confidence": suggestion.confidence,
            "guarantee": suggestion.guarantee,
            "report": suggestion.report,
        },
    )
