"""What the lead's endpoints and the feedback endpoint do, without HTTP.

- thresholds: change, roll back, suggest and apply; each commits one new immutable version
  (`router.thresholds`), with the API key's name as the actor;
- feedback: store a closed case's outcome (committed first, so it is never lost), then let the monitor
  (`router.feedback.suspend_failing_classes`) switch off auto-replies that fail their target with evidence;
- the overview the lead's page shows: per class of the reply and queue sets the current threshold, the
  precision–coverage curve, realized precision from feedback, the last change and any suspension.

Logs name classes, versions and counts, never message content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from postroom.errors import PostroomError
from postroom.settings import Settings
from postroom.store import StoreError
from postroom.store.audit import list_events
from postroom.store.models import (
    AuditEvent,
    Feedback,
    RoutingDecision,
    ThresholdVersion,
)
from postroom.taxonomy import ClassDef, Taxonomy
from router.backing import (
    calibration_models,
    certifying_report,
    curve_reports,
    intact_history,
    is_suspension,
    last_changes,
    unbacked_replies,
)
from router.errors import ThresholdError
from router.feedback import (
    MONITOR_ACTOR,
    SUSPENSION_EVENT,
    RealizedPrecision,
    realized_precision,
    record_feedback,
    suspend_failing_classes,
)
from router.outcomes import Outcomes
from router.suggest import Guarantee, SuggestionReport, apply_suggestion, suggest_from_store
from router.thresholds import (
    Change,
    Values,
    active_values,
    diff,
    how_to_resume_replies,
    promised,
    refuse_zero_replies,
    replies_paused,
    rollback,
    set_thresholds,
)
from serving.errors import store_failed
from serving.lifecycle import resolve_source
from serving.metrics import Metrics
from serving.service import find_message, normalize_id
from training.registry import Registry

log = logging.getLogger("postroom.serving")

EVENTS_SHOWN = 20
# What a card shows of a class's suggestion, from a stored suggestion report.
SUGGESTED_KEYS = (
    "threshold",
    "predicted",
    "expected_precision",
    "expected_coverage",
    "examples_needed",
    "reason",
    "straight_share",  # queues only (router.report.queue_to_json)
    "straight_precision",
)


def commit(session: Session) -> None:
    """Commit, or roll back and raise `StoreError` (503) naming only the error type."""
    try:
        session.commit()
    except StoreError:  # damaged, read-only, full or unreachable: its message says which, and no values
        session.rollback()
        raise
    except SQLAlchemyError as exc:
        session.rollback()
        raise store_failed(f"the change could not be stored: {type(exc).__name__}") from None


def change_thresholds(
    session: Session,
    taxonomy: Taxonomy,
    changes: Values,
    actor: str,
    reason: str,
    base_version: int | None = None,
    allow_zero: bool = False,
) -> ThresholdVersion:
    """Store `changes` on top of the active values as a new version (committed).

    Raises:
        ZeroReplyThreshold: 0 on an automated-reply class without `allow_zero`.
        ThresholdsChanged: `base_version` is given and is not the active version (0: none yet).
        DamagedThresholdVersion: the active version cannot be read.
        ThresholdError: unknown label set or class, value out of range, a threshold that decides nothing,
            no reason, or no change.
    """
    if not allow_zero:
        refuse_zero_replies(changes, taxonomy, "null for {name}", 'send "allow_zero": true')
    version = set_thresholds(session, taxonomy, changes, actor, reason.strip(), base_version=base_version)
    commit(session)
    log.info("thresholds version %d by %s: %s", version.id, actor, _describe(version))
    return version


def rollback_thresholds(
    session: Session,
    taxonomy: Taxonomy,
    to_version: int,
    actor: str,
    reason: str,
    base_version: int | None = None,
) -> ThresholdVersion:
    """Make `to_version`'s values active again, as a new version (committed).

    Raises:
        ThresholdVersionNotFound: no such version.
        ThresholdsChanged: `base_version` is given and is not the active version.
        ThresholdError: no reason, or the values equal the active ones.
    """
    version = rollback(session, taxonomy, to_version, actor, reason.strip(), base_version)
    commit(session)
    log.info("thresholds version %d by %s: rollback to %d", version.id, actor, to_version)
    return version


def suggest(
    session: Session,
    taxonomy: Taxonomy,
    model_version: str,
    target_precision: float,
    confidence: float,
    guarantee: Guarantee,
    queue_precision: float | None,
) -> tuple[SuggestionReport, list[Change]]:
    """The suggestion and how it differs from the active values.

    Raises:
        ThresholdError: no calibration predictions for `model_version`.
    """
    suggestion = suggest_from_store(
        session, taxonomy, model_version, target_precision, confidence, guarantee, queue_precision
    )
    _, current = active_values(session, taxonomy)
    return suggestion, diff(current, suggestion.values)


def apply(
    session: Session,
    taxonomy: Taxonomy,
    suggestion: SuggestionReport,
    actor: str,
    reason: str | None,
    base_version: int | None = None,
) -> ThresholdVersion:
    """Store a suggestion as the new active version (committed); a lead's reason precedes the generated one.

    Raises:
        ThresholdsChanged: `base_version` is given and is not the active version.
        ThresholdError: the suggestion equals the active values.
    """
    version = apply_suggestion(session, taxonomy, suggestion, actor, base_version)
    if reason and reason.strip():
        version.reason = f"{reason.strip()} ({version.reason})"
    commit(session)
    log.info("thresholds version %d by %s: suggestion applied (%s)", version.id, actor, _describe(version))
    return version


def _describe(version: ThresholdVersion) -> str:
    changes = (version.details or {}).get("changes", [])
    shown = ", ".join(f"{c['label_set']}.{c['class_name']} {c['old']} -> {c['new']}" for c in changes[:10])
    return shown + (f" and {len(changes) - 10} more" if len(changes) > 10 else "")


@dataclass(frozen=True)
class FeedbackOutcome:
    feedback: Feedback
    message_id: str
    reply_class: str | None  # the class of the automated reply the feedback is about, if there was one
    suspended: list[AuditEvent]
    realized: dict[str, RealizedPrecision]  # per reply class, after this feedback


def receive_feedback(
    session: Session,
    taxonomy: Taxonomy,
    settings: Settings,
    raw_id: object,
    final_labels: dict[str, str],
    auto_reply_resolved: bool | None,
    agent: str | None,
    prediction_id: int | None = None,
) -> FeedbackOutcome:
    """Store a closed case's outcome, then run the suspension monitor.

    Raises:
        InvalidRequest: the message ID is malformed.
        MessageNotFound: no message with this ID.
        FeedbackError: a final label is not in the taxonomy, or `prediction_id` is not the message's.
    """
    message = find_message(session, normalize_id(raw_id))
    feedback = record_feedback(
        session, taxonomy, message, final_labels, auto_reply_resolved, agent, prediction_id
    )
    commit(session)
    reply_class = None
    if feedback.decision_pk is not None:
        decision = session.get(RoutingDecision, feedback.decision_pk)
        if decision is not None and decision.decision == "auto_reply":
            reply_class = decision.reply_class
    realized = realized_precision(session, taxonomy, settings.feedback_window_days)
    suspended = run_monitor(session, taxonomy, settings, realized)
    return FeedbackOutcome(feedback, message.message_id, reply_class, suspended, realized)


def run_monitor(
    session: Session, taxonomy: Taxonomy, settings: Settings, realized: dict[str, RealizedPrecision]
) -> list[AuditEvent]:
    """Suspend auto-replies whose realized precision is below target with evidence (committed), and log it."""
    try:
        events = suspend_failing_classes(
            session,
            taxonomy,
            settings.target_precision,
            settings.feedback_alpha,
            settings.feedback_window_days,
            realized,
        )
        commit(session)
    except ThresholdError as exc:  # e.g. a concurrent request suspended the same class a moment earlier
        session.rollback()
        log.info("feedback monitor: nothing suspended (%s)", exc)
        return []
    for event in events:
        p = event.payload
        log.warning(
            "auto-reply suspended for %s: %d of %d automated replies right over %d days, below target "
            "%.2f (alpha %.2f); thresholds version %s",
            event.subject,
            p["correct"],
            p["auto_replies"],
            p["window_days"],
            p["target"],
            p["alpha"],
            p["thresholds_version"],
        )
    return events


def realized_series(realized: dict[str, RealizedPrecision]) -> dict[str, tuple[int, int]]:
    """`{class: (automated replies, right)}` for `Metrics.realized_changed`."""
    return {c: (s.auto_replies, s.correct) for c, s in realized.items()}


def export_realized(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, settings: Settings, metrics: Metrics
) -> None:
    """Set the realized-precision gauges from the store (at start); a store problem is logged, not raised."""
    try:
        with sessions() as session:
            realized = realized_precision(session, taxonomy, settings.feedback_window_days)
    except (SQLAlchemyError, PostroomError) as exc:
        log.warning("realized precision not exported at start: %s", type(exc).__name__)
        return
    metrics.realized_changed(taxonomy.routing.reply_set, realized_series(realized))


def held_out_accuracy(settings: Settings, version: str) -> dict[str, float]:
    """Per label set, a version's accuracy on its own held-out messages (its manifest); empty when the
    registry does not hold the version or cannot read it."""
    try:
        metrics = Registry(settings.registry_dir).get(version).manifest.get("metrics") or {}
    except PostroomError:
        return {}
    return {
        name: float(entry["accuracy"])
        for name, entry in metrics.items()
        if isinstance(entry, dict) and isinstance(entry.get("accuracy"), int | float)
    }


def outcomes_data(result: Outcomes, settings: Settings, served_model: str | None) -> dict[str, Any]:
    """The outcomes with each label set's held-out accuracy beside its realized one, and whether the
    realized one is below it with evidence (the interval's upper bound under it): the mail moved away from
    what the model was trained and tested on. `served_model`: the version serving (the API's loaded model;
    the CLI's, the one the configuration names: the registry's production version by default)."""
    data = {**result.to_dict(), "served_model": served_model}
    for model in data["models"]:
        held = held_out_accuracy(settings, model["model_version"])
        for entry in model["label_sets"]:
            expected = held.get(entry["label_set"])
            entry["held_out_accuracy"] = expected
            entry["below_held_out"] = bool(
                expected is not None and entry["interval"] and entry["interval"][1] < expected
            )
    return data


def configured_model(settings: Settings) -> str | None:
    """The version a service started with these settings serves: `POSTROOM_SERVE_MODEL`'s (the registry's
    production version by default); None when it names none there (nothing in production, a path)."""
    try:
        return resolve_source(settings.registry_dir, settings.serve_model).version
    except PostroomError:
        return None


def _guarantee_of(version: ThresholdVersion | None) -> str | None:
    """The guarantee the version's values were suggested under (carried over to manual changes of them)."""
    value = (version.details or {}).get("guarantee") if version is not None else None
    return value if isinstance(value, str) else None


def _version_brief(version: ThresholdVersion) -> dict[str, Any]:
    return {
        "version": version.id,
        "created_at": version.created_at,
        "created_by": version.created_by,
        "reason": version.reason,
        "model_version": version.model_version,
    }


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "subject": event.subject,
        "actor": event.actor,
        "payload": event.payload or {},
        "created_at": event.created_at,
    }


def _realized_dict(stats: RealizedPrecision | None, window_days: int) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "auto_replies": stats.auto_replies,
        "correct": stats.correct,
        "resolved": stats.resolved,
        "precision": stats.precision,
        "window_days": window_days,
    }


def _class_entry(
    set_name: str,
    class_def: ClassDef,
    value: float | None,
    part: dict[str, Any] | None,
    is_reply_set: bool,
    last: tuple[ThresholdVersion, dict[str, Any]] | None,
    events: list[AuditEvent],
    realized: dict[str, Any] | None,
) -> dict[str, Any]:
    suggested = None
    curve: list[dict[str, Any]] = []
    if part is not None and class_def.name in part.get("classes", {}):
        c = part["classes"][class_def.name]
        curve = list(c.get("curve", []))
        suggested = {key: c.get(key) for key in SUGGESTED_KEYS}
    suspension = None
    if value is None and last is not None:
        version, _ = last
        if is_suspension(version):
            subject = f"{set_name}.{class_def.name}"
            suspension = next(
                (
                    event_dict(e)
                    for e in events
                    if e.subject == subject and (e.payload or {}).get("thresholds_version") == version.id
                ),
                {
                    "id": None,
                    "kind": SUSPENSION_EVENT,
                    "subject": subject,
                    "actor": MONITOR_ACTOR,
                    "payload": {"thresholds_version": version.id},
                    "created_at": version.created_at,
                },
            )
    return {
        "name": class_def.name,
        "description": class_def.description,
        "threshold": value,
        "has_template": bool(class_def.auto_reply) if is_reply_set else None,
        "template_languages": sorted(class_def.auto_reply),
        "auto_reply_allowed": class_def.auto_reply_allowed,
        "suggested": suggested,
        "curve": curve,
        "realized": realized,
        "suspended": suspension is not None,
        "suspension": suspension,
        "last_change": None
        if last is None
        else {**_version_brief(last[0]), "old": last[1].get("old"), "new": last[1].get("new")},
    }


@dataclass(frozen=True)
class Overview:
    data: dict[str, Any]  # the shape of `serving.schemas.LeadOverviewPublic`
    realized: dict[str, RealizedPrecision]  # per reply class, for the metrics


def _queue_report(db: Session, queue_set: str, model_version: str | None) -> dict[str, Any] | None:
    """The queue set's part of the newest suggestion stored for `model_version` that was asked for a queue
    precision (`queue_precision`), else None: no queue precision target exists for these curves."""
    if model_version is None:
        return None
    for version in intact_history(db):
        report = (version.details or {}).get("report")
        if version.model_version == model_version and isinstance(report, dict):
            part = report.get(queue_set)
            if isinstance(part, dict) and isinstance(part.get("classes"), dict):
                return part
    return None


def _queue_promise(data: dict[str, Any], part: dict[str, Any] | None) -> None:
    """The queue set's target, confidence and suggestions as the queue precision asked for them: none when
    none was asked (the overview computes missing curves at the reply target, never asked of the queues)."""
    for label_set in data["label_sets"]:
        if label_set["role"] != "queue":
            continue
        label_set["target_precision"] = part.get("target_precision") if part else None
        label_set["confidence"] = part.get("confidence") if part else None
        label_set["guarantee"] = part.get("guarantee") if part else None
        for entry in label_set["classes"]:
            stored = part["classes"].get(entry["name"]) if part else None
            entry["suggested"] = (
                {key: stored.get(key) for key in SUGGESTED_KEYS} if isinstance(stored, dict) else None
            )


def lead_overview(
    session: Session,
    taxonomy: Taxonomy,
    settings: Settings,
    model_version: str | None,
    loaded_version: str | None,
) -> Overview:
    """Everything the lead's page shows.

    The curves come from the newest stored suggestion report of the model version (default: the served
    model while replies wait for its thresholds, else the active thresholds' model, else the served model,
    else the newest with calibration predictions), or are computed from its calibration predictions; `note`
    says why there are none.
    """
    version_id, values = active_values(session, taxonomy)  # DamagedThresholdVersion when it cannot be read
    versions = intact_history(session)
    models = calibration_models(session)
    active = versions[0] if versions else None
    paused = replies_paused(version_id, active.model_version if active is not None else None, loaded_version)
    chosen = (
        model_version
        or (loaded_version if paused else None)  # the served model's curves: what to calibrate and apply
        or (active.model_version if active is not None else None)
        or loaded_version
        or (models[0] if models else None)
    )
    reports, sources, note = curve_reports(
        session, taxonomy, versions, chosen, settings.target_precision, settings.confidence
    )
    last_change = last_changes(versions)
    reply_set = taxonomy.routing.reply_set
    # Replies the promise does not cover: compared with the curves of the model the values were set for
    # (while replies wait for another model's thresholds, none go out at all).
    judged = not paused and (active is None or active.model_version in (None, chosen))
    certifying = certifying_report(versions, chosen, reply_set, reports.get(reply_set))
    unbacked = unbacked_replies(values[reply_set], certifying) if judged else []
    events = list_events(session, SUSPENSION_EVENT, 200)
    realized = realized_precision(session, taxonomy, settings.feedback_window_days)
    label_sets = []
    for set_name, role in ((reply_set, "reply"), (taxonomy.routing.queue_set, "queue")):
        label_set = taxonomy.label_set(set_name)
        part = reports.get(set_name)
        label_sets.append(
            {
                "name": set_name,
                "description": label_set.description,
                "role": role,
                "target_precision": part.get("target_precision") if part else None,
                "confidence": part.get("confidence") if part else None,
                "guarantee": part.get("guarantee") if part else None,
                "calibration_size": part.get("calibration_size") if part else None,
                "score": part.get("score", "probability") if part else "probability",
                "classes": [
                    _class_entry(
                        set_name,
                        c,
                        values[set_name].get(c.name),
                        part,
                        set_name == reply_set,
                        last_change.get((set_name, c.name)),
                        events,
                        _realized_dict(realized.get(c.name), settings.feedback_window_days)
                        if set_name == reply_set
                        else None,
                    )
                    for c in label_set.classes
                ],
            }
        )
    unbacked_names = {u.class_name for u in unbacked}
    certified = certifying.get("classes", {}) if isinstance(certifying, dict) else {}
    for label_set in label_sets:
        if label_set["role"] != "reply":
            continue
        for entry in label_set["classes"]:
            stored = certified.get(entry["name"])
            entry["certified_threshold"] = stored.get("threshold") if isinstance(stored, dict) else None
            if entry["threshold"] is not None and judged:
                entry["backed"] = entry["name"] not in unbacked_names
    data = {
        "thresholds_version": version_id,
        "active": _version_brief(active) if active is not None else None,
        "model_version": chosen,
        "models": models,
        "loaded_model": loaded_version,
        "replies_paused": paused,
        "replies_resume": how_to_resume_replies(loaded_version) if paused and loaded_version else None,
        "curve_source": "; ".join(sources) or None,
        "note": note,
        "target_precision": promised(active, "target_precision", settings.target_precision),
        "confidence": promised(active, "confidence", settings.confidence),
        "guarantee": _guarantee_of(active),
        "unbacked_replies": [u.__dict__ for u in unbacked],
        "feedback_window_days": settings.feedback_window_days,
        "feedback_alpha": settings.feedback_alpha,
        "label_sets": label_sets,
        "suspensions": [event_dict(e) for e in events[:EVENTS_SHOWN]],
    }
    _queue_promise(data, _queue_report(session, taxonomy.routing.queue_set, data["model_version"]))
    return Overview(data, realized)
