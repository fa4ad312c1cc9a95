"""Push messages to Doccano and pull the experts' labels back into the store.

Push is idempotent: a message already in the project is not sent again. The intent is recorded first
(`labeling.selected` audit events), so a push that Doccano interrupts is finished by the next push; every
queued import as `labeling.upload_queued` (with its task id), so a retry never queues the same messages
twice while the task worker is down; every example found in Doccano is recorded as `labeling.pushed`.

An example's text is `Subject: …`, a blank line, then the cleaned body; examples are matched to messages by
their `message_id` metadata only, never by text.

Records name the project, its Doccano id and its creation time. When Doccano no longer has that id under the
name (the project was deleted, or replaced by a new one), `labeling.project_gone` is recorded: the old
project's records stop counting, so its never-labeled messages are selectable again; labels already pulled
stay. A project with the recorded name and id but another creation time (Doccano's data wiped, and a new
project got the old id) is refused (`ProjectReplaced`) until the user accepts it.

Pull is all-or-nothing: it reads the whole export first, validates it, then writes in one transaction.
Doccano going down mid-pull leaves the store as it was, and the next pull does the whole job. Labels are
stored with `source="doccano"`, the annotator(s) and the time of the pull (Doccano's export has no label
times). Re-pulling changes nothing; a changed label marks the old row `is_current=False` and adds a new one.
The pull's problems (per kind: a count and the first message IDs) are recorded for `label status` when they
differ from the last recorded ones, and written into Doccano as comments on their examples
(`labeling.comments`).

Pull also records what it saw of each message (`labeling.seen`): an annotator removed from the project drops
out of Doccano's export, so their last-seen labels keep counting (and are named) until the team lead adds
them back or drops them; and a message in two projects whose experts disagree is a conflict in both pulls,
not labels that flip with every pull. Push does not send a message that is in another project unless asked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from labeling.comments import CommentReport, problem_comments, sync_comments
from labeling.doccano import DoccanoClient, Project
from labeling.errors import (
    DoccanoError,
    DoccanoTimeout,
    DoccanoUnavailable,
    LabelingError,
    ProjectNotFound,
    ProjectReplaced,
    UploadFailed,
    UploadPending,
)
from labeling.project import KeyDrift, ProjectLayout, ensure_project, open_project
from labeling.seen import Seen, observe, remember_missing
from labeling.validate import Accepted, Problem, duplicate_line, validate_export
from postroom.store.labels import lock_messages
from postroom.store.models import NAME_MAX, AuditEvent, Label, Message, as_utc, utcnow
from postroom.taxonomy import Taxonomy

LABEL_SOURCE = "doccano"
EVENT_SELECTED = "labeling.selected"
EVENT_PUSHED = "labeling.pushed"
EVENT_LABEL_CHANGED = "labeling.label_changed"
EVENT_PULLED = "labeling.pulled"
EVENT_UPLOAD_QUEUED = "labeling.upload_queued"
EVENT_PROJECT_GONE = "labeling.project_gone"
EVENT_PULL_PROBLEMS = "labeling.pull_problems"
EVENT_SEEN = "labeling.annotations_seen"  # per message and project: who labeled it with what, and the outcome
EVENT_ANNOTATOR_DROPPED = "labeling.annotator_dropped"  # the team lead stopped counting a removed annotator
# a pushed message a pull no longer found in the project: deleted in Doccano (the team lead left it out)
EVENT_REMOVED = "labeling.removed_in_doccano"
# The kinds of problem a pull records, in the order `label status` lists them, with what `label status` calls
# them: a validation problem's kinds, then messages in the project more than once, then valid labels of
# messages the store lacks.
PROBLEM_KINDS = {
    "done_without_label": "marked done without any label",
    "incomplete": "incomplete (a label set left out)",
    "conflicting": "conflicting (two labels of a set, or annotators disagree)",
    "unknown_label": "label not in the taxonomy",
    "no_message_id": "no message_id (not pushed by Postroom)",
    "annotator_gone": "labeled by an annotator no longer in the project (the labels last pulled still count)",
    "duplicate": "in the project more than once",
    "not_in_store": "not in the store",
}
PROBLEM_EXAMPLES = 5  # message IDs a pull records per kind of problem
ORIGIN_SELECTION = "selection"
ORIGIN_CORRECTION = "agent_correction"
TRUNCATION_NOTE = "\n\n[… truncated by Postroom]"
SUBJECT_MARK = "Subject: "  # the first line of an example's text; the body follows after a blank line
NO_SUBJECT = "(no subject)"
CHUNK = 500
CLOCK_SKEW = timedelta(minutes=10)  # Doccano's clock against ours, for records that lack the creation time


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def doccano_text(message: Message, max_chars: int) -> str:
    """What the expert reads: `Subject: …` on the first line, a blank line, then the cleaned body.

    The subject is one line (whitespace collapsed; `(no subject)` when there is none). A text longer than
    `max_chars` is cut at the end, with a note. Pull matches examples by their `message_id` metadata, never
    by this text, so examples pushed in an earlier layout (subject and body on adjacent lines) still pull.
    """
    subject = " ".join((message.subject or "").split()) or NO_SUBJECT
    text = f"{SUBJECT_MARK}{subject}\n\n{message.cleaned_text.strip()}".rstrip()
    if len(text) > max_chars:
        text = text[: max_chars - len(TRUNCATION_NOTE)] + TRUNCATION_NOTE
    return text


def doccano_row(
    message: Message, max_chars: int, origin: str = ORIGIN_SELECTION, suggestion: str = ""
) -> dict[str, Any]:
    """One import row. Every row has the same keys (Doccano needs that); metadata values are strings.

    The sender and the date are shown beside the text (Doccano's metadata panel): a company's name in the
    sender is often what says business, not retail, once cleaning has removed the signature.
    """
    received = message.received_at
    return {
        "text": doccano_text(message, max_chars),
        "label": [],  # labels come from the experts only; an absent column is reported as an import error
        "message_id": message.message_id,
        "language": message.language or "",
        "subject": message.subject or "",
        "sender": message.sender or "",
        "received_at": received.strftime("%Y-%m-%d %H:%M UTC") if received is not None else "",
        "origin": origin,
        "suggestion": suggestion,
    }


def _gone_marks(session: Session, project: str) -> dict[int, int]:
    """Doccano id -> the newest `labeling.project_gone` event for it. Records of `project` with that id made
    before that event are of the gone project; later ones are of a new project that got the same id."""
    marks: dict[int, int] = {}
    gone = select(AuditEvent).where(AuditEvent.kind == EVENT_PROJECT_GONE).order_by(AuditEvent.id)
    for event in session.scalars(gone):
        payload = event.payload or {}
        if payload.get("project") == project and isinstance(payload.get("project_id"), int):
            marks[payload["project_id"]] = event.id
    return marks


def _live(event: AuditEvent, project: str, marks: Mapping[int, int]) -> bool:
    """Whether `event` is a record of `project` made for a Doccano project that is not recorded as gone."""
    payload = event.payload or {}
    if not event.subject or payload.get("project") != project:
        return False
    project_id = payload.get("project_id")
    return project_id not in marks or event.id > marks[project_id]


def project_events(session: Session, kind: str, project: str) -> dict[str, AuditEvent]:
    """message_id -> newest event of `kind` for `project`; events of a project that is gone do not count."""
    marks = _gone_marks(session, project)
    found: dict[str, AuditEvent] = {}
    for event in session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)):
        if _live(event, project, marks):
            found[str(event.subject)] = event
    return found


def other_projects_events(
    session: Session, kinds: Sequence[str], project: str
) -> dict[str, dict[str, AuditEvent]]:
    """Project name -> message_id -> newest event of `kinds` for every project but `project`; events of a
    project that is gone do not count."""
    marks: dict[str, dict[int, int]] = {}
    found: dict[str, dict[str, AuditEvent]] = defaultdict(dict)
    events = select(AuditEvent).where(AuditEvent.kind.in_(list(kinds))).order_by(AuditEvent.id)
    for event in session.scalars(events):
        name = (event.payload or {}).get("project")
        if not isinstance(name, str) or name == project:
            continue
        if name not in marks:
            marks[name] = _gone_marks(session, name)
        if _live(event, name, marks[name]):
            found[name][str(event.subject)] = event
    return dict(found)


def messages_elsewhere(session: Session, project: str, message_ids: Sequence[str]) -> dict[str, list[str]]:
    """message_id -> the other projects (names) it was selected for or pushed to, for those of `message_ids`
    that are in another project and not recorded in `project`."""
    wanted = set(message_ids) - project_message_ids(session, project)
    found: dict[str, list[str]] = defaultdict(list)
    others = other_projects_events(session, [EVENT_SELECTED, EVENT_PUSHED], project)
    for name, events in sorted(others.items()):
        for message_id in sorted(wanted & set(events)):
            found[message_id].append(name)
    return dict(found)


def pushed_message_ids(session: Session, project: str) -> set[str]:
    """Messages recorded as in the Doccano project."""
    return set(project_events(session, EVENT_PUSHED, project))


def present_message_ids(session: Session, project: str) -> set[str]:
    """Pushed messages the project still has: not found deleted there by a pull since their last push. One
    a pull found deleted is set aside (no longer awaiting an expert; not chosen again, since its push records
    stay) until it is pushed again."""
    pushed = project_events(session, EVENT_PUSHED, project)
    removed = project_events(session, EVENT_REMOVED, project)
    return {m for m, event in pushed.items() if m not in removed or removed[m].id < event.id}


def project_message_ids(session: Session, project: str) -> set[str]:
    """Messages recorded as selected for or pushed to the project."""
    return set(project_events(session, EVENT_SELECTED, project)) | pushed_message_ids(session, project)


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


@dataclass(frozen=True)
class GoneProject:
    """A Doccano project that push records name, no longer in Doccano under its name."""

    project: str
    project_id: int
    replaced_by: int | None  # the id Doccano now has under the name, if any
    messages: int  # selected or pushed for it
    released: int  # of those, never labeled by an expert: selectable again

    def __str__(self) -> str:
        if self.replaced_by == self.project_id:
            now = "Doccano's data was replaced and a new project has its name and id"
        elif self.replaced_by is not None:
            now = f"Doccano now has id {self.replaced_by} under that name"
        else:
            now = "deleted or renamed in Doccano"
        return (
            f"the Doccano project {self.project} (id {self.project_id}) that {self.messages} pushed messages "
            f"were sent to no longer exists ({now}); the {self.released} without expert labels are "
            "selectable again"
        )


def _parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as Doccano reports it, in UTC; None when there is none or it cannot be read."""
    try:
        return as_utc(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def _other_project(records: Sequence[AuditEvent], current: Project) -> str | None:
    """How the project `records` were made for differs from `current` (same name and id); None: it is
    `current`.

    Records keep the creation time Doccano reported for their project. Records made before Postroom kept
    it must at least be younger than the project (with `CLOCK_SKEW` to spare for the two clocks).
    """
    stamps = sorted({str((e.payload or {}).get("project_created") or "") for e in records} - {""})
    other = [stamp for stamp in stamps if stamp != current.created_at]
    if other and current.created_at:
        return f"created {other[0]}"
    created = _parse_time(current.created_at)
    unstamped = [e.created_at for e in records if not (e.payload or {}).get("project_created")]
    if created is not None and unstamped and min(unstamped) < created - CLOCK_SKEW:
        return f"in use since {min(unstamped):%Y-%m-%d %H:%M} UTC, before the new one was created"
    return None


def _replaced_message(project: str, current: Project, other: str, messages: int, released: int) -> str:
    return (
        f"Doccano's project {project} (id {current.id}, created {current.created_at}) is not the one "
        f"Postroom sent {messages} messages to (that one was {other}): Doccano's data was wiped or replaced "
        "and a new project got the same name and id, so Postroom neither pushes to nor pulls from it. "
        "Restore Doccano's old data if you can; otherwise `postroom label check --accept-new-project` "
        f"records the old project as gone (the {released} messages without expert labels become "
        "selectable again) and uses the new one"
    )


def _expert_labeled(session: Session, message_ids: Sequence[str]) -> set[str]:
    """The messages of `message_ids` with a current label pulled from Doccano."""
    found: set[str] = set()
    for batch in _chunks(list(message_ids)):
        found |= set(
            session.scalars(
                select(Message.message_id)
                .join(Label, Label.message_pk == Message.id)
                .where(Message.message_id.in_(batch), Label.source == LABEL_SOURCE)
                .where(Label.is_current.is_(True))
            )
        )
    return found


def record_gone_projects(
    sessions: sessionmaker[Session],
    project: str,
    current: Project | None,
    actor: str,
    *,
    accept_replaced: bool = False,
) -> list[GoneProject]:
    """Record as gone every Doccano project the records of `project` name that Doccano no longer has.

    `current` is the project Doccano has under the name now (None: no such project). Records of another
    id name a gone project. Records of `current`'s id but made for an older project (Doccano's data was
    wiped or replaced, and a new project got the same id) raise `ProjectReplaced`, unless
    `accept_replaced`: then the old project is recorded as gone and the new one is used. Each gone project
    is recorded once (`labeling.project_gone`); nothing is deleted, so the old records stay as history.

    Raises:
        ProjectReplaced: nothing was recorded.
    """
    with sessions.begin() as session:
        marks = _gone_marks(session, project)
        recorded: dict[int, list[AuditEvent]] = defaultdict(list)
        events = select(AuditEvent).where(AuditEvent.kind.in_([EVENT_SELECTED, EVENT_PUSHED]))
        for event in session.scalars(events.order_by(AuditEvent.id)):
            old = (event.payload or {}).get("project_id")
            if isinstance(old, int) and _live(event, project, marks):
                recorded[old].append(event)
        found = []
        for old, records in sorted(recorded.items()):
            ids = {str(event.subject) for event in records}
            if current is not None and old == current.id:
                other = _other_project(records, current)
                if other is None:
                    continue  # the same project
                if not accept_replaced:
                    released = len(ids - _expert_labeled(session, sorted(ids)))
                    raise ProjectReplaced(_replaced_message(project, current, other, len(ids), released))
            released = len(ids - _expert_labeled(session, sorted(ids)))
            replaced_by = current.id if current is not None else None
            found.append(GoneProject(project, old, replaced_by, len(ids), released))
            session.add(
                AuditEvent(
                    kind=EVENT_PROJECT_GONE,
                    subject=project[:NAME_MAX],
                    actor=actor[:NAME_MAX],
                    payload={
                        "project": project,
                        "project_id": old,
                        "replaced_by": replaced_by,
                        "messages": len(ids),
                        "released": released,
                    },
                )
            )
    return found


def notice_gone_projects(
    sessions: sessionmaker[Session], client: DoccanoClient, project: str, *, accept_replaced: bool = False
) -> list[GoneProject]:
    """Ask Doccano which project has the name `project` now and record the gone projects the records name.

    Raises:
        ProjectReplaced: Doccano's project has the recorded id but is a new one (see `record_gone_projects`).
    """
    return record_gone_projects(
        sessions, project, client.find_project(project), client.username, accept_replaced=accept_replaced
    )


def duplicates(client: DoccanoClient, project_id: int) -> dict[str, list[int]]:
    """message_id -> its example ids, for every message that is in the project more than once."""
    return {m: ids for m, ids in _examples_by_message(client, project_id).items() if len(ids) > 1}


@dataclass
class PushReport:
    project: str
    project_id: int
    pushed: list[str] = field(default_factory=list)
    already_in_doccano: list[str] = field(default_factory=list)
    not_in_store: list[str] = field(default_factory=list)
    reconciled: int = 0  # examples found in Doccano without a push record (an interrupted push), recorded
    gone: list[GoneProject] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # message_id -> example ids (2 or more)
    in_other_project: dict[str, list[str]] = field(default_factory=dict)  # not sent: message_id -> projects
    keys_restored: tuple[KeyDrift, ...] = ()  # shortcut keys put back to the guideline's

    def duplicate_lines(self) -> list[str]:
        return [duplicate_line(m, ids) for m, ids in sorted(self.duplicates.items())]


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
    allow_other_projects: bool = False,
) -> PushReport:
    """Send messages to the project (created and brought in line with the taxonomy first).

    A message already in another project (records of another project name that Doccano still has) is not
    sent, but listed (`in_other_project`), unless `allow_other_projects`: then pull compares the projects'
    labels, and a disagreement is a conflict in both.

    Raises:
        DoccanoUnavailable, DoccanoTimeout, UploadFailed: what was confirmed before stays recorded;
            pushing again sends the rest.
        UploadPending: an earlier import of some of these messages is still queued (the task worker is
            down); nothing was sent. Once the worker runs, pushing again records what it imported.
    """
    gone = notice_gone_projects(sessions, client, project_name)  # before a new project gets an old id
    layout = ensure_project(client, taxonomy, project_name)
    report = PushReport(project_name, layout.id, gone=gone, keys_restored=layout.keys_restored)
    requested = list(dict.fromkeys(message_ids))
    if not allow_other_projects:
        with sessions() as session:
            elsewhere = messages_elsewhere(session, project_name, requested)
        for other in sorted({name for names in elsewhere.values() for name in names}):
            # a project deleted in Doccano frees its messages; a replaced one is its own push's business
            with suppress(ProjectReplaced):
                report.gone += notice_gone_projects(sessions, client, other)
        with sessions() as session:
            report.in_other_project = messages_elsewhere(session, project_name, requested)
    with sessions.begin() as session:
        report.not_in_store = not_stored(session, requested)
        missing = set(report.not_in_store) | set(report.in_other_project)
        wanted = [m for m in requested if m not in missing]
        selected = project_events(session, EVENT_SELECTED, project_name)
        for message_id in wanted:
            if message_id not in selected:
                session.add(_event(EVENT_SELECTED, message_id, client.username, layout, origin=origin))
    waiting = _unfinished_imports(sessions, client, layout, wanted)  # before listing: no race
    copies = _examples_by_message(client, layout.id)
    in_doccano = {m: ids[0] for m, ids in copies.items()}
    report.duplicates = {m: ids for m, ids in copies.items() if len(ids) > 1}
    report.reconciled = _record_pushed(sessions, client, layout, in_doccano)
    waiting = [m for m in waiting if m not in in_doccano]
    if waiting:
        raise UploadPending(
            f"an earlier upload of {len(waiting)} of these messages is still waiting for Doccano's task "
            "worker; start the worker, then push again (it will be reconciled)"
        )
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
        task_id = client.start_import(layout.id, rows, name=f"postroom-{len(rows)}")
        with sessions.begin() as session:  # before waiting: a retry must not queue these again
            for row in rows:
                session.add(
                    _event(EVENT_UPLOAD_QUEUED, row["message_id"], client.username, layout, task_id=task_id)
                )
        client.finish_import(task_id, len(rows))
        copies = _examples_by_message(client, layout.id)
        in_doccano = {m: ids[0] for m, ids in copies.items()}
        report.duplicates = {m: ids for m, ids in copies.items() if len(ids) > 1}
        missing = [r["message_id"] for r in rows if r["message_id"] not in in_doccano]
        if missing:
            raise UploadFailed(
                f"Doccano accepted the upload but {len(missing)} of {len(rows)} examples are not in project "
                f"{project_name!r} (first: {missing[0]}); push again to retry"
            )
        _record_pushed(sessions, client, layout, in_doccano)
        report.pushed += [r["message_id"] for r in rows]
    return report


def _examples_by_message(client: DoccanoClient, project_id: int) -> dict[str, list[int]]:
    """message_id -> its Doccano example ids (lowest first), for every example with a message ID."""
    found: dict[str, list[int]] = defaultdict(list)
    for example in client.examples(project_id):
        message_id = str(example.meta.get("message_id") or "")
        if message_id:
            found[message_id].append(example.id)
    return {m: sorted(ids) for m, ids in found.items()}


def _unfinished_imports(
    sessions: sessionmaker[Session], client: DoccanoClient, layout: ProjectLayout, wanted: Sequence[str]
) -> list[str]:
    """The messages of `wanted` whose queued import into this project is not finished yet.

    Waits for those imports up to the task time limit in all (the worker may just be busy). An import that
    finished or failed counts as finished: the examples listed next say what arrived. One still unfinished
    counts as waiting only while the task worker is down; with the worker up it is taken as lost (Doccano
    reports an unknown task as not ready forever), so its messages are sent again.
    """
    with sessions() as session:
        queued = project_events(session, EVENT_UPLOAD_QUEUED, layout.project.name)
        confirmed = project_events(session, EVENT_PUSHED, layout.project.name)
    tasks: dict[str, list[str]] = defaultdict(list)
    for message_id in wanted:
        event = queued.get(message_id)
        if event is None or event.payload.get("project_id") != layout.id:
            continue
        done = confirmed.get(message_id)
        if done is None or done.id < event.id:
            tasks[str(event.payload.get("task_id"))].append(message_id)
    waiting: list[str] = []
    timeout: float | None = None  # the first wait gets the full time limit, the others one look
    for task_id, ids in tasks.items():
        try:
            client.finish_import(task_id, len(ids), timeout=timeout)
        except DoccanoTimeout:
            waiting += ids
            timeout = 0
        except UploadFailed:
            pass  # finished with errors: what did not arrive is sent again
    if waiting:
        try:
            client.health()
        except DoccanoUnavailable:
            return waiting  # the worker is down: its queue still holds the earlier import
        return []
    return waiting


def _event(kind: str, message_id: str, actor: str, layout: ProjectLayout, **payload: Any) -> AuditEvent:
    return AuditEvent(
        kind=kind,
        subject=message_id,
        actor=actor[:NAME_MAX],
        payload={
            "project": layout.project.name,
            "project_id": layout.id,
            "project_created": layout.project.created_at,
            **payload,
        },
    )


def _record_pushed(
    sessions: sessionmaker[Session],
    client: DoccanoClient,
    layout: ProjectLayout,
    in_doccano: Mapping[str, int],
) -> int:
    with sessions.begin() as session:
        # recorded and still there: one a pull found deleted in Doccano is recorded again when sent again
        known = present_message_ids(session, layout.project.name)
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
    in_progress: int = 0  # labeled in part, not marked done: the expert is still at it
    accepted: int = 0  # examples whose labels passed validation
    added: int = 0  # labels for a set the message had none in
    changed: int = 0  # labels that replaced a different class (history kept)
    confirmed: int = 0  # expert agreed with a label from another source; now recorded as doccano's
    unchanged: int = 0
    kept_newer: int = 0  # a newer label (feedback, api) replaced the expert's; not reverted
    problems: list[Problem] = field(default_factory=list)
    not_in_store: list[str] = field(default_factory=list)
    gone: list[GoneProject] = field(default_factory=list)
    duplicates: dict[str, tuple[int, ...]] = field(default_factory=dict)  # message_id -> example ids
    deleted: list[str] = field(default_factory=list)  # pushed, found deleted in Doccano by this pull
    # annotators no longer in the export -> messages whose labels, as last pulled, still count
    missing_annotators: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # dropped now -> messages no longer counted
    comments: CommentReport | None = None  # problems written into Doccano (None: not asked)
    comment_error: str = ""  # why the comments could not be written (the labels were imported)

    def duplicate_lines(self) -> list[str]:
        return [duplicate_line(m, ids) for m, ids in sorted(self.duplicates.items())]


def pull_labels(
    sessions: sessionmaker[Session],
    client: DoccanoClient,
    taxonomy: Taxonomy,
    project_name: str,
    *,
    now: Callable[[], datetime] = utcnow,
    drop_annotators: Sequence[str] = (),
    comments: bool = True,
) -> PullReport:
    """Read every expert label of the project, validate, and store the valid ones in one transaction.

    Annotators no longer in Doccano's export (removed from the project) still count with the labels the
    last pull saw, and are named (`missing_annotators`), unless named in `drop_annotators`. A message whose
    agreed labels differ from another project's is a conflict, not imported. With `comments`, the
    problems are then written into Doccano as comments on their examples (and settled ones removed); a
    failure there is reported in `comment_error`, the labels stay imported.

    Raises:
        ProjectNotFound: nothing was pushed yet, or the project was deleted (then recorded as gone first).
        LabelingError: a name in `drop_annotators` is not an annotator missing from the export.
        DoccanoUnavailable, DoccanoTimeout: nothing was written; pull again once Doccano is back.
    """
    gone = notice_gone_projects(sessions, client, project_name)
    try:
        layout = open_project(client, taxonomy, project_name)
    except ProjectNotFound:
        if gone:
            raise ProjectNotFound(
                f"nothing to pull: {'; '.join(map(str, gone))} (`postroom label push` starts a new project)"
            ) from None
        raise
    export = client.export_annotations(layout.id)  # everything is read before anything is written
    done = client.export_annotations(layout.id, confirmed_only=True)
    confirmed = {user: {int(row["id"]) for row in rows if "id" in row} for user, rows in done.items()}
    with sessions() as session:
        last = _seen_records(session, project_name)
        others = {
            name: {m: Seen.from_payload(e.payload) for m, e in events.items()}
            for name, events in other_projects_events(session, [EVENT_SEEN], project_name).items()
        }
    everyone = remember_missing(export, confirmed, last)
    unknown = sorted(set(drop_annotators) - set(everyone.missing))
    if unknown:
        raise LabelingError(
            f"cannot drop {', '.join(unknown)}: not an annotator whose labels Postroom pulled from project "
            f"{project_name!r} and who is no longer in it (missing now: "
            f"{', '.join(everyone.missing) or 'none'})"
        )
    remembered = remember_missing(export, confirmed, last, drop=drop_annotators)
    validation = validate_export(taxonomy, remembered.export, remembered.confirmed)
    observed = observe(remembered.export, remembered.confirmed)
    accepted, disagreeing = _compare_projects(validation.accepted, others, observed)
    problems = [_name_missing(p, remembered.by_message) for p in validation.problems] + disagreeing
    report = PullReport(
        project_name,
        examples=validation.examples,
        pending=validation.pending,
        in_progress=validation.in_progress,
        accepted=len(accepted),
        problems=problems,
        gone=gone,
        duplicates=validation.duplicates,
        missing_annotators=remembered.missing,
        dropped={a: everyone.missing[a] for a in dict.fromkeys(drop_annotators)},
    )
    in_export = {str(row["message_id"]) for rows in export.values() for row in rows if row.get("message_id")}
    outcome = {a.message_id: a.labels for a in validation.accepted}  # this project's own, before comparing
    with sessions.begin() as session:
        report.deleted = sorted(present_message_ids(session, project_name) - in_export)  # said once
        for message_id in report.deleted:
            session.add(_event(EVENT_REMOVED, message_id, client.username, layout))
        for annotator, message_ids in report.dropped.items():
            session.add(
                _event(EVENT_ANNOTATOR_DROPPED, annotator, client.username, layout, messages=len(message_ids))
            )
        _record_seen(session, layout, client.username, observed, outcome, last)
        apply_labels(session, accepted, report, actor=client.username, when=now())
        record_pull_problems(session, layout, report, client.username)
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
    if comments:
        try:
            wanted = problem_comments(report.problems, report.duplicates)
            report.comments = sync_comments(client, layout.id, wanted)
        except DoccanoError as exc:  # the labels are in; the next pull writes the comments
            report.comment_error = str(exc)
    return report


def _seen_records(session: Session, project: str) -> dict[str, Seen]:
    """message_id -> what the last pull of `project` that changed it saw."""
    return {m: Seen.from_payload(e.payload) for m, e in project_events(session, EVENT_SEEN, project).items()}


def _record_seen(
    session: Session,
    layout: ProjectLayout,
    actor: str,
    observed: Mapping[str, Seen],
    outcome: Mapping[str, dict[str, str]],
    last: Mapping[str, Seen],
) -> None:
    """Record (no commit) what this pull saw of each message, where it differs from the last record; a
    message nobody ever labeled gets none."""
    for message_id, seen in sorted(observed.items()):
        seen = Seen(seen.example_ids, seen.labels, seen.done, outcome.get(message_id))
        before = last.get(message_id)
        if before == seen or (before is None and not seen.annotators):
            continue
        session.add(_event(EVENT_SEEN, message_id, actor, layout, **seen.payload()))


def _name_missing(problem: Problem, missing: Mapping[str, tuple[str, ...]]) -> Problem:
    """The problem, saying which of its annotators are no longer in the project (their labels as last
    pulled count)."""
    who = missing.get(problem.message_id or "")
    if not who:
        return problem
    detail = (
        f"{', '.join(who)} {'is' if len(who) == 1 else 'are'} no longer in the project: "
        "the labels Postroom last pulled count"
    )
    return replace(problem, details=(*problem.details, detail))


def _compare_projects(
    accepted: Sequence[Accepted], others: Mapping[str, Mapping[str, Seen]], observed: Mapping[str, Seen]
) -> tuple[list[Accepted], list[Problem]]:
    """The accepted messages whose labels no other project contradicts, and a conflict for each of the
    others: a message in two projects must get the same labels in both, or neither's are imported."""
    keep: list[Accepted] = []
    conflicts: list[Problem] = []
    for item in accepted:
        details: list[str] = []
        voters: set[str] = set(item.annotators)
        for name, records in sorted(others.items()):
            theirs = records.get(item.message_id)
            if theirs is None or theirs.accepted is None:
                continue
            for set_name, class_name in item.labels.items():
                other = theirs.accepted.get(set_name)
                if other is not None and other != class_name:
                    who = ", ".join(sorted(theirs.labels)) or "?"
                    here = ", ".join(item.annotators)
                    details.append(
                        f"projects disagree on {set_name}: {class_name} ({here}, here), "
                        f"{other} ({who}, in project {name})"
                    )
                    voters.update(theirs.labels)
        if not details:
            keep.append(item)
            continue
        seen = observed.get(item.message_id)
        everyone = tuple(sorted(voters))
        conflicts.append(
            Problem(
                item.message_id,
                seen.example_ids if seen is not None else (),
                ("conflicting",),
                tuple(details),
                everyone,
                everyone,
            )
        )
    return keep, conflicts


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
    lock_messages(session, pks)  # feedback for one of them at the same time waits, and is read after
    for start in range(0, len(pks), CHUNK):
        query = select(Label).where(Label.message_pk.in_(pks[start : start + CHUNK])).order_by(Label.id)
        for label in session.scalars(query.execution_options(populate_existing=True)):
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


def problem_summary(report: PullReport) -> dict[str, dict[str, Any]]:
    """Kind of problem -> {"count": how many messages, "message_ids": the first few}, kinds in
    `PROBLEM_KINDS` order; an example without a message ID is named `example <id>`."""
    found: dict[str, list[str]] = defaultdict(list)
    for problem in report.problems:
        where = problem.message_id or f"example {', '.join(map(str, problem.example_ids))}"
        for kind in problem.kinds:
            found[kind].append(where)
    found["annotator_gone"] = sorted({m for ids in report.missing_annotators.values() for m in ids})
    found["duplicate"] = sorted(report.duplicates)
    found["not_in_store"] = list(report.not_in_store)
    return {
        kind: {"count": len(found[kind]), "message_ids": found[kind][:PROBLEM_EXAMPLES]}
        for kind in PROBLEM_KINDS
        if found.get(kind)
    }


def last_pull_problems(session: Session, project: str) -> dict[str, dict[str, Any]] | None:
    """The problems the last pull of `project` found, as `problem_summary` gives them (None: no pull
    recorded, or its project is gone)."""
    marks = _gone_marks(session, project)
    events = select(AuditEvent).where(AuditEvent.kind == EVENT_PULL_PROBLEMS)
    for event in session.scalars(events.order_by(AuditEvent.id.desc())):
        if _live(event, project, marks):
            return dict(event.payload.get("problems") or {})
    return None


def record_pull_problems(
    session: Session, layout: ProjectLayout, report: PullReport, actor: str
) -> None:
    """Record a pull's problems (no commit) for `label status`, only when they differ from the last recorded
    ones: a re-pull that finds the same adds nothing."""
    summary = problem_summary(report)
    last = last_pull_problems(session, report.project)
    if last == summary:
        return
    session.add(
        AuditEvent(
            kind=EVENT_PULL_PROBLEMS,
            subject=report.project[:NAME_MAX],
            actor=actor[:NAME_MAX],
            payload={
                "project": report.project,
                "project_id": layout.id,
                "project_created": layout.project.created_at,
                "problems": summary,
            },
        )
    )
