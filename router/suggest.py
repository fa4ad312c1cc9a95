"""Suggest thresholds for every class from calibration data, and summarise what they promise.

Calibration data are predictions of the model variant that is actually served, on labeled messages it did not
train on. For each class of a label set, `class_threshold` finds the lowest threshold certified at the target
precision; classes that cannot reach it get no threshold (no automated reply) and the number of calibration
examples that would be needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from postroom.taxonomy import Taxonomy
from router.calibration import ClassThreshold, class_threshold
from router.confidence import ConfidenceModel, suggest_from_raw
from router.errors import ThresholdError
from router.pooled import suggest_pooled
from router.thresholds import Values


@dataclass(frozen=True)
class CalibrationExamples:
    """One label set's calibration predictions: predicted class, its probability, and the true class."""

    predicted: Sequence[str]
    scores: np.ndarray
    truth: Sequence[str]
    signals: np.ndarray | None = None  # router.confidence's raw signals, one row each, when serving gave them

    def __post_init__(self) -> None:
        if not len(self.predicted) == len(self.scores) == len(self.truth):
            raise ValueError("predicted, scores and truth must have the same length")
        if self.signals is not None and len(self.signals) != len(self.predicted):
            raise ValueError("signals must have one row per example")


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


Guarantee = Literal["per-class", "pooled", "learned"]
GUARANTEES: tuple[Guarantee, ...] = ("per-class", "pooled", "learned")


@dataclass
class SuggestionReport:
    """What `postroom thresholds suggest` (and the API) shows and may apply."""

    guarantee: Guarantee
    target_precision: float
    confidence: float
    model_version: str
    values: Values
    report: dict[str, Any]  # JSON: per label set, the expected share/precision and per-class details

    @property
    def confidence_model(self) -> dict[str, Any] | None:
        """The learned confidence the values compare against (learned guarantee), else None."""
        return next((r["confidence_model"] for r in self.report.values() if "confidence_model" in r), None)


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
    # Without any template every class is certified for the report, but none gets a threshold: it would
    # decide nothing (router.thresholds.without_effect).
    templated = {c.name for c in label_set.classes if c.auto_reply}
    return {c: (v["threshold"] if c in templated else None) for c, v in classes.items()}, report


def _learned_report(
    taxonomy: Taxonomy, set_name: str, examples: CalibrationExamples, target: float, confidence: float
) -> tuple[dict[str, float | None], dict[str, Any]]:
    """One threshold on the learned confidence (router.confidence) for every templated class."""
    if examples.signals is None:
        raise ThresholdError(
            f"the calibration predictions of {set_name} carry no confidence signals: the model was exported "
            "without evidence (train it again with this version of Postroom, export, and run "
            "`postroom calibrate` again), or use --guarantee pooled"
        )
    label_set = taxonomy.label_set(set_name)
    names = label_set.class_names
    index = {c: i for i, c in enumerate(names)}
    predicted = np.array([index.get(p, -1) for p in examples.predicted])
    truth = np.array([index.get(t, -1) for t in examples.truth])
    # As the pooled guarantee: certified on the messages that could be answered (templated predictions).
    eligible = [index[c.name] for c in label_set.classes if c.auto_reply] or list(range(len(names)))
    known = np.isin(predicted, eligible)
    learned = suggest_from_raw(
        examples.signals[known], predicted[known], truth[known], len(names), target, confidence
    )
    threshold = learned.certified.threshold
    templated = {c.name for c in label_set.classes if c.auto_reply}
    why = (
        "the fit share held no wrong (or no right) prediction: nothing to learn a confidence from"
        if learned.model is None
        else f"not certified on {learned.certified.size} calibration messages (the promise takes at least "
        f"{math.ceil(math.log(1.0 - confidence) / math.log(target))} answered, all right)"
    )
    # Per class: the certifying messages it would have answered (an estimate; the promise is pooled).
    auto_predicted = predicted[known][learned.auto_rows]
    auto_correct = (predicted[known] == truth[known])[learned.auto_rows]
    certifying = learned.certified.size
    classes = {}
    for i, name in enumerate(names):
        on = threshold is not None and name in templated
        mine = auto_predicted == i
        answered = int(mine.sum()) if on else 0
        classes[name] = {
            "threshold": threshold if name in templated else None,
            "predicted": int(np.sum(predicted == i)),
            "expected_precision": float(auto_correct[mine].mean()) if answered else None,
            "expected_coverage": answered / certifying if certifying else 0.0,
            "examples_needed": None,
            "reason": "" if on else ("no template" if name not in templated else why),
        }
    report = {
        "label_set": set_name,
        "guarantee": "learned",
        "target_precision": target,
        "confidence": confidence,
        "calibration_size": int(known.sum()),
        "fit_size": learned.fit_size,
        "threshold": threshold,
        "expected_auto_share": learned.expected_coverage,
        "expected_precision": learned.expected_precision,
        "classes": classes,
    }
    if learned.model is not None and threshold is not None:
        report["confidence_model"] = {"label_set": set_name, **learned.model.to_dict(names)}
    return {c: v["threshold"] for c, v in classes.items()}, report


def learned_report(
    session: Session,
    taxonomy: Taxonomy,
    model_version: str,
    model: ConfidenceModel,
    target_precision: float,
    confidence: float,
) -> dict[str, Any]:
    """The reply set's per-class report (curves included) with the learned confidence as the score: what
    the lead's page shows when the active thresholds compare it. ThresholdError without signals."""
    from router.calibration_data import load_calibration
    from router.report import suggestion_to_json

    reply_set = taxonomy.routing.reply_set
    examples = load_calibration(session, taxonomy, model_version).get(reply_set)
    if examples is None or examples.signals is None:
        raise ThresholdError(
            f"the calibration predictions of {model_version} carry no confidence signals for {reply_set}: "
            "the curves of the learned confidence cannot be drawn"
        )
    names = taxonomy.label_set(reply_set).class_names
    index = {c: i for i, c in enumerate(names)}
    known = np.array([p in index for p in examples.predicted])
    predicted = np.array([index.get(p, 0) for p in examples.predicted])
    scores = np.where(known, model.score_raw(examples.signals, predicted), 0.0)
    rescored = CalibrationExamples(examples.predicted, scores, examples.truth)
    suggestion = suggest_for_set(reply_set, names, rescored, target_precision, confidence)
    templated = {c.name for c in taxonomy.label_set(reply_set).classes if c.auto_reply}
    return {
        **suggestion_to_json(suggestion, templated),
        "guarantee": "learned",
        "score": "learned confidence",
    }


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
    from router.report import queue_to_json, suggestion_to_json

    calibration = load_calibration(session, taxonomy, model_version)
    reply_set = taxonomy.routing.reply_set
    templated = {c.name for c in taxonomy.label_set(reply_set).classes if c.auto_reply}
    per_class = suggest_thresholds(taxonomy, calibration, target_precision, confidence, queue_precision)
    values = suggested_values(taxonomy, per_class)
    report = {
        name: queue_to_json(s, taxonomy.routing.triage_queue)
        if name == taxonomy.routing.queue_set
        else suggestion_to_json(s, templated if name == reply_set else None)
        for name, s in per_class.items()
    }
    if guarantee == "pooled" and reply_set in calibration:
        values[reply_set], report[reply_set] = _pooled_report(
            taxonomy, reply_set, calibration[reply_set], target_precision, confidence
        )
    if guarantee == "learned" and reply_set in calibration:
        values[reply_set], report[reply_set] = _learned_report(
            taxonomy, reply_set, calibration[reply_set], target_precision, confidence
        )
    return SuggestionReport(guarantee, target_precision, confidence, model_version, values, report)


def apply_suggestion(
    session: Session,
    taxonomy: Taxonomy,
    suggestion: SuggestionReport,
    actor: str,
    base_version: int | None = None,
) -> Any:
    """Store the suggestion as the new active thresholds version (not committed; `base_version` as for
    `router.thresholds.set_thresholds`)."""
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
            # what routing scores the reply set by: None (the probability) unless the learned guarantee
            "confidence_model": suggestion.confidence_model,
            "report": suggestion.report,
        },
        base_version=base_version,
    )
