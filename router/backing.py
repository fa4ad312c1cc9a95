"""Which active thresholds the calibration backs, and which classes the feedback monitor switched off.

A reply class's threshold is *backed* when the calibration of the model it was set for certifies a
threshold for that class (the suggestion's, at the promise) and the active value is at or above it. A lead
may set any value by hand (`thresholds set`, the page, a rollback), but an automated reply below what the
calibration certifies rests on that choice, not on measured precision: the CLI and the lead's page say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postroom.store.models import PURPOSE_CALIBRATION, Prediction, ThresholdVersion
from postroom.taxonomy import Taxonomy
from router.errors import ThresholdError
from router.feedback import MONITOR_ACTOR
from router.suggest import learned_report, suggest_from_store
from router.thresholds import active_confidence_model, damage, history, promised

HISTORY_SCAN = 200  # versions searched for each class's last change and the newest suggestion report
NO_CALIBRATION = (
    "no calibration predictions in the store yet: run `postroom calibrate --model VERSION` (the served "
    "variant on held-out labeled messages), then reload"
)


@dataclass(frozen=True)
class Unbacked:
    """A reply class answered automatically at a threshold the calibration does not certify."""

    class_name: str
    threshold: float
    certified: float | None  # the lowest threshold the calibration certifies (None: none)

    def why(self) -> str:
        """`card_replacement at 0.9 (the calibration certifies no threshold)`."""
        basis = (
            "the calibration certifies no threshold of it"
            if self.certified is None
            else f"the calibration certifies {self.certified:g} and above"
        )
        return f"{self.class_name} at {self.threshold:g} ({basis})"


def intact_history(session: Session) -> list[ThresholdVersion]:
    """The newest HISTORY_SCAN versions, newest first, but those that cannot be read (`damage`: the history
    marks them)."""
    return [v for v in history(session, HISTORY_SCAN) if damage(v) is None]


def calibration_models(session: Session, limit: int = 20) -> list[str]:
    """Model versions with calibration predictions in the store, newest first."""
    newest = func.max(Prediction.id)
    rows = session.execute(
        select(Prediction.model_version, newest)
        .where(Prediction.purpose == PURPOSE_CALIBRATION)
        .group_by(Prediction.model_version)
        .order_by(newest.desc())
        .limit(limit)
    ).all()
    return [row[0] for row in rows]


def _has_curves(part: Any) -> bool:
    classes = part.get("classes") if isinstance(part, dict) else None
    return bool(classes) and all(isinstance(c, dict) and "curve" in c for c in classes.values())


def curve_reports(
    session: Session,
    taxonomy: Taxonomy,
    versions: Sequence[ThresholdVersion],
    model_version: str | None,
    target_default: float,
    confidence_default: float,
) -> tuple[dict[str, Any], list[str], str | None]:
    """Per label set (reply and queue) the report with curves and certified thresholds: the newest stored
    suggestion for `model_version` among `versions` (newest first, intact), else computed from its
    calibration predictions at the active version's promise. Returns (reports, where they came from, why
    none)."""
    wanted = [taxonomy.routing.reply_set, taxonomy.routing.queue_set]
    if model_version is None:
        return {}, [], NO_CALIBRATION
    reports: dict[str, Any] = {}
    sources = []
    stored = next(
        (
            v
            for v in versions
            if v.model_version == model_version and isinstance((v.details or {}).get("report"), dict)
        ),
        None,
    )
    if stored is not None:
        for name, part in stored.details["report"].items():
            if name in wanted and _has_curves(part):
                reports[name] = part
        if reports:
            sources.append(f"the suggestion stored with thresholds version {stored.id}")
    active = versions[0] if versions else None
    target = promised(active, "target_precision", target_default)
    confidence = promised(active, "confidence", confidence_default)
    learned = active_confidence_model(session, taxonomy)
    reply_set = taxonomy.routing.reply_set
    if learned is not None:  # the reply thresholds compare the learned confidence: so must the curves
        try:
            reports[reply_set] = learned_report(session, taxonomy, model_version, learned, target, confidence)
            sources.append(
                f"the learned confidence of thresholds version {versions[0].id} on {model_version}"
            )
        except ThresholdError as exc:
            reports.pop(reply_set, None)
            return reports, sources, str(exc)
    if all(name in reports for name in wanted):
        return reports, sources, None
    try:
        fresh = suggest_from_store(
            session, taxonomy, model_version, target, confidence, "per-class", queue_precision=target
        )
    except ThresholdError as exc:
        return reports, sources, str(exc)
    added = [name for name in wanted if name not in reports and name in fresh.report]
    for name in added:
        reports[name] = fresh.report[name]
    if added:
        sources.append(f"computed from the calibration predictions of {model_version} ({', '.join(added)})")
    return reports, sources, None


def certifying_report(
    versions: Sequence[ThresholdVersion], model_version: str | None, label_set: str, fallback: Any
) -> Any:
    """The report whose class thresholds say what the calibration certifies for `model_version`: the
    newest suggestion stored with a version of `versions` (newest first) for that model, whatever its
    guarantee (a pooled one certifies lower thresholds than each class could alone), else `fallback` (the
    curves computed per class)."""
    for version in versions:
        report = (version.details or {}).get("report")
        part = report.get(label_set) if isinstance(report, dict) else None
        if version.model_version == model_version and isinstance(part, dict) and isinstance(
            part.get("classes"), dict
        ):
            return part
    return fallback


def unbacked_replies(values: Mapping[str, float | None], part: Mapping[str, Any] | None) -> list[Unbacked]:
    """The reply classes of `values` (class -> threshold, None: off) that answer automatically below what
    the report `part` certifies for them, or with no report at all."""
    classes = part.get("classes") if isinstance(part, Mapping) else None
    found = []
    for name, value in values.items():
        if value is None:
            continue
        entry = classes.get(name) if isinstance(classes, Mapping) else None
        certified = entry.get("threshold") if isinstance(entry, Mapping) else None
        certified = float(certified) if isinstance(certified, int | float) else None
        if certified is None or value < certified - 1e-12:
            found.append(Unbacked(name, value, certified))
    return found


def last_changes(
    versions: Sequence[ThresholdVersion],
) -> dict[tuple[str, str], tuple[ThresholdVersion, dict[str, Any]]]:
    """(label set, class) -> the version of `versions` (newest first, intact) that last changed it, and that
    change (`old`, `new`)."""
    last: dict[tuple[str, str], tuple[ThresholdVersion, dict[str, Any]]] = {}
    for version in reversed(versions):  # oldest first: later versions overwrite
        for change in (version.details or {}).get("changes", []):
            last[(change["label_set"], change["class_name"])] = (version, change)
    return last


def is_suspension(version: ThresholdVersion) -> bool:
    """Whether the feedback monitor wrote `version` to switch classes off."""
    return version.created_by == MONITOR_ACTOR and bool((version.details or {}).get("suspension"))


def monitor_suspended(versions: Sequence[ThresholdVersion]) -> dict[tuple[str, str], ThresholdVersion]:
    """(label set, class) -> the version in which the feedback monitor switched it off, for each class whose
    last change among `versions` (newest first, intact) was that suspension."""
    return {key: version for key, (version, _) in last_changes(versions).items() if is_suspension(version)}
