"""`postroom forget` (a client's erasure request) and `postroom purge` (retention): client e-mails out of the
store and out of Doccano (`postroom.store.erasure`, `labeling.erasure`).

They live with labeling because a message's copies are in two places: the store, and the Doccano projects
it was pushed to for labeling. Both print what they would erase and change nothing without `--yes`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from labeling.doccano import client_from_settings
from labeling.erasure import (
    LEFT_IN_KEY,
    MESSAGE_RECORDS,
    PENDING_KEY,
    DoccanoErasureFailed,
    RecordedProject,
    doccano_in_use,
    erase_from_doccano,
    in_labeling,
    leftover_message_ids,
    recorded_projects,
    scrub_pull_problems,
    with_configured,
)
from labeling.errors import DoccanoError
from postroom.clikit import (
    checked_name,
    err,
    friendly_errors,
    load_settings,
    load_taxonomy_from,
    named_actor,
    open_sessions,
    out,
    printable,
    required_reason,
)
from postroom.errors import PostroomError
from postroom.ingest.fields import RecordError, check_message_id
from postroom.settings import MAX_WINDOW_DAYS, Settings
from postroom.store.erasure import (
    Selection,
    addresses,
    erase_messages,
    select_messages,
    sha256,
    stored_messages,
)
from postroom.store.models import LABEL_SOURCE_MAX

KEEP_SOURCES = ("doccano", "import")  # the experts' labels and the corpus's; not feedback (every closed case)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

ReasonOption = Annotated[
    str | None, typer.Option(help="Why (recorded in the audit log): the request's reference, the policy.")
]
ByOption = Annotated[
    str | None, typer.Option(help="Who erases (default: your user name).", envvar="POSTROOM_USER")
]
YesOption = Annotated[bool, typer.Option("--yes", help="Erase. Without it, only say what would be erased.")]
ListOption = Annotated[
    bool,
    typer.Option("--list", help="Print each message to erase (ID, received date, sender) before the plan."),
]
SkipDoccanoOption = Annotated[
    bool,
    typer.Option(
        "--skip-doccano",
        help="Erase the store's copies even though Doccano cannot be reached: the copies the labeling "
        "records name stay (listed), with those records, so that `postroom forget --leftovers` erases them "
        "later; the configured project is not searched (`postroom forget ID...` searches it later).",
    ),
]


@dataclass(frozen=True)
class Where:
    """Where the messages' Doccano copies may be: the recorded projects, and the configured project's name
    when Doccano is in use (None otherwise)."""

    recorded: dict[int, RecordedProject]
    configured: str | None

    def unrecorded(self) -> str | None:
        """The configured project, unless a recorded project has its name (then it is looked at anyway)."""
        names = {p.name for p in self.recorded.values()}
        return self.configured if self.configured and self.configured not in names else None

    def shown_recorded(self) -> str:
        items = self.recorded.items()
        return ", ".join(f"{p.name} (id {i}: {len(p.message_ids)} message(s))" for i, p in items)

    def shown(self) -> str:
        parts = [self.shown_recorded()] if self.recorded else []
        if unrecorded := self.unrecorded():
            parts.append(f"{unrecorded} (the configured project: any copies without a record)")
        return ", ".join(parts)

    def copied(self) -> int:
        """How many messages the records send to Doccano."""
        return len({m for p in self.recorded.values() for m in p.message_ids})

    def left(self) -> list[dict[str, Any]]:
        """The projects `--skip-doccano` leaves copies in, for the audit event (names and counts)."""
        left: list[dict[str, Any]] = [
            {"project": p.name, "project_id": i, "messages": len(p.message_ids)}
            for i, p in self.recorded.items()
        ]
        if unrecorded := self.unrecorded():
            left.append({"project": unrecorded, "project_id": None, "messages": None})
        return left


def _checked_ids(values: list[str]) -> list[str]:
    ids = []
    for value in values:
        try:
            ids.append(check_message_id(value))
        except RecordError as exc:
            raise PostroomError(f"message ID {value[:100]!r}: {exc}") from None
    return ids


def sender_address(value: str) -> str:
    """The one address in a `--sender` value: bare, `<…>`, `mailto:…`, or a From header's `Name <…>`.

    Raises:
        PostroomError: the value holds no address, or several.
    """
    text = value.strip()
    if text.casefold().startswith("mailto:"):
        text = text[len("mailto:") :].split("?", 1)[0]  # a mailto link's ?subject=… is no part of the address
    found = addresses(text)
    if len(found) != 1:
        what = "no e-mail address" if not found else f"{len(found)} addresses"
        raise PostroomError(f"--sender takes one e-mail address, got {what} in {value[:100]!r}")
    return found.pop()


def _received_before(value: str) -> datetime:
    """Midnight UTC of a date given exactly as YYYY-MM-DD."""
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise PostroomError(f"--received-before takes a date YYYY-MM-DD, got {value[:40]!r}") from None


def _keep_sources(values: list[str] | None, include_labeled: bool) -> list[str] | None:
    """The label sources whose messages `purge` keeps (None: keep none)."""
    if include_labeled:
        if values:
            raise PostroomError("--include-labeled keeps no labeled message: leave out --keep-source")
        return None
    sources = []
    for value in values or KEEP_SOURCES:
        source = value.strip()
        if not source or len(source) > LABEL_SOURCE_MAX:
            raise PostroomError(f"--keep-source takes a label source of 1 to {LABEL_SOURCE_MAX} characters")
        sources.append(checked_name(source, "--keep-source"))
    return sorted(set(sources))


def _where(settings: Settings, sessions: sessionmaker[Session], message_ids: Sequence[str]) -> Where:
    with sessions() as session:
        recorded = recorded_projects(session, message_ids) if message_ids else {}
        in_use = doccano_in_use(session)
    configured = settings.doccano_project_name(load_taxonomy_from(settings).name) if in_use else None
    return Where(recorded, configured)


def _print_senders(per_sender: Mapping[str, int]) -> None:
    for address, found in per_sender.items():
        out.print(f"--sender {printable(address)}: {found} message(s)", highlight=False)
        if not found:
            err.print(
                f"[yellow]no message from {printable(address)}[/yellow]: check the address; a sender stored "
                "without an address cannot be matched (erase those by message ID)",
                highlight=False,
            )


def _print_list(sessions: sessionmaker[Session], message_ids: Sequence[str]) -> None:
    """Each message: ID, received date, sender as stored (the terminal only, never the audit log)."""
    with sessions() as session:
        for message_id, received, sender in stored_messages(session, message_ids):
            when = f"{received:%Y-%m-%d %H:%M} UTC" if received is not None else "no date"
            line = f"{message_id}  {when}  {sender or '(no sender)'}"
            out.print(printable(line), highlight=False, soft_wrap=True)


def _plan(selection: Selection, where: Where, kept: str, absent: int) -> str:
    line = f"{len(selection.message_ids)} message(s) to erase"
    if selection.labeled:
        line += f", {selection.labeled} labeled (training data: trained models keep what they learned)"
    if absent:
        line += f"; {absent} ID(s) not in the store: their Doccano copies and labeling records go too"
    if kept:
        line += f"; {kept}"
    if shown := where.shown():
        line += f"; copies in Doccano project(s) {shown}"
    return line


def _kept(selection: Selection, sources: Collection[str] | None) -> str:
    """What retention keeps, and how to erase it too ("" when nothing)."""
    parts = []
    if selection.kept_labeled:
        parts.append(f"{selection.kept_labeled} message(s) labeled ({', '.join(sources or ())})")
    if selection.kept_in_labeling:
        sent = selection.kept_in_labeling
        parts.append(f"{sent} message(s) being labeled in Doccano (sent since the cut-off, or labeled there)")
    return f"kept: {' and '.join(parts)} (--include-labeled erases them too)" if parts else ""


def _erase_in_doccano(settings: Settings, where: Where, message_ids: Sequence[str], leftovers: bool) -> int:
    """Delete the Doccano copies; returns how many examples went.

    Raises:
        PostroomError: Doccano failed (how many examples were deleted before; the store is untouched).
    """
    try:
        with client_from_settings(settings) as client:
            projects = dict(where.recorded)
            if where.configured:
                projects = with_configured(client, where.configured, projects)
            results = erase_from_doccano(client, projects, message_ids)
    except DoccanoError as exc:
        deleted = exc.deleted if isinstance(exc, DoccanoErasureFailed) else 0
        hint = "" if leftovers else (
            ", or add --skip-doccano to erase the store's copies now (the records of the copies sent to "
            "Doccano stay, so that `postroom forget --leftovers` erases those copies later)"
        )
        raise PostroomError(
            f"Doccano failed after {deleted} example(s) were deleted: {exc}; the store is untouched: run the "
            f"same command again when Doccano answers{hint}"
        ) from None
    for result in results:
        state = "" if result.exists else " (the project no longer exists)"
        out.print(
            f"Doccano {result.project} (id {result.project_id}): {result.examples} example(s) of "
            f"{result.messages} message(s) deleted{state}",
            markup=False,
            highlight=False,
        )
    return sum(r.examples for r in results)


def _short(exc: SQLAlchemyError) -> str:
    """The error's class and the first line of the database's message: no SQL, no parameters."""
    cause = getattr(exc, "orig", None) or exc
    first = next(iter(str(cause).strip().splitlines()), "")
    return f"{type(exc).__name__}: {first[:200]}"


@dataclass(frozen=True)
class Erasure:
    """What one run erases from the store, and how it is recorded."""

    message_ids: list[str]
    actor: str
    reason: str
    criteria: dict[str, Any]
    record_ids: bool


def _erase_in_store(
    sessions: sessionmaker[Session], erasure: Erasure, keep_records_of: Collection[str], deleted: int | None
) -> tuple[int, int]:
    """Erase from the store in one transaction; returns the audit event's id and the messages erased.

    Raises:
        PostroomError: the store failed (rolled back), saying what Doccano's part did (`deleted` examples;
            None: it was not run).
    """
    try:
        with sessions() as session:
            scrub_pull_problems(session, erasure.message_ids)
            event = erase_messages(
                session,
                erasure.message_ids,
                erasure.actor,
                erasure.reason,
                erasure.criteria,
                erasure.record_ids,
                record_kinds=MESSAGE_RECORDS,
                keep_records_of=keep_records_of,
            )
            session.commit()
            return event.id, int(event.payload["messages"])
    except SQLAlchemyError as exc:
        done = "nothing erased"
        if deleted is not None:
            done = f"the Doccano copies are deleted ({deleted} example(s))"
        raise PostroomError(
            f"{done}; erasing from the store failed ({_short(exc)}): run the same command again"
        ) from None


def _print_skipped(where: Where) -> None:
    """What `--skip-doccano` leaves: the recorded copies (found later by their records), and the configured
    project, not searched."""
    if where.recorded:
        err.print(
            f"[yellow]Doccano skipped:[/yellow] the copies in {escape(where.shown_recorded())} stay; their "
            "labeling records stay too, so that `postroom forget --leftovers` erases those copies once "
            "Doccano answers; the audit event lists the projects",
            highlight=False,
        )
    if unrecorded := where.unrecorded():
        err.print(
            f"[yellow]Doccano skipped:[/yellow] the configured project {escape(unrecorded)} was not searched "
            "for copies without a record; once Doccano answers, `postroom forget ID...` searches it for IDs "
            "the store no longer holds",
            highlight=False,
        )


def _erase(
    settings: Settings, erasure: Erasure, where: Where, skip_doccano: bool, leftovers: bool = False
) -> tuple[int, int]:
    """Doccano first (so a failure leaves the store's records that find the copies), then the store."""
    sessions = open_sessions(settings)
    keep: set[str] = set()
    deleted: int | None = None
    if (where.recorded or where.configured) and skip_doccano:
        keep = {m for p in where.recorded.values() for m in p.message_ids}
        pending = sorted(sha256(m) for m in keep)  # what `forget --leftovers` may finish, and nothing else
        criteria = {**erasure.criteria, LEFT_IN_KEY: where.left(), PENDING_KEY: pending}
        erasure = replace(erasure, criteria=criteria)
        _print_skipped(where)
    elif where.recorded or where.configured:
        deleted = _erase_in_doccano(settings, where, erasure.message_ids, leftovers)
    return _erase_in_store(sessions, erasure, keep, deleted)


def _run(
    settings: Settings,
    selection: Selection,
    erasure: Erasure,
    *,
    yes: bool,
    skip_doccano: bool,
    show_list: bool,
    kept: str = "",
    pull_first: bool = False,
) -> None:
    """Print what the selection holds and the plan (`kept`: what retention keeps); with `yes`, erase.

    `erasure.message_ids` may name IDs the store does not hold (`forget` names them all): while Doccano is in
    use their copies there and their labeling records are erased too; otherwise they are nowhere and are
    dropped. `pull_first` warns that expert work not pulled yet goes with the Doccano copies."""
    sessions = open_sessions(settings)
    for message_id in selection.not_found:
        err.print(f"[yellow]not in the store[/yellow] {printable(message_id)}", highlight=False)
    _print_senders(selection.per_sender)
    where = _where(settings, sessions, erasure.message_ids) if erasure.message_ids else Where({}, None)
    if where.configured is None:  # Doccano never used: an ID the store does not hold is nowhere else
        erasure = replace(erasure, message_ids=selection.message_ids)
    absent = len(erasure.message_ids) - len(selection.message_ids)
    if not erasure.message_ids:
        out.print(f"nothing to erase{f' ({kept})' if kept else ''}", markup=False)
        return
    if absent:
        erasure = replace(erasure, criteria={**erasure.criteria, "not_in_store": absent})
    if show_list:
        _print_list(sessions, selection.message_ids)
    out.print(_plan(selection, where, kept, absent), markup=False, highlight=False)
    if pull_first and not skip_doccano and (copied := where.copied()):
        err.print(
            f"[yellow]pull first:[/yellow] {copied} of them were sent to Doccano; labels the experts gave "
            "their copies since the last `postroom label pull` are erased with them",
            highlight=False,
        )
    if not yes:
        out.print("dry run: nothing erased; add --yes to erase")
        return
    event_id, erased = _erase(settings, erasure, where, skip_doccano)
    tail = ""
    if absent:
        tail = f"; {absent} ID(s) not in the store looked for in Doccano and the labeling records"
    out.print(
        f"erased {erased} message(s) from the store with their labels, predictions, decisions and feedback"
        f"{tail} (audit event {event_id})"
    )


def _leftovers(settings: Settings, reason: str, actor: str, yes: bool, show_list: bool) -> None:
    """Erase the Doccano copies and the labeling records of messages the store no longer holds."""
    sessions = open_sessions(settings)
    with sessions() as session:
        ids = leftover_message_ids(session)
    if not ids:
        out.print("no leftovers: every message the labeling records name is in the store")
        return
    if show_list:
        for message_id in ids:
            out.print(f"{printable(message_id)}  (not in the store)", highlight=False)
    where = _where(settings, sessions, ids)
    out.print(
        f"{len(ids)} message(s) named by labeling records but no longer in the store: their copies in "
        f"Doccano project(s) {where.shown()} and their records go",
        markup=False,
        highlight=False,
    )
    if not yes:
        out.print("dry run: nothing erased; add --yes to erase")
        return
    erasure = Erasure(ids, actor, reason, {"leftovers": len(ids)}, record_ids=True)
    event_id, _ = _erase(settings, erasure, where, skip_doccano=False, leftovers=True)
    out.print(f"erased the labeling records of {len(ids)} message(s) (audit event {event_id})")


@friendly_errors
def forget(
    message_ids: Annotated[list[str] | None, typer.Argument(help="Message IDs to erase.")] = None,
    sender: Annotated[
        list[str] | None,
        typer.Option(
            "--sender",
            help="Erase every message whose stored From shows this address, in any case (repeat; "
            "'Name <address>' and 'mailto:' are read too).",
        ),
    ] = None,
    leftovers: Annotated[
        bool,
        typer.Option(
            "--leftovers",
            help="Erase the Doccano copies and labeling records of messages the store no longer holds "
            "(left by --skip-doccano).",
        ),
    ] = False,
    show_list: ListOption = False,
    reason: ReasonOption = None,
    by: ByOption = None,
    yes: YesOption = False,
    skip_doccano: SkipDoccanoOption = False,
) -> None:
    """Erase a client's e-mails (a right-to-erasure request): from the store, with everything derived from
    them, and from Doccano (the projects they were sent to, and the configured project). An ID the store
    does not hold is looked for in Doccano and in the labeling records too. The audit log keeps who, why,
    how many, and the SHA-256 of each erased ID, never the IDs or addresses themselves.

    Example: postroom forget --sender anna.becker@example.org --reason "erasure request 2026-118" --yes
    """
    why = required_reason(reason, '--reason "erasure request 2026-118"')
    actor = named_actor(by, "--by")
    ids = _checked_ids(message_ids or [])
    senders = list(dict.fromkeys(sender_address(s) for s in sender or []))
    if leftovers:
        if ids or senders or skip_doccano:
            raise PostroomError("--leftovers takes no message IDs, --sender or --skip-doccano")
        _leftovers(load_settings(), why, actor, yes, show_list)
        return
    if not ids and not senders:
        raise PostroomError("name the messages to erase: message IDs, or --sender ADDRESS")
    settings = load_settings()
    with open_sessions(settings)() as session:
        selection = select_messages(session, ids, senders)
    ids = list(dict.fromkeys(ids))
    criteria = {"message_ids": len(ids), "senders_sha256": sorted(sha256(s) for s in senders)}
    erasure = Erasure([*selection.message_ids, *selection.not_found], actor, why, criteria, record_ids=True)
    _run(settings, selection, erasure, yes=yes, skip_doccano=skip_doccano, show_list=show_list)


@friendly_errors
def purge(
    older_than: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_WINDOW_DAYS, help="Erase messages received more than DAYS ago."),
    ] = None,
    received_before: Annotated[
        str | None, typer.Option(help="Erase messages received before this date (YYYY-MM-DD, UTC).")
    ] = None,
    keep_source: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-source",
            help="Keep messages with a current label of this source (repeat; default: doccano and import, "
            "the experts' and the corpus's labels). Not feedback by default: every closed case has feedback "
            "labels, so keeping them would keep nearly all mail.",
        ),
    ] = None,
    include_labeled: Annotated[
        bool,
        typer.Option(
            "--include-labeled",
            help="Erase the kept ones too: labeled ones (training data), those sent to Doccano since the "
            "cut-off and those experts labeled there.",
        ),
    ] = False,
    show_list: ListOption = False,
    reason: ReasonOption = None,
    by: ByOption = None,
    yes: YesOption = False,
    skip_doccano: SkipDoccanoOption = False,
) -> None:
    """Erase e-mails past their retention: received before a date (ingested before it when the e-mail has
    no date), with everything derived from them, from the store and from Doccano. Kept unless
    --include-labeled: messages with a current label of a --keep-source (the training data), messages sent to
    Doccano for labeling since the cut-off, and messages experts labeled there (a pull saw their labels,
    accepted or not). Those sent before the cut-off that no expert labeled go, with their copies there.

    Example: postroom purge --older-than 365 --reason "retention policy CS-7" --yes
    """
    why = required_reason(reason, '--reason "retention policy CS-7"')
    actor = named_actor(by, "--by")
    if (older_than is None) == (received_before is None):
        raise PostroomError("give one of --older-than DAYS and --received-before YYYY-MM-DD")
    if received_before is not None:
        cutoff = _received_before(received_before)
    else:
        cutoff = datetime.now(UTC) - timedelta(days=older_than or 0)
    sources = _keep_sources(keep_source, include_labeled)
    settings = load_settings()
    with open_sessions(settings)() as session:
        selection = select_messages(
            session,
            received_before=cutoff,
            keep_sources=sources,
            keep_recorded=in_labeling(cutoff) if sources is not None else None,
        )
    out.print(f"received before {cutoff:%Y-%m-%d %H:%M} UTC", markup=False)
    criteria = {
        "received_before": cutoff.isoformat(),
        "include_labeled": include_labeled,
        "keep_sources": sources,
    }
    erasure = Erasure(selection.message_ids, actor, why, criteria, record_ids=False)
    kept = _kept(selection, sources)
    _run(
        settings,
        selection,
        erasure,
        yes=yes,
        skip_doccano=skip_doccano,
        show_list=show_list,
        kept=kept,
        pull_first=True,
    )
