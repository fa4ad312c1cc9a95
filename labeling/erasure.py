"""Erasing client e-mails from Doccano (the copies `postroom label push` made for the experts) and from the
store's labeling records.

Where the copies are: every project the store's labeling records send a message to (`labeling.selected`,
`labeling.upload_queued`, `labeling.pushed`, with the project's id), and, whenever the store holds any
labeling record at all (Doccano is in use), the configured project, looked up by name in Doccano: a copy
whose record is missing (a push that Doccano interrupted, records lost) is found there too. In each project
every example whose `meta.message_id` is one of the messages is deleted with its labels and comments, one
example at a time (`DoccanoClient.delete_example`). A project that no longer exists holds nothing to erase.

The labeling records: the per-message kinds (`MESSAGE_RECORDS`, their subject is a message ID) go with the
message (`postroom.store.erasure.erase_messages` deletes them); the project-level kinds name a project or
an annotator, and of them only `labeling.pull_problems` names messages (the first IDs of each kind of
problem): `scrub_pull_problems` takes the erased IDs out. `labeling.pulled`, `labeling.project_gone` and
`labeling.annotator_dropped` hold counts only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labeling.doccano import DoccanoClient
from labeling.errors import DoccanoError
from labeling.sync import (
    EVENT_LABEL_CHANGED,
    EVENT_PULL_PROBLEMS,
    EVENT_PUSHED,
    EVENT_REMOVED,
    EVENT_SEEN,
    EVENT_SELECTED,
    EVENT_UPLOAD_QUEUED,
)
from postroom.store.erasure import ERASED_EVENT, sha256
from postroom.store.models import AuditEvent, Message
from postroom.store.queries import chunks

LABELING = "labeling."  # the prefix of every labeling record's kind
# In a `--skip-doccano` erasure's criteria: the projects not searched, and the IDs whose copies stay.
LEFT_IN_KEY = "doccano_left_in"
PENDING_KEY = "doccano_pending_sha256"
# Labeling records whose subject is a message ID: they go with the message.
MESSAGE_RECORDS = (
    EVENT_SELECTED,
    EVENT_PUSHED,
    EVENT_UPLOAD_QUEUED,
    EVENT_SEEN,
    EVENT_LABEL_CHANGED,
    EVENT_REMOVED,
)
COPY_RECORDS = (EVENT_SELECTED, EVENT_UPLOAD_QUEUED, EVENT_PUSHED)  # a message sent to a project (its id)


@dataclass(frozen=True)
class RecordedProject:
    """A Doccano project the records send some of the messages to."""

    project_id: int
    name: str
    message_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class DoccanoErasure:
    """What was deleted in one Doccano project."""

    project_id: int
    project: str
    examples: int  # deleted
    messages: int  # distinct messages they held
    exists: bool = True


class DoccanoErasureFailed(DoccanoError):
    """Doccano failed during an erasure, after `deleted` examples were deleted."""

    def __init__(self, cause: DoccanoError, deleted: int) -> None:
        super().__init__(str(cause))
        self.deleted = deleted


def _project_id(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("project_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def in_labeling(cutoff: datetime) -> dict[str, datetime | None]:
    """The records that make retention keep a message as being labeled (kind -> from when they count): sent
    to Doccano since the cut-off (a labeling round in progress), or labeled there by experts at any time (a
    pull saw their annotations, accepted or not: conflicting and incomplete ones wait for an expert)."""
    return {EVENT_SELECTED: cutoff, EVENT_PUSHED: cutoff, EVENT_SEEN: None}


def recorded_projects(session: Session, message_ids: Collection[str]) -> dict[int, RecordedProject]:
    """Doccano project id -> the project and which of `message_ids` the records send to it."""
    ids = sorted(set(message_ids))
    names: dict[int, str] = {}
    sent: dict[int, set[str]] = defaultdict(set)
    for chunk in chunks(ids):
        query = select(AuditEvent.subject, AuditEvent.payload).where(
            AuditEvent.kind.in_(COPY_RECORDS), AuditEvent.subject.in_(chunk)
        )
        for subject, payload in session.execute(query):
            project_id = _project_id(payload or {})
            if project_id is not None and subject is not None:
                names[project_id] = str((payload or {}).get("project") or f"project {project_id}")
                sent[project_id].add(subject)
    return {i: RecordedProject(i, names[i], frozenset(sent[i])) for i in sorted(names)}


def doccano_in_use(session: Session) -> bool:
    """Whether the store holds any labeling record (of any kind), or an erasure left Doccano unsearched
    (`--skip-doccano`: its records may have been the last ones)."""
    query = select(AuditEvent.id).where(AuditEvent.kind.startswith(LABELING, autoescape=True)).limit(1)
    return session.scalar(query) is not None or any(c.get(LEFT_IN_KEY) for c in _erasure_criteria(session))


def with_configured(
    client: DoccanoClient, name: str, projects: Mapping[int, RecordedProject]
) -> dict[int, RecordedProject]:
    """`projects` and the project called `name` in Doccano, if there is one (no record sends a message to
    it when it is not among them).

    Raises:
        DoccanoError: Doccano cannot be reached or refuses the user.
    """
    found = client.find_project(name)
    if found is None or found.id in projects:
        return dict(projects)
    return {**projects, found.id: RecordedProject(found.id, found.name)}


def erase_from_doccano(
    client: DoccanoClient, projects: Mapping[int, RecordedProject], message_ids: Collection[str]
) -> list[DoccanoErasure]:
    """Delete every example of `message_ids` in `projects` (id -> project).

    Raises:
        DoccanoErasureFailed: Doccano cannot be reached, refuses the user, or fails a deletion; it says how
            many examples were deleted before (running the erasure again finishes it).
    """
    wanted = set(message_ids)
    done = []
    deleted = 0
    try:
        for project_id, project in sorted(projects.items()):
            if not client.project_exists(project_id):
                done.append(DoccanoErasure(project_id, project.name, 0, 0, exists=False))
                continue
            examples = [
                (e.id, str(e.meta.get("message_id") or ""))
                for e in client.examples(project_id)
                if str(e.meta.get("message_id") or "") in wanted
            ]
            here = 0
            for example_id, _ in examples:
                if client.delete_example(project_id, example_id):
                    here += 1
                    deleted += 1
            done.append(DoccanoErasure(project_id, project.name, here, len({m for _, m in examples})))
    except DoccanoError as exc:
        raise DoccanoErasureFailed(exc, deleted) from exc
    return done


def _scrubbed(problems: Mapping[str, Any], erased: Collection[str]) -> dict[str, Any]:
    """`problems` (kind -> {"count", "message_ids"}) without `erased`; a kind left with none goes."""
    kept: dict[str, Any] = {}
    for kind, item in problems.items():
        listed = [str(m) for m in (item or {}).get("message_ids") or []]
        left = [m for m in listed if m not in erased]
        count = max(int((item or {}).get("count") or 0) - (len(listed) - len(left)), 0)
        if count or left:
            kept[kind] = {**item, "count": max(count, len(left)), "message_ids": left}
    return kept


def scrub_pull_problems(session: Session, message_ids: Collection[str]) -> int:
    """Take `message_ids` out of the recorded pull problems (their lists of message IDs, and their counts);
    not committed. Returns how many records changed."""
    erased = set(message_ids)
    changed = 0
    for event in session.scalars(select(AuditEvent).where(AuditEvent.kind == EVENT_PULL_PROBLEMS)):
        payload = dict(event.payload or {})
        problems = payload.get("problems") or {}
        scrubbed = _scrubbed(problems, erased)
        if scrubbed != problems:
            event.payload = {**payload, "problems": scrubbed}  # a new dict: the JSON column sees the change
            changed += 1
    session.flush()
    return changed


def _erasure_criteria(session: Session) -> Iterator[dict[str, Any]]:
    """The criteria of every recorded erasure (`messages.erased`) that has them."""
    for payload in session.scalars(select(AuditEvent.payload).where(AuditEvent.kind == ERASED_EVENT)):
        criteria = payload.get("criteria") if isinstance(payload, dict) else None
        if isinstance(criteria, dict):
            yield criteria


def pending_hashes(session: Session) -> set[str]:
    """SHA-256 of the message IDs whose Doccano copies `--skip-doccano` erasures left."""
    found: set[str] = set()
    for criteria in _erasure_criteria(session):
        hashes = criteria.get(PENDING_KEY)
        if isinstance(hashes, list):
            found.update(h for h in hashes if isinstance(h, str))
    return found


def leftover_message_ids(session: Session) -> list[str]:
    """Message IDs a `--skip-doccano` erasure left in Doccano: named by per-message labeling records, no
    longer in the store, and recorded as pending by that erasure (by hash). A copy of a message this store
    never held (another environment's, one not ingested yet) is never a leftover: an expert's work on it
    is not erased by mistake."""
    query = (
        select(AuditEvent.subject)
        .where(
            AuditEvent.kind.in_(MESSAGE_RECORDS),
            AuditEvent.subject.is_not(None),
            AuditEvent.subject.not_in(select(Message.message_id)),
        )
        .distinct()
    )
    pending = pending_hashes(session)
    return sorted(s for s in session.scalars(query) if s and sha256(s) in pending)
