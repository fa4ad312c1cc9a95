"""Reading the audit log (`audit_events`): who did what, when, to which subject (`postroom audit`,
`GET /v1/events`). Events name models, thresholds, classes, projects and message IDs, never message text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import AuditEvent


def list_events(
    session: Session,
    kind: str | None = None,
    limit: int = 50,
    since: datetime | None = None,
    kind_prefix: str | None = None,
) -> list[AuditEvent]:
    """Audit events, newest first: of one `kind`, or of the kinds starting with `kind_prefix` (`labeling.`),
    created at or after `since`; at most `limit`."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    if kind_prefix:
        query = query.where(AuditEvent.kind.startswith(kind_prefix, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    return list(session.scalars(query))


def event_kinds(session: Session) -> list[str]:
    """Every kind of event the log holds, sorted."""
    return sorted(session.scalars(select(AuditEvent.kind).distinct()))
