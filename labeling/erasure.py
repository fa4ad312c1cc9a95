"""Erasing client e-mails from Doccano: the copies `postroom label push` made for the experts.

The store's labeling records say which Doccano projects a message was sent to (`labeling.upload_queued`,
`labeling.pushed`, with the project's id); the configured project is looked at too, in case a record is
missing. In each, every example whose `meta.message_id` is one of the messages is deleted with its labels
and comments, one example at a time (`DoccanoClient.delete_example`). A project that no longer exists holds
nothing to erase.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labeling.doccano import DoccanoClient
from labeling.sync import EVENT_PUSHED, EVENT_UPLOAD_QUEUED
from postroom.store.models import AuditEvent

CHUNK = 500


@dataclass(frozen=True)
class DoccanoErasure:
    """What was deleted in one Doccano project."""

    project_id: int
    project: str
    examples: int  # deleted
    messages: int  # distinct messages they held
    exists: bool = True


def recorded_projects(session: Session, message_ids: Collection[str]) -> dict[int, str]:
    """Doccano project id -> name, of every project the store records one of `message_ids` as sent to."""
    ids = sorted(set(message_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(AuditEvent.payload).where(
            AuditEvent.kind.in_([EVENT_UPLOAD_QUEUED, EVENT_PUSHED]),
            AuditEvent.subject.in_(ids[start : start + CHUNK]),
        )
        for payload in session.scalars(query):
            project_id = (payload or {}).get("project_id")
            if isinstance(project_id, int) and not isinstance(project_id, bool):
                found[project_id] = str((payload or {}).get("project") or f"project {project_id}")
    return found


def erase_from_doccano(
    client: DoccanoClient, projects: Mapping[int, str], message_ids: Collection[str]
) -> list[DoccanoErasure]:
    """Delete every example of `message_ids` in `projects` (id -> name).

    Raises:
        DoccanoError: Doccano cannot be reached, refuses the user, or fails a deletion (those before it are
            gone; running the erasure again finishes it).
    """
    wanted = set(message_ids)
    done = []
    for project_id, name in sorted(projects.items()):
        if not client.project_exists(project_id):
            done.append(DoccanoErasure(project_id, name, 0, 0, exists=False))
            continue
        examples = [
            (e.id, str(e.meta.get("message_id") or ""))
            for e in client.examples(project_id)
            if str(e.meta.get("message_id") or "") in wanted
        ]
        deleted = sum(client.delete_example(project_id, example_id) for example_id, _ in examples)
        done.append(DoccanoErasure(project_id, name, deleted, len({m for _, m in examples})))
    return done
