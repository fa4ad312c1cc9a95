"""`postroom forget` (a client's erasure request) and `postroom purge` (retention): client e-mails out of the
store and out of Doccano (`postroom.store.erasure`, `labeling.erasure`).

They live with labeling because a message's copies are in two places: the store, and the Doccano projects
it was pushed to for labeling. Both print what they would erase and change nothing without `--yes`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from labeling.doccano import client_from_settings
from labeling.erasure import erase_from_doccano, recorded_projects
from postroom.clikit import (
    err,
    friendly_errors,
    load_settings,
    named_actor,
    open_sessions,
    out,
    required_reason,
)
from postroom.errors import PostroomError
from postroom.ingest.fields import RecordError, check_message_id
from postroom.settings import Settings
from postroom.store.erasure import Selection, erase_messages, select_messages, sha256

MAX_DAYS = 36_500

ReasonOption = Annotated[
    str | None, typer.Option(help="Why (recorded in the audit log): the request's reference, the policy.")
]
ByOption = Annotated[
    str | None, typer.Option(help="Who erases (default: your user name).", envvar="POSTROOM_USER")
]
YesOption = Annotated[bool, typer.Option("--yes", help="Erase. Without it, only say what would be erased.")]
SkipDoccanoOption = Annotated[
    bool,
    typer.Option(
        "--skip-doccano",
        help="Erase the store's copies even though Doccano cannot be reached; its copies stay (listed).",
    ),
]


def _stored_ids(values: list[str]) -> list[str]:
    ids = []
    for value in values:
        try:
            ids.append(check_message_id(value))
        except RecordError as exc:
            raise PostroomError(f"message ID {value[:100]!r}: {exc}") from None
    return ids


def _plan(selection: Selection, projects: dict[int, str]) -> str:
    line = f"{len(selection.message_ids)} message(s) to erase"
    if selection.labeled:
        line += f", {selection.labeled} labeled (training data: trained models keep what they learned)"
    if selection.kept_labeled:
        line += f"; {selection.kept_labeled} labeled message(s) kept (--include-labeled erases them too)"
    if projects:
        shown = ", ".join(f"{n} (id {i})" for i, n in sorted(projects.items()))
        line += f"; copies in Doccano project(s) {shown}"
    return line


def _erase(
    settings: Settings,
    selection: Selection,
    criteria: dict[str, Any],
    reason: str,
    actor: str,
    yes: bool,
    skip_doccano: bool,
    record_ids: bool,
) -> None:
    """Print the plan; with `yes`, erase from Doccano first (so a failure leaves the store's records that
    find the copies), then from the store, with an audit event."""
    sessions = open_sessions(settings)
    with sessions() as session:
        projects = recorded_projects(session, selection.message_ids) if selection.message_ids else {}
    for message_id in selection.not_found:
        err.print(f"[yellow]not in the store[/yellow] {escape(message_id)}", highlight=False)
    if not selection.message_ids:
        kept = f" ({selection.kept_labeled} labeled message(s) kept)" if selection.kept_labeled else ""
        out.print(f"nothing to erase{kept}")
        return
    out.print(_plan(selection, projects), markup=False, highlight=False)
    if not yes:
        out.print("dry run: nothing erased; add --yes to erase")
        return
    left: dict[str, int] = {}
    if projects and skip_doccano:
        left = {f"{n} (id {i})": len(selection.message_ids) for i, n in projects.items()}
        err.print(
            "[yellow]Doccano skipped[/yellow] the copies in "
            + escape(", ".join(left))
            + " stay: delete the examples with the erased message IDs there by hand (the audit event lists "
            "the projects)",
            highlight=False,
        )
    elif projects:
        with client_from_settings(settings) as client:
            for result in erase_from_doccano(client, projects, selection.message_ids):
                state = "" if result.exists else " (the project no longer exists)"
                out.print(
                    f"Doccano {result.project} (id {result.project_id}): {result.examples} example(s) of "
                    f"{result.messages} message(s) deleted{state}",
                    markup=False,
                    highlight=False,
                )
    if left:
        criteria = {**criteria, "doccano_left_in": sorted(left)}
    with sessions() as session:
        event = erase_messages(session, selection.message_ids, actor, reason, criteria, record_ids)
        session.commit()
        event_id = event.id
    out.print(
        f"erased {len(selection.message_ids)} message(s) from the store with their labels, predictions, "
        f"decisions and feedback (audit event {event_id})"
    )


@friendly_errors
def forget(
    message_ids: Annotated[list[str] | None, typer.Argument(help="Message IDs to erase.")] = None,
    sender: Annotated[
        list[str] | None, typer.Option("--sender", help="Erase every message from this address (repeat).")
    ] = None,
    reason: ReasonOption = None,
    by: ByOption = None,
    yes: YesOption = False,
    skip_doccano: SkipDoccanoOption = False,
) -> None:
    """Erase a client's e-mails (a right-to-erasure request): from the store, with everything derived from
    them, and from the Doccano projects they were pushed to. The audit log keeps who, why, how many, and the
    SHA-256 of each erased ID, never the IDs or addresses themselves.

    Example: postroom forget --sender anna.becker@example.org --reason "erasure request 2026-118" --yes
    """
    why = required_reason(reason, '--reason "erasure request 2026-118"')
    actor = named_actor(by, "--by")
    ids = _stored_ids(message_ids or [])
    senders = [s.strip() for s in sender or []]
    if bad := [s for s in senders if "@" not in s]:
        raise PostroomError(f"--sender takes an e-mail address, got {bad[0][:100]!r}")
    if not ids and not senders:
        raise PostroomError("name the messages to erase: message IDs, or --sender ADDRESS")
    settings = load_settings()
    with open_sessions(settings)() as session:
        selection = select_messages(session, ids, senders)
    criteria = {"message_ids": len(ids), "senders_sha256": sorted(sha256(s.lower()) for s in senders)}
    _erase(settings, selection, criteria, why, actor, yes, skip_doccano, record_ids=True)


@friendly_errors
def purge(
    older_than: Annotated[
        int | None, typer.Option(min=1, max=MAX_DAYS, help="Erase messages received more than DAYS ago.")
    ] = None,
    received_before: Annotated[
        str | None, typer.Option(help="Erase messages received before this date (YYYY-MM-DD, UTC).")
    ] = None,
    include_labeled: Annotated[
        bool,
        typer.Option("--include-labeled", help="Erase labeled ones (training data) too; kept by default."),
    ] = False,
    reason: ReasonOption = None,
    by: ByOption = None,
    yes: YesOption = False,
    skip_doccano: SkipDoccanoOption = False,
) -> None:
    """Erase e-mails past their retention: received before a date (ingested before it when the e-mail has
    no date), with everything derived from them, from the store and from Doccano. Labeled messages are the
    training data and are kept unless --include-labeled.

    Example: postroom purge --older-than 365 --reason "retention policy CS-7" --yes
    """
    why = required_reason(reason, '--reason "retention policy CS-7"')
    actor = named_actor(by, "--by")
    if (older_than is None) == (received_before is None):
        raise PostroomError("give one of --older-than DAYS and --received-before YYYY-MM-DD")
    if received_before is not None:
        try:
            cutoff = datetime.combine(date.fromisoformat(received_before), datetime.min.time(), UTC)
        except ValueError:
            shown = repr(received_before[:40])
            raise PostroomError(f"--received-before takes a date YYYY-MM-DD, got {shown}") from None
    else:
        cutoff = datetime.now(UTC) - timedelta(days=older_than or 0)
    settings = load_settings()
    with open_sessions(settings)() as session:
        selection = select_messages(session, received_before=cutoff, keep_labeled=not include_labeled)
    out.print(f"received before {cutoff:%Y-%m-%d %H:%M} UTC", markup=False)
    criteria = {"received_before": cutoff.isoformat(), "include_labeled": include_labeled}
    _erase(settings, selection, criteria, why, actor, yes, skip_doccano, record_ids=False)
