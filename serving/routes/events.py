"""`GET /v1/events` (lead keys): the audit log, e.g. automatic suspensions of auto-replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from postroom.store.audit import list_events as audit_events
from serving.deps import DbSession, LeadKey
from serving.schemas import AuditEventPublic, ErrorPublic, EventsPublic

router = APIRouter(prefix="/v1/events", tags=["thresholds"])


@router.get("", responses={code: {"model": ErrorPublic} for code in (401, 403, 422)})
def list_events(
    db: DbSession,
    _key: LeadKey,
    kind: Annotated[
        str | None, Query(min_length=1, max_length=64, description="e.g. auto_reply_suspended")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EventsPublic:
    """Audit events, newest first: who did what to which subject, with the numbers (never message content)."""
    return EventsPublic(events=[AuditEventPublic.of(e) for e in audit_events(db, kind, limit)])
