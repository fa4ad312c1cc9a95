"""`POST /v1/feedback` (router keys): the outcome of a closed case; may suspend a failing auto-reply."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import AppServices, DbSession, JsonOnly, RouterKey
from serving.lead import service
from serving.schemas import AuditEventPublic, ErrorPublic, FeedbackCreate, FeedbackStored, RealizedPublic

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post(
    "",
    status_code=201,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 415, 422, 503)},
    dependencies=[JsonOnly],
)
def create_feedback(
    body: FeedbackCreate, services: AppServices, db: DbSession, key: RouterKey
) -> FeedbackStored:
    """Store the final class per label set and whether the automated reply resolved the case; the final
    classes become labels (source `feedback`). Then the monitor checks every auto-reply class's realized
    precision over the rolling window and switches off those below target with evidence (`suspended`)."""
    outcome = service.receive_feedback(
        db,
        services.taxonomy,
        services.settings,
        body.message_id,
        body.final_labels,
        body.auto_reply_resolved,
        body.agent or key.name,
        body.prediction_id,
    )
    metrics = services.metrics
    metrics.feedback.inc()
    reply_set = services.taxonomy.routing.reply_set
    metrics.realized_changed(reply_set, service.realized_series(outcome.realized))
    for event in outcome.suspended:
        metrics.suspensions.labels(*(event.subject or ".").split(".", 1)).inc()
    stats = outcome.realized.get(outcome.reply_class) if outcome.reply_class else None
    return FeedbackStored(
        feedback_id=outcome.feedback.id,
        message_id=outcome.message_id,
        reply_class=outcome.reply_class,
        realized=None
        if stats is None
        else RealizedPublic(
            auto_replies=stats.auto_replies,
            correct=stats.correct,
            resolved=stats.resolved,
            precision=stats.precision,
            window_days=services.settings.feedback_window_days,
        ),
        suspended=[AuditEventPublic.of(e) for e in outcome.suspended],
    )
