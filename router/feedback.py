"""The feedback loop: outcomes of closed cases, realized precision per class, and automatic suspension.

The CRM reports, when a case closes, the final class per label set and whether the automated reply resolved
it. The final classes become labels with source `feedback` (the previous label stays in history), so the next
training run learns from them. For every reply class, the realized precision of automated replies over a
rolling window is the share whose final class equals the replied class. When it is below the target with
enough evidence (one-sided exact binomial test), the class's auto-reply is switched off in a new threshold
version, and an audit event says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.labels import current_labels, lock_messages
from postroom.store.models import (
    AuditEvent,
    Feedback,
    Label,
    Message,
    RoutingDecision,
    utcnow,
)
from postroom.taxonomy import Taxonomy, TaxonomyError
from router.bounds import excess_error_evidence
from router.errors import ThresholdError
from router.thresholds import (
    active_values,
    active_version,
    promised,
    set_thresholds,
    stored_values,
    values_damage,
)

MONITOR_ACTOR = "postroom-feedback-monitor"
SUSPENSION_EVENT = "auto_reply_suspended"


class FeedbackError(ThresholdError):
    """Feedback that cannot be recorded (unknown label, unknown message)."""


@dataclass(frozen=True)
class RealizedPrecision:
    class_name: str
    auto_replies: int  # automated replies in the window with feedback
    correct: int  # whose final class equals the replied class
    resolved: int  # whose automated reply resolved the case
    counted_since: int | None = None  # thresholds version that last switched it on; earlier replies skipped

    @property
    def precision(self) -> float | None:
        return self.correct / self.auto_replies if self.auto_replies else None


def record_feedback(
    session: Session,
    taxonomy: Taxonomy,
    message: Message,
    final_labels: dict[str, str],
    auto_reply_resolved: bool | None,
    agent: str | None,
    prediction_id: int | None = None,
) -> Feedback:
    """Store the outcome of a closed case and its final labels (not committed).

    The feedback judges the decision of `prediction_id` (the `/v1/classify` answer the case was handled on),
    else the message's latest decision: a message classified again after its automated reply would
    otherwise have the reply's outcome judged against the later decision.

    Raises:
        FeedbackError: a final label is not in the taxonomy, `prediction_id` is not a classification of
            this message, or `auto_reply_resolved` is given for a decision that sent no automated reply.
    """
    for set_name, class_name in final_labels.items():
        try:
            taxonomy.validate_label(set_name, class_name)
        except TaxonomyError as exc:
            raise FeedbackError(str(exc)) from None
    chosen = select(RoutingDecision).where(RoutingDecision.message_pk == message.id)
    if prediction_id is not None:
        chosen = chosen.where(RoutingDecision.prediction_pk == prediction_id)
    decision = session.scalar(chosen.order_by(RoutingDecision.id.desc()).limit(1))
    if prediction_id is not None and decision is None:
        raise FeedbackError(
            f"prediction {prediction_id} is not a classification of message {message.message_id!r} "
            "(use the prediction_id of its /v1/classify answer, or leave it out for the latest)"
        )
    if auto_reply_resolved is not None and (decision is None or decision.decision != "auto_reply"):
        what = (
            "was never classified"
            if decision is None
            else "went to a human" + (f" ({decision.queue})" if decision.queue else "")
        )
        replied = session.scalar(  # classified again after an automated reply: that answer is the one
            select(RoutingDecision.prediction_pk)
            .where(RoutingDecision.message_pk == message.id, RoutingDecision.decision == "auto_reply")
            .order_by(RoutingDecision.id.desc())
            .limit(1)
        )
        advice = (
            f"give the prediction_id of the automated reply's /v1/classify answer ({replied})"
            if replied is not None and prediction_id is None
            else "send null"
        )
        raise FeedbackError(
            f"auto_reply_resolved says whether an automated reply resolved the case, but message "
            f"{message.message_id!r} {what}: {advice}"
        )
    lock_messages(session, [message.id])  # a retried report of the same case waits for this one
    feedback = Feedback(
        message_pk=message.id,
        decision_pk=decision.id if decision else None,
        final_labels=dict(final_labels),
        auto_reply_resolved=auto_reply_resolved,
        agent=agent,
    )
    session.add(feedback)
    current = current_labels(session, message.id)
    for set_name, class_name in final_labels.items():
        existing = current.get(set_name)
        if existing is not None and existing.class_name == class_name:
            continue
        if existing is not None:
            existing.is_current = False
        session.add(
            Label(
                message=message, label_set=set_name, class_name=class_name, source="feedback", annotator=agent
            )
        )
    session.flush()
    return feedback


def switched_on_at(session: Session, reply_set: str) -> dict[str, int]:
    """Per reply class: the thresholds version that last switched its automated replies on (off -> on)."""
    since: dict[str, int] = {}
    previous: dict[str, float | None] = {}
    for version_id, values in stored_values(session):
        if values_damage(values) is not None:  # a version that cannot be read switched nothing on or off
            continue
        for class_name, value in (values.get(reply_set) or {}).items():
            if value is not None and previous.get(class_name) is None:
                since[class_name] = version_id
            previous[class_name] = value
    return since


def realized_precision(
    session: Session, taxonomy: Taxonomy, window_days: int = 30, now: datetime | None = None
) -> dict[str, RealizedPrecision]:
    """Per reply class: automated replies with feedback in the window, and how many were right.

    Only replies made since the class's automated replies were last switched on count: those that led to a
    suspension do not judge the class again once a lead turns it back on. Each automated reply counts once,
    with its latest feedback that gives the reply set's class: a CRM that reports a case twice (a retry, or
    a correction) neither adds a reply nor keeps the outcome it corrected, and a later report of other label
    sets only keeps it.
    """
    reply_set = taxonomy.routing.reply_set
    since = (now or utcnow()) - timedelta(days=window_days)
    switched_on = switched_on_at(session, reply_set)
    rows = session.execute(
        select(
            RoutingDecision.id,
            RoutingDecision.reply_class,
            RoutingDecision.thresholds_version,
            Feedback.final_labels,
            Feedback.auto_reply_resolved,
        )
        .join(Feedback, Feedback.decision_pk == RoutingDecision.id)
        .where(RoutingDecision.decision == "auto_reply", Feedback.created_at >= since)
        .order_by(Feedback.id)
    ).all()
    latest: dict[int, tuple[str, bool, bool]] = {}  # later feedback replaces earlier
    for decision_id, reply_class, version, final_labels, resolved in rows:
        if reply_class is None or reply_set not in final_labels:
            continue
        start = switched_on.get(reply_class)
        if start is not None and (version is None or version < start):
            continue  # made before the class was last switched on
        latest[decision_id] = (reply_class, final_labels[reply_set] == reply_class, bool(resolved))
    counts: dict[str, list[int]] = {}
    for reply_class, right, resolved in latest.values():
        entry = counts.setdefault(reply_class, [0, 0, 0])
        entry[0] += 1
        entry[1] += right
        entry[2] += resolved
    return {c: RealizedPrecision(c, *v, switched_on.get(c)) for c, v in sorted(counts.items())}


def _counted_since(stats: RealizedPrecision) -> str:
    """` (replies since thresholds version N switched it on)` for the suspension reason; nothing without N."""
    if stats.counted_since is None:
        return ""
    return f" (replies since thresholds version {stats.counted_since} switched it on)"


def below_target(stats: RealizedPrecision, target: float, alpha: float) -> bool:
    """True when `correct` of `auto_replies` are evidence that precision is below `target`: the likelihood
    ratio of a higher error rate (`router.bounds.excess_error_evidence`) reaches 1/alpha.

    The monitor asks after every feedback. A fixed-sample test (p < alpha) asked that often switched off a
    class exactly at its target in 20-27 % of simulated windows (`python -m benchmarks.monitor`); this one
    does so with probability at most alpha over all the replies counted since the class was switched on
    (Ville's inequality), at the cost of needing more wrong replies: at target 0.95 and alpha 0.05, 2 wrong
    of 2, 5 of 15, 8 of 40.
    """
    if not stats.auto_replies:
        return False
    errors = stats.auto_replies - stats.correct
    return excess_error_evidence(errors, stats.auto_replies, 1.0 - target) >= 1.0 / alpha


def suspend_failing_classes(
    session: Session,
    taxonomy: Taxonomy,
    default_target: float,
    alpha: float = 0.05,
    window_days: int = 30,
    realized: dict[str, RealizedPrecision] | None = None,
) -> list[AuditEvent]:
    """Switch off auto-replies of classes whose realized precision is below target, with evidence.

    Not committed.

    The target is the one the active thresholds were suggested with (`details.target_precision`), else
    `default_target`. `realized` is `realized_precision(session, taxonomy, window_days)` where the caller
    has it already (a suspension does not change it), else it is computed here.
    """
    version = active_version(session)
    target = promised(version, "target_precision", default_target)
    _, values = active_values(session, taxonomy)
    reply_set = taxonomy.routing.reply_set
    events = []
    failing = {}
    if realized is None:
        realized = realized_precision(session, taxonomy, window_days)
    for class_name, stats in realized.items():
        if values[reply_set].get(class_name) is None or not below_target(stats, target, alpha):
            continue
        failing[class_name] = stats
    if not failing:
        return []
    reason = "; ".join(
        f"{c}: {s.correct}/{s.auto_replies} automated replies right ({s.precision:.1%}) "
        f"over {window_days} days{_counted_since(s)}, "
        f"below target {target:.0%} (sequential test, alpha {alpha})"
        for c, s in failing.items()
    )
    new_version = set_thresholds(
        session,
        taxonomy,
        {reply_set: dict.fromkeys(failing)},
        MONITOR_ACTOR,
        f"suspended automatically: {reason}",
        details={"suspension": True},
    )
    for class_name, stats in failing.items():
        event = AuditEvent(
            kind=SUSPENSION_EVENT,
            subject=f"{reply_set}.{class_name}",
            actor=MONITOR_ACTOR,
            payload={
                "auto_replies": stats.auto_replies,
                "correct": stats.correct,
                "target": target,
                "alpha": alpha,
                "window_days": window_days,
                "counted_since_version": stats.counted_since,
                "thresholds_version": new_version.id,
            },
        )
        session.add(event)
        events.append(event)
    session.flush()
    return events
