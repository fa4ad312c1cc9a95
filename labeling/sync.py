"""Push messages to Doccano and pull the experts' labels back into the store.

Push is idempotent: a message already in the project is not sent again. The intent is recorded first
(`labeling.selected` audit events), so a push that Doccano interrupts is finished by the next push; every
example found in Doccano is recorded as `labeling.pushed`.

Pull is all-or-nothing: it reads the whole export first, validates it, then writes in one transaction.
Doccano going down mid-pull leaves the store as it was, and the next pull does the whole job. Labels are
stored with `source="doccano"`, the annotator(s) and the time of the pull (Doccano's export has no label
times). Re-pulling changes nothing; a changed label marks the old row `is_current=False` and adds a new one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from labeling.doccano import DoccanoClient
from labeling.errors import UploadFailed
from labeling.project import ProjectLayout, ensure_project, open_project
from labeling.validate import Accepted, Problem, validate_export
from postroom.store.models import NAME_MAX, AuditEvent, Label, Message, utcnow
from postroom.taxonomy import Taxonomy

LABEL_SOURCE = "doccano"
EVENT_SELECTED = "labeling.selected"
EVENT_PUSHED = "labeling.pushed"
EVENT_LABEL_CHANGED = "labeling.label_changed"
EVENT_PULLED = "labeling.pulled"
ORIGIN_SELECTION = "selection"
ORIGIN_CORRECTION = "agent_correction"
TRUNCATION_NOTE = "\n\n[… truncated by Postroom]"
CHUNK = 500


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def doccano_row(
    message: Message, max_chars: int, origin: str = ORIGIN_SELECTION, suggestion: str = ""
) -> dict[str, Any]:
    """One import row. Every row has the same keys (Doccano needs that); metadata values are strings."""
    text = message.model_text
    if len(text) > max_chars:
        text = text[: max_chars - len(TRUNCATION_NOTE)] + TRUNCATION_NOTE
    return {
        "text": text,
        "label": [],  # labels come from the experts only; an absent column is reported as an import error
        "message_id": message.message_id,
        "language": message.language or "",
        "subject": message.subject or "",
        "origin": origin,
        "suggestion": suggestion,
    }


def project_events(session: Session, kind: str, project: str) -> dict[str, AuditEvent]:
    """message_id -> newest event of `kind` for `project`."""
    found: dict[str, AuditEvent] = {}
    for event in session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)):
        if event.subject and (event.payload or {}).get("project") == project:
            found[event.subject] = event
    return found


def pushed_message_ids(session: Session, project: str) -> set[str]:
    """Messages recorded as in the Doccano project."""
    return set(project_events(session, EVENT_PUSHED, project))


def pending_push(session: Session, project: str) -> list[str]:
    """Messages selected for the project whose push has not been confirmed (an interrupted push)."""
    pushed = project_events(session, EVENT_PUSHED, project)
    return [m for m in project_events(session, EVENT_SELECTED, project) if m not in pushed]


def not_stored(session: Session, message_ids: Sequence[str]) -> list[str]:
    """The IDs of `message_ids` no stored message has, in order, each once."""
    requested = list(dict.fromkeys(message_ids))
    stored: set[str] = set()
    for batch in _chunks(requested):
        stored |= set(session.scalars(select(Message.message_id).where(Message.message_id.in_(batch))))
    return [m for m in requested if m not in stored]


@dataclass
class PushReport:
    project: str
    project_id: int
    pushed: list[str] = field(default_factory=list)
    already_in_doccano: list[str] = field(default_factory=list)
    not_in_store: list[str] = field(default_factory=list)
    reconciled: int = 0  # examples found in Doccano without a push record (an interrupted push), recorded


def push_messages(
    sessions: sessionmaker[Session],
    client: DoccanoClient,
    taxonomy: Taxonomy,
    project_name: str,
    message_ids: Sequence[str],
    *,
    max_chars: int = 20_000,
    origin: str = ORIGIN_SELECTION,
    suggestions: Mapping[str, str] | None = None,
    batch_size: int = 200,
) -> PushReport:
    """Send messages to the project (created and brought in line with the taxonomy first).

    Raises:
        DoccanoUnavailable, DoccanoTimeout, UploadFailed: what was confirmed before stays recorded;
            pushing again sends the rest.
    """
    layout = ensure_project(client, taxonomy, project_name)
    report = PushReport(project_name, layout.id)
    requested = list(dict.fromkeys(message_ids))
    with sessions.begin() as session:
        report.not_in_store = not_stored(session, requested)
        missing = set(report.not_in_store)
        wanted = [m for m in requested if m not in missing]
        selected = project_events(session, EVENT_SELECTED, project_name)
        for message_id in wanted:
            if message_id not in selected:
                session.add(_event(EVENT_SELECTED, message_id, client.username, layout, origin=origin))
    in_doccano = _example_ids(client, layout)
    report.reconciled = _record_pushed(sessions, client, layout, in_doccano)
    to_send = [m for m in wanted if m not in in_doccano]
    report.already_in_doccano = [m for m in wanted if m in in_doccano]
    for batch in _chunks(to_send, batch_size):
        with sessions() as session:
            messages = {
                m.message_id: m for m in session.scalars(select(Message).where(Message.message_id.in_(batch)))
            }
            rows = [
                doccano_row(messages[m], max_chars, origin, (suggestions or {}).get(m, "")) for m in batch
            ]
        client.upload_examples(layout.id, rows, name=f"postroom-{len(rows)}")
        in_doccano = _example_ids(client, layout)
        missing = [r["message_id"] for r in rows if r["message_id"] not in in_doccano]
        if missing:
            raise UploadFailed(
                f"Doccano accepted the upload but {len(missing)} of {len(rows)} examples are not in project "
                f"{project_name!r} (first: {missing[0]}); push again to retry"
            )
        _record_pushed(sessions, client, layout, in_doccano)
        report.pushed += [r["message_id"] for r in rows]
    return report


def _example_ids(client: DoccanoClient, layout: ProjectLayout) -> dict[str, int]:
    """message_id -> Doccano example id, for every example of the project with a message ID."""
    found: dict[str, int] = {}
    for example in client.examples(layout.id):
        message_id = str(example.meta.get("message_id") or "")
        if message_id:
            found.setdefault(message_id, example.id)
    return found


def _event(kind: str, message_id: str, actor: str, layout: ProjectLayout, **payload: Any) -> AuditEvent:
    return AuditEvent(
        kind=kind,
        subject=message_id,
        actor=actor[:NAME_MAX],
        payload={"project": layout.project.name, "project_id": layout.id, **payload},
    )


def _record_pushed(
    sessions: sessionmaker[Session],
    client: DoccanoClient,
    layout: ProjectLayout,
    in_doccano: Mapping[str, int],
) -> int:
    with sessions.begin() as session:
        known = project_events(session, EVENT_PUSHED, layout.project.name)
        stored = set()
        fresh = [m for m in in_doccano if m not in known]
        for batch in _chunks(fresh):
            stored |= set(session.scalars(select(Message.message_id).where(Message.message_id.in_(batch))))
        for message_id in fresh:
            if message_id in stored:
                session.add(
                    _event(
                        EVENT_PUSHED, message_id, client.username, layout, example_id=in_doccano[message_id]
                    )
                )
        return len([m for m in fresh if m in stored])


# -- pull -------------------------------------------------------------------------------------------


@dataclass
class PullReport:
    project: str
    examples: int = 0
    pending: int = 0  # examples nobody has labeled yet
    accepted: int = 0  # examples whose labels passed validation
    added: int = 0  # labels for a set the message had none in
    changed: int = 0  # labels that replaced a different class (history kept)
    confirmed: int = 0  # expert agreed with a label from another source; now recorded as doccano's
    unchanged: int = 0
    kept_newer: int = 0  # a newer label (feedback, api) replaced the expert's; not reverted
    problems: list[Problem] = field(default_factory=list)
    not_in_store: list[str] = field(default_factory=list)


def pull_labels(
    sessions: sessionmaker[Session],
    client: DoccanoClient,
    taxonomy: Taxonomy,
    project_name: str,
    *,
    now: Callable[[], datetime] = utcnow,
) -> PullReport:
    """Read every expert label of the project, validate, and store the valid ones in one transaction.

    Raises:
        ProjectNotFound: nothing was pushed yet.
        DoccanoUnavailable, DoccanoTimeout: nothing was written; pull again once Doccano is back.
    """
    layout = open_project(client, taxonomy, project_name)
    export = client.export_annotations(layout.id)  # everything is read before anything is written
    done = client.export_annotations(layout.id, confirmed_only=True)
    confirmed = {user: {int(row["id"]) for row in rows if "id" in row} for user, rows in done.items()}
    validation = validate_export(taxonomy, export, confirmed)
    report = PullReport(
        project_name,
        examples=validation.examples,
        pending=validation.pending,
        accepted=len(validation.accepted),
        problems=validation.problems,
    )
    with sessions.begin() as session:
        apply_labels(session, validation.accepted, report, actor=client.username, when=now())
        if report.added or report.changed or report.confirmed:
            session.add(
                AuditEvent(
                    kind=EVENT_PULLED,
                    subject=project_name,
                    actor=client.username[:NAME_MAX],
                    payload={
                        "project": project_name,
                        "added": report.added,
                        "changed": report.changed,
                        "confirmed": report.confirmed,
                        "problems": len(report.problems),
                    },
                )
            )
    return report


def apply_labels(
    session: Session, accepted: Sequence[Accepted], report: PullReport, *, actor: str, when: datetime
) -> None:
    """Write validated labels (no commit). Idempotent; a changed label keeps the old row as history."""
    by_id = {a.message_id: a for a in accepted}
    messages: dict[str, Message] = {}
    for batch in _chunks(list(by_id)):
        messages.update(
            (m.message_id, m) for m in session.scalars(select(Message).where(Message.message_id.in_(batch)))
        )
    report.not_in_store = sorted(set(by_id) - set(messages))
    history: dict[int, list[Label]] = defaultdict(list)
    pks = [m.id for m in messages.values()]
    for start in range(0, len(pks), CHUNK):
        for label in session.scalars(
            select(Label).where(Label.message_pk.in_(pks[start : start + CHUNK])).order_by(Label.id)
        ):
            history[label.message_pk].append(label)
    for message_id, message in messages.items():
        result = by_id[message_id]
        annotator = ",".join(result.annotators)[:NAME_MAX]
        for set_name, class_name in result.labels.items():
            rows = [label for label in history[message.id] if label.label_set == set_name]
            current = next((label for label in reversed(rows) if label.is_current), None)
            if current is not None and current.class_name == class_name and current.source == LABEL_SOURCE:
                report.unchanged += 1
                continue
            last_expert = next((label for label in reversed(rows) if label.source == LABEL_SOURCE), None)
            if (
                current is not None
                and last_expert is not None
                and last_expert.class_name == class_name
                and current.id > last_expert.id
            ):
                report.kept_newer += 1  # the expert's label was pulled before and replaced since
                continue
            if current is None:
                report.added += 1
            elif current.class_name == class_name:
                report.confirmed += 1
            else:
                report.changed += 1
                session.add(
                    AuditEvent(
                        kind=EVENT_LABEL_CHANGED,
                        subject=message_id,
                        actor=actor[:NAME_MAX],
                        payload={
                            "label_set": set_name,
                            "old": current.class_name,
                            "old_source": current.source,
                            "new": class_name,
                            "annotators": list(result.annotators),
                        },
                    )
                )
            if current is not None:
                current.is_current = False
            session.add(
                Label(
                    message_pk=message.id,
                    label_set=set_name,
                    class_name=class_name,
                    source=LABEL_SOURCE,
                    annotator=annotator,
                    created_at=when,
                    is_current=True,
                )
            )
