"""`postroom forget` and `postroom purge` on a real store: a dry run by default, the erasure with --yes, bad
input refused with a reason (nothing erased), what retention keeps, the labeling records (per-message ones
go, pull problems lose the erased IDs), and Doccano's copies (a fake client: recorded and configured
projects, a Doccano that fails midway, one that cannot be reached unless --skip-doccano, the leftovers). The
`slow` tests at the end run against a real Doccano (`tests/labeling/conftest.py` starts one)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import labeling.erase_cli
from labeling.doccano import Example, Project
from labeling.erasure import MESSAGE_RECORDS, leftover_message_ids, recorded_projects, scrub_pull_problems
from labeling.errors import DoccanoUnavailable
from labeling.project import open_project
from labeling.sync import EVENT_PULL_PROBLEMS, push_messages
from postroom.settings import get_settings
from postroom.store.erasure import ERASED_EVENT, erase_messages, sha256
from postroom.store.models import AuditEvent, Label, Message
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import bank_mails, store_mails
from tests.labeling.conftest import DoccanoServer, use_doccano

runner = CliRunner()
PROJECT = "bank-project"  # the configured Doccano project (POSTROOM_DOCCANO_PROJECT)


def stored(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Message.message_id)))


def erasures(sessions: sessionmaker[Session]) -> list[dict]:
    with sessions() as session:
        return [e.payload for e in session.scalars(select(AuditEvent).where(AuditEvent.kind == ERASED_EVENT))]


def records(sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with sessions() as session:
        query = select(AuditEvent.kind, AuditEvent.subject).where(AuditEvent.kind.startswith("labeling."))
        return sorted((k, s) for k, s in session.execute(query))


def record(sessions: sessionmaker[Session], kind: str, subject: str, **payload: Any) -> None:
    with sessions.begin() as session:
        session.add(AuditEvent(kind=kind, subject=subject, actor="t", payload=payload))


def pushed(
    sessions: sessionmaker[Session], message_id: str, project: str = PROJECT, project_id: int = 7
) -> None:
    """A message recorded as sent to a Doccano project."""
    for kind in ("labeling.selected", "labeling.pushed"):
        record(sessions, kind, message_id, project=project, project_id=project_id)


def joined(text: str) -> str:
    return " ".join(text.split())


@dataclass
class FakeDoccano:
    """The few calls the erasure makes, on projects held in memory (id -> name, examples)."""

    names: dict[int, str]
    held: dict[int, list[Example]]
    fail_at_delete: int | None = None  # the n-th deletion (from 1) fails as an unreachable Doccano would
    deletions: list[tuple[int, int]] = field(default_factory=list)

    def __enter__(self) -> FakeDoccano:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def find_project(self, name: str) -> Project | None:
        return next((Project(i, n) for i, n in sorted(self.names.items()) if n == name), None)

    def project_exists(self, project_id: int) -> bool:
        return project_id in self.names

    def examples(self, project_id: int) -> Iterator[Example]:
        yield from list(self.held.get(project_id, []))

    def delete_example(self, project_id: int, example_id: int) -> bool:
        if self.fail_at_delete is not None and len(self.deletions) + 1 >= self.fail_at_delete:
            raise DoccanoUnavailable("Doccano at http://doccano.test cannot be reached")
        before = len(self.held[project_id])
        self.held[project_id] = [e for e in self.held[project_id] if e.id != example_id]
        self.deletions.append((project_id, example_id))
        return len(self.held[project_id]) < before

    def message_ids(self, project_id: int) -> list[str]:
        return sorted(e.meta["message_id"] for e in self.held.get(project_id, []))


def fake_doccano(monkeypatch: pytest.MonkeyPatch, projects: dict[int, tuple[str, list[str]]]) -> FakeDoccano:
    """A fake Doccano holding `projects` (id -> name and the message IDs of its examples), used by the CLI."""
    fake = FakeDoccano(
        {i: name for i, (name, _) in projects.items()},
        {
            i: [Example(i * 100 + n, "text", {"message_id": m}) for n, m in enumerate(ids)]
            for i, (_, ids) in projects.items()
        },
    )
    monkeypatch.setattr(labeling.erase_cli, "client_from_settings", lambda settings: fake)
    monkeypatch.setenv("POSTROOM_DOCCANO_PROJECT", PROJECT)
    get_settings.cache_clear()
    return fake


def test_forget_says_what_it_would_erase_then_erases_with_yes(
    cli: typer.Typer, sessions: sessionmaker[Session]
) -> None:
    mails = bank_mails(3)
    store_mails(sessions, mails, with_labels=True)
    first, second = mails[0].message_id, mails[1].message_id
    dry = runner.invoke(cli, ["forget", first, "unknown@x", "--reason", "request 7"])
    assert dry.exit_code == 0, dry.output
    assert "1 message(s) to erase, 1 labeled" in dry.stdout and "dry run: nothing erased" in dry.stdout
    assert "not in the store unknown@x" in dry.stderr
    assert len(stored(sessions)) == 3 and erasures(sessions) == []
    args = ["forget", f"<{first}>", second, "--reason", "request 7", "--by", "lena", "--yes"]
    done = runner.invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "erased 2 message(s) from the store" in done.stdout
    assert stored(sessions) == [mails[2].message_id]
    with sessions() as session:
        assert session.scalar(select(func.count(Label.id))) == len(mails[2].labels)
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == ERASED_EVENT)).one()
        assert event.actor == "lena" and event.payload["reason"] == "request 7"
    again = runner.invoke(cli, ["forget", first, "--reason", "request 7", "--yes"])
    assert again.exit_code == 0 and "nothing to erase" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["forget", "m1"], "--reason is required"),
        (["forget", "m1", "--reason", "  "], "--reason is required"),
        (["forget", "m1", "--reason", "request\x1b[2J 7"], "--reason contains control characters"),
        (["forget", "m1", "--reason", "line one\nline two"], "--reason contains control characters"),
        (["forget", "--reason", "x"], "name the messages to erase"),
        (["forget", "--sender", "nobody", "--reason", "x"], "--sender takes one e-mail address, got no"),
        (["forget", "--sender", "Anna Becker", "--reason", "x"], "got no e-mail address"),
        (["forget", "--sender", "a@example.org, b@example.org", "--reason", "x"], "got 2 addresses"),
        (["forget", "--leftovers", "m1", "--reason", "x"], "--leftovers takes no message IDs"),
        (["forget", "--leftovers", "--skip-doccano", "--reason", "x"], "--leftovers takes no"),
        (["forget", "bad\u0007id", "--reason", "x"], "control character"),
        (["forget", "m1", "--reason", "x", "--by", ""], "--by is empty"),
        (["purge", "--reason", "x"], "give one of --older-than DAYS and --received-before"),
        (["purge", "--older-than", "3", "--received-before", "2026-01-01", "--reason", "x"], "give one of"),
        (["purge", "--received-before", "2026-13-01", "--reason", "x"], "takes a date YYYY-MM-DD"),
        (["purge", "--received-before", "20250101", "--reason", "x"], "takes a date YYYY-MM-DD"),
        (["purge", "--received-before", "2025-W01-1", "--reason", "x"], "takes a date YYYY-MM-DD"),
        (["purge", "--received-before", "2025-01-01T00:00", "--reason", "x"], "takes a date YYYY-MM-DD"),
        (["purge", "--older-than", "0", "--reason", "x"], "--older-than"),
        (["purge", "--older-than", "30"], "--reason is required"),
        (["purge", "--older-than", "30", "--keep-source", " ", "--reason", "x"], "--keep-source takes"),
        (["purge", "--older-than", "30", "--keep-source", "a\tb", "--reason", "x"], "control characters"),
        (
            ["purge", "--older-than", "30", "--include-labeled", "--keep-source", "import", "--reason", "x"],
            "--include-labeled keeps no labeled message",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_erases_nothing(
    cli: typer.Typer, sessions: sessionmaker[Session], args: list[str], message: str
) -> None:
    store_mails(sessions, bank_mails(2), with_labels=True)
    result = runner.invoke(cli, [*args, "--yes"])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert len(stored(sessions)) == 2 and erasures(sessions) == []


def senders_of(sessions: sessionmaker[Session], pairs: dict[str, str]) -> None:
    with sessions.begin() as session:
        for message_id, sender in pairs.items():
            session.execute(update(Message).where(Message.message_id == message_id).values(sender=sender))


def test_forget_reads_a_sender_pasted_from_a_from_header_and_counts_each(
    cli: typer.Typer, sessions: sessionmaker[Session]
) -> None:
    mails = bank_mails(4)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    senders_of(
        sessions,
        {
            ids[0]: "Anna Becker <anna.b@example.org>",
            ids[1]: "ÄNNE Öz <ÄNNE@BEISPIEL.DE>",
            ids[2]: "x@y.example",
        },
    )
    args = ["forget", "--reason", "request 9", "--list"]
    pasted = ["Anna Becker <Anna.B@example.org>", "<änne@beispiel.de>", "mailto:X@Y.example?subject=Konto"]
    pasted.append("no@example.org")
    for value in pasted:
        args += ["--sender", value]
    dry = runner.invoke(cli, args)
    assert dry.exit_code == 0, dry.output
    assert "--sender anna.b@example.org: 1 message(s)" in dry.stdout
    assert "--sender änne@beispiel.de: 1 message(s)" in dry.stdout
    assert "--sender x@y.example: 1 message(s)" in dry.stdout
    assert "--sender no@example.org: 0 message(s)" in dry.stdout
    assert "no message from no@example.org" in dry.stderr
    assert f"{ids[0]}  2026" not in dry.stdout  # bank mails have no date
    assert f"{ids[0]}  no date  Anna Becker <anna.b@example.org>" in dry.stdout  # --list
    assert dry.stdout.index(ids[0]) < dry.stdout.index("3 message(s) to erase")
    done = runner.invoke(cli, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert "no message from no@example.org" in done.stderr
    assert stored(sessions) == [ids[3]]
    (payload,) = erasures(sessions)
    assert "anna" not in str(payload).lower() and ids[0] not in str(payload)
    assert len(payload["criteria"]["senders_sha256"]) == 4


def test_purge_erases_what_is_past_retention_and_keeps_the_training_data(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(7)
    store_mails(sessions, mails[:2], with_labels=True)  # the corpus's labels (source import)
    store_mails(sessions, mails[2:3], with_labels=True, source="feedback")  # a closed case's final classes
    store_mails(sessions, mails[3:])
    ids = [m.message_id for m in mails]
    pushed(sessions, ids[4])  # being labeled: sent to Doccano now, after the cut-off
    pushed(sessions, ids[3])  # sent before the cut-off, and no expert labeled it: not kept
    pushed(sessions, ids[6])  # sent before the cut-off; experts labeled it, their labels conflict: kept
    record(sessions, "labeling.annotations_seen", ids[6], project=PROJECT, project_id=7)
    fake = fake_doccano(monkeypatch, {7: (PROJECT, [ids[3], ids[4], ids[6]])})
    long_ago = datetime(2020, 6, 1, tzinfo=UTC)
    with sessions.begin() as session:  # one without a date: its ingestion counts
        session.execute(update(Message).values(received_at=datetime(2020, 1, 1, tzinfo=UTC)))
        undated = update(Message).where(Message.message_id == ids[5])
        session.execute(undated.values(received_at=None, ingested_at=long_ago))
        old = update(AuditEvent).where(AuditEvent.subject.in_([ids[3], ids[6]]))
        session.execute(old.values(created_at=long_ago))
    args = ["purge", "--received-before", "2021-01-01", "--reason", "policy CS-7"]
    dry = runner.invoke(cli, [*args, "--list"])
    assert dry.exit_code == 0, dry.output
    kept = "kept: 2 message(s) labeled (doccano, import) and 2 message(s) being labeled in Doccano"
    assert kept in joined(dry.stdout)
    assert f"{ids[2]}  2020-01-01 00:00 UTC" in dry.stdout and ids[0] not in dry.stdout
    assert "pull first: 1 of them were sent to Doccano" in joined(dry.stderr)
    result = runner.invoke(cli, [*args, "--yes"])
    assert result.exit_code == 0, result.output
    assert "3 message(s) to erase, 1 labeled" in result.stdout
    assert stored(sessions) == sorted([ids[0], ids[1], ids[4], ids[6]])
    assert fake.message_ids(7) == sorted([ids[4], ids[6]])
    (payload,) = erasures(sessions)
    assert payload["criteria"] == {
        "received_before": "2021-01-01T00:00:00+00:00",
        "include_labeled": False,
        "keep_sources": ["doccano", "import"],
    }
    assert "message_id_sha256" not in payload  # retention records counts, not IDs
    only_feedback = runner.invoke(cli, [*args, "--keep-source", "feedback", "--yes"])
    assert only_feedback.exit_code == 0, only_feedback.output
    kept_two = (
        "kept: 2 message(s) being labeled in Doccano (sent since the cut-off, or labeled there) "
        "(--include-labeled"
    )
    assert kept_two in joined(only_feedback.stdout)
    assert "pull first" not in only_feedback.stderr  # none of those erased was sent to Doccano
    assert stored(sessions) == sorted([ids[4], ids[6]])
    skipping = runner.invoke(cli, [*args, "--include-labeled", "--skip-doccano"])
    assert skipping.exit_code == 0 and "pull first" not in skipping.stderr  # the copies would stay
    everything = runner.invoke(cli, [*args, "--include-labeled", "--yes"])
    assert everything.exit_code == 0 and stored(sessions) == [] and fake.message_ids(7) == []
    assert "pull first: 2 of them were sent to Doccano" in joined(everything.stderr)
    recent = runner.invoke(cli, ["purge", "--older-than", "30", "--reason", "x", "--yes"])
    assert recent.exit_code == 0 and "nothing to erase" in recent.stdout


def test_forget_erases_the_doccano_copies_and_records_of_an_id_the_store_no_longer_holds(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client's ID that is not in the store (erased with --skip-doccano, records lost, never ingested here)
    may still have a copy in the configured project and be named by labeling records: those go."""
    mails = bank_mails(2)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    gone = "client-7@mail.example"
    pushed(sessions, ids[0])  # Doccano is in use
    record(sessions, "labeling.annotations_seen", gone, project=PROJECT, project_id=7)
    problems = {"conflicting": {"count": 2, "message_ids": [gone, ids[1]]}}
    record(sessions, EVENT_PULL_PROBLEMS, PROJECT, project=PROJECT, project_id=7, problems=problems)
    fake = fake_doccano(monkeypatch, {7: (PROJECT, [ids[0], gone])})
    dry = runner.invoke(cli, ["forget", gone, "--reason", "request 12"])
    assert dry.exit_code == 0, dry.output
    assert f"not in the store {gone}" in dry.stderr
    plan = "0 message(s) to erase; 1 ID(s) not in the store: their Doccano copies and labeling records go too"
    assert plan in joined(dry.stdout) and fake.deletions == []
    skipped = runner.invoke(cli, ["forget", gone, "--reason", "request 12", "--skip-doccano", "--yes"])
    assert skipped.exit_code == 0, skipped.output
    assert f"the configured project {PROJECT} was not searched for copies without a record" in joined(
        skipped.stderr
    )
    assert "stay" not in skipped.stderr and fake.message_ids(7) == sorted([ids[0], gone])
    done = runner.invoke(cli, ["forget", gone, "--reason", "request 12", "--yes"])
    assert done.exit_code == 0, done.output
    assert f"Doccano {PROJECT} (id 7): 1 example(s) of 1 message(s) deleted" in done.stdout
    assert "erased 0 message(s) from the store" in joined(done.stdout)
    assert "1 ID(s) not in the store looked for in Doccano and the labeling records" in joined(done.stdout)
    assert fake.message_ids(7) == [ids[0]] and stored(sessions) == ids
    assert all(subject != gone for _, subject in records(sessions))
    with sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == EVENT_PULL_PROBLEMS)).one()
        assert event.payload["problems"] == {"conflicting": {"count": 1, "message_ids": [ids[1]]}}
    last = erasures(sessions)[-1]
    assert last["messages"] == 0 and last["criteria"]["not_in_store"] == 1
    assert last["message_id_sha256"] == [sha256(gone)]


def test_an_id_forgotten_without_doccano_is_searched_for_later_even_when_its_records_were_the_last(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--skip-doccano` may erase the store's last labeling record: Doccano still counts as in use, so the
    same `forget`, once Doccano answers, searches the configured project as the warning said."""
    gone = "client-8@mail.example"
    record(sessions, "labeling.annotations_seen", gone, project=PROJECT, project_id=7)
    fake = fake_doccano(monkeypatch, {7: (PROJECT, [gone])})
    args = ["forget", gone, "--reason", "request 13", "--yes"]
    skipped = runner.invoke(cli, [*args, "--skip-doccano"])
    assert skipped.exit_code == 0 and "was not searched" in joined(skipped.stderr), skipped.output
    assert records(sessions) == [] and fake.message_ids(7) == [gone]
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert f"Doccano {PROJECT} (id 7): 1 example(s) of 1 message(s) deleted" in again.stdout
    assert fake.message_ids(7) == []
    assert [e["criteria"]["message_ids"] for e in erasures(sessions)] == [1, 1]
    twice = runner.invoke(cli, ["forget", gone, f"<{gone}>", "--reason", "request 13", "--yes"])
    assert twice.exit_code == 0 and erasures(sessions)[-1]["criteria"]["message_ids"] == 1  # one ID


def test_erasure_deletes_the_per_message_records_and_scrubs_the_pull_problems(
    cli: typer.Typer, sessions: sessionmaker[Session], taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`label status` no longer names an erased message; project-level records stay."""
    mails = bank_mails(7)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    gone, kept = ids[0], ids[1]
    for kind in MESSAGE_RECORDS:
        record(sessions, kind, gone, project=PROJECT, project_id=7)
    record(sessions, "labeling.pushed", kept, project=PROJECT, project_id=7)
    problems = {
        "conflicting": {"count": 7, "message_ids": [gone, *ids[2:6]]},
        "duplicate": {"count": 1, "message_ids": [gone]},
        "not_in_store": {"count": 1, "message_ids": ["example 12"]},
    }
    record(sessions, EVENT_PULL_PROBLEMS, PROJECT, project=PROJECT, project_id=7, problems=problems)
    record(sessions, "labeling.annotator_dropped", "lena", project=PROJECT, project_id=7, messages=3)
    fake = fake_doccano(monkeypatch, {7: (PROJECT, [gone, kept])})
    before = runner.invoke(cli, ["label", "status"])
    assert gone in before.stdout
    done = runner.invoke(cli, ["forget", gone, "--reason", "request 10", "--yes"])
    assert done.exit_code == 0, done.output
    assert fake.message_ids(7) == [kept]
    assert records(sessions) == sorted(
        [
            ("labeling.annotator_dropped", "lena"),
            ("labeling.pull_problems", PROJECT),
            ("labeling.pushed", kept),
        ]
    )
    with sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == EVENT_PULL_PROBLEMS)).one()
        assert event.payload["problems"] == {
            "conflicting": {"count": 6, "message_ids": ids[2:6]},
            "not_in_store": {"count": 1, "message_ids": ["example 12"]},
        }
    status = runner.invoke(cli, ["label", "status"])
    assert status.exit_code == 0, status.output
    assert gone not in status.stdout and "conflicting (two labels of a set, or annotators disagree): 6" in (
        joined(status.stdout)
    )


def test_copies_are_found_through_selected_records_and_the_configured_project(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push that Doccano interrupted leaves only `labeling.selected`; a lost record leaves none, and the
    configured project is searched whenever the store holds labeling records."""
    mails = bank_mails(4)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    record(sessions, "labeling.selected", ids[0], project="older-project", project_id=3)
    record(sessions, "labeling.pushed", ids[3], project=PROJECT, project_id=9)  # Doccano is in use
    held = {3: ("older-project", [ids[0], ids[3]]), 9: (PROJECT, [ids[1], ids[3]])}
    fake = fake_doccano(monkeypatch, held)
    dry = runner.invoke(cli, ["forget", ids[0], ids[1], "--reason", "request 11"])
    assert dry.exit_code == 0, dry.output
    assert (
        "copies in Doccano project(s) older-project (id 3: 1 message(s)), "
        f"{PROJECT} (the configured project: any copies without a record)"
    ) in joined(dry.stdout)
    assert fake.deletions == []
    done = runner.invoke(cli, ["forget", ids[0], ids[1], "--reason", "request 11", "--yes"])
    assert done.exit_code == 0, done.output
    assert "Doccano older-project (id 3): 1 example(s) of 1 message(s) deleted" in done.stdout
    assert f"Doccano {PROJECT} (id 9): 1 example(s) of 1 message(s) deleted" in done.stdout
    assert fake.message_ids(3) == [ids[3]] and fake.message_ids(9) == [ids[3]]


def test_no_labeling_record_no_doccano(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store without labeling records has never used Doccano: it is not asked (it may not exist)."""
    mails = bank_mails(1)
    store_mails(sessions, mails)
    fake = fake_doccano(monkeypatch, {9: (PROJECT, [mails[0].message_id])})
    done = runner.invoke(cli, ["forget", mails[0].message_id, "--reason", "r", "--yes"])
    assert done.exit_code == 0 and "Doccano" not in done.output
    assert fake.message_ids(9) == [mails[0].message_id]


def test_doccano_failing_midway_says_how_far_it_got_and_leaves_the_store(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(3)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    for message_id in ids:
        pushed(sessions, message_id)
    fake = fake_doccano(monkeypatch, {7: (PROJECT, ids)})
    fake.fail_at_delete = 2
    args = ["forget", *ids[:2], "--reason", "request 12", "--yes"]
    failed = runner.invoke(cli, args)
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    message = joined(failed.stderr)
    assert "Doccano failed after 1 example(s) were deleted: Doccano at http://doccano.test" in message
    assert "the store is untouched: run the same command again when Doccano answers" in message
    assert "or add --skip-doccano" in message
    assert stored(sessions) == ids and erasures(sessions) == []
    fake.fail_at_delete = None
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert f"Doccano {PROJECT} (id 7): 1 example(s) of 1 message(s) deleted" in again.stdout
    assert fake.message_ids(7) == [ids[2]] and stored(sessions) == [ids[2]]


def test_a_store_failure_after_doccano_says_so_without_a_traceback_or_parameters(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(2)
    store_mails(sessions, mails)
    gone = mails[0].message_id
    pushed(sessions, gone)
    fake = fake_doccano(monkeypatch, {7: (PROJECT, [gone])})

    def locked(*_: object, **__: object) -> None:
        cause = sqlite3.OperationalError("database is locked\nDETAIL: Key (message_id)=(secret-id)")
        raise OperationalError("DELETE FROM messages WHERE message_id IN (?)", {"id": "secret-id"}, cause)

    monkeypatch.setattr(labeling.erase_cli, "erase_messages", locked)
    failed = runner.invoke(cli, ["forget", gone, "--reason", "request 13", "--yes"])
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    assert "secret-id" not in failed.output and "DELETE FROM" not in failed.output
    assert (
        "the Doccano copies are deleted (1 example(s)); erasing from the store failed (OperationalError: "
        "database is locked): run the same command again"
    ) in joined(failed.stderr)
    assert fake.message_ids(7) == [] and stored(sessions) == sorted(m.message_id for m in mails)
    assert ("labeling.pushed", gone) in records(sessions)  # rolled back with the rest
    monkeypatch.setattr(labeling.erase_cli, "erase_messages", erase_messages)
    again = runner.invoke(cli, ["forget", gone, "--reason", "request 13", "--yes"])
    assert again.exit_code == 0 and stored(sessions) == [mails[1].message_id]


def test_copies_in_a_doccano_that_cannot_be_reached_stop_the_erasure_unless_skipped(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(3)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    pushed(sessions, ids[0], "postroom-bank", 7)
    pushed(sessions, ids[1], "postroom-bank", 7)
    pushed(sessions, ids[1], "second", 8)
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://127.0.0.1:9")  # nothing listens there
    get_settings.cache_clear()
    args = ["forget", ids[0], ids[1], "--reason", "request 8", "--yes"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "copies in Doccano project(s) postroom-bank (id 7: 2 message(s)), second (id 8: 1 message(s))" in (
        refused.stdout
    )
    assert "127.0.0.1:9" in refused.output  # the error says which Doccano could not be reached
    assert "Doccano failed after 0 example(s) were deleted" in joined(refused.stderr)
    assert len(stored(sessions)) == 3 and erasures(sessions) == []
    skipped = runner.invoke(cli, [*args, "--skip-doccano"])
    assert skipped.exit_code == 0, skipped.output
    assert (
        "Doccano skipped: the copies in postroom-bank (id 7: 2 message(s)), second (id 8: 1 message(s)) stay"
    ) in joined(skipped.stderr)
    assert (
        "Doccano skipped: the configured project postroom-nordhafen-bank was not searched for copies without "
        "a record"
    ) in joined(skipped.stderr)
    assert "postroom forget --leftovers" in joined(skipped.stderr)
    assert stored(sessions) == [ids[2]]
    (payload,) = erasures(sessions)
    assert payload["criteria"]["doccano_left_in"] == [
        {"project": "postroom-bank", "project_id": 7, "messages": 2},
        {"project": "second", "project_id": 8, "messages": 1},
        {"project": "postroom-nordhafen-bank", "project_id": None, "messages": None},
    ]
    assert ("labeling.pushed", ids[0]) in records(sessions)  # kept: they find the copies


def test_leftovers_erases_the_copies_and_records_that_skip_doccano_left(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(3)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    for message_id in ids:
        pushed(sessions, message_id)
    record(sessions, "labeling.annotations_seen", ids[1], project=PROJECT, project_id=7)
    # a pull saw an expert's example of a message this store never held (another environment's): never a
    # leftover, its work is not erased by mistake
    record(sessions, "labeling.annotations_seen", "foreign-1", project=PROJECT, project_id=7)
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    skipped = runner.invoke(cli, ["forget", *ids[:2], "--reason", "request 14", "--yes", "--skip-doccano"])
    assert skipped.exit_code == 0, skipped.output
    with sessions() as session:
        assert leftover_message_ids(session) == ids[:2]
    fake = fake_doccano(monkeypatch, {7: (PROJECT, [*ids, "foreign-1"])})
    status = runner.invoke(cli, ["label", "status"])  # erased messages await no expert
    assert "1 pushed messages await an expert" in joined(status.stdout), status.output
    dry = runner.invoke(cli, ["forget", "--leftovers", "--list", "--reason", "request 14"])
    assert dry.exit_code == 0, dry.output
    assert f"{ids[0]}  (not in the store)" in dry.stdout
    assert "2 message(s) named by labeling records but no longer in the store" in joined(dry.stdout)
    assert fake.deletions == []
    done = runner.invoke(cli, ["forget", "--leftovers", "--reason", "request 14", "--yes"])
    assert done.exit_code == 0, done.output
    assert f"Doccano {PROJECT} (id 7): 2 example(s) of 2 message(s) deleted" in done.stdout
    assert sorted(fake.message_ids(7)) == sorted([ids[2], "foreign-1"])
    assert records(sessions) == [
        ("labeling.annotations_seen", "foreign-1"),
        ("labeling.pushed", ids[2]),
        ("labeling.selected", ids[2]),
    ]
    payload = erasures(sessions)[-1]
    assert payload["messages"] == 0 and payload["criteria"] == {"leftovers": 2}
    assert len(payload["message_id_sha256"]) == 2
    none = runner.invoke(cli, ["forget", "--leftovers", "--reason", "request 14", "--yes"])
    assert none.exit_code == 0 and "no leftovers" in none.stdout


def test_recorded_projects_count_each_projects_own_messages(sessions: sessionmaker[Session]) -> None:
    pushed(sessions, "a", "p", 1)
    pushed(sessions, "b", "p", 1)
    pushed(sessions, "b", "q", 2)
    record(sessions, "labeling.upload_queued", "c", project="q", project_id=2)
    record(sessions, "labeling.annotations_seen", "d", project="r", project_id=3)  # not a copy's record
    with sessions() as session:
        found = recorded_projects(session, ["a", "b", "c", "d"])
    assert {i: (p.name, sorted(p.message_ids)) for i, p in found.items()} == {
        1: ("p", ["a", "b"]),
        2: ("q", ["b", "c"]),
    }


def test_scrubbing_pull_problems_drops_an_emptied_kind(sessions: sessionmaker[Session]) -> None:
    problems = {
        "duplicate": {"count": 2, "message_ids": ["a", "b"]},
        "incomplete": {"count": 1, "message_ids": ["a"]},
    }
    record(sessions, EVENT_PULL_PROBLEMS, "p", project="p", project_id=1, problems=problems)
    with sessions.begin() as session:
        assert scrub_pull_problems(session, ["a"]) == 1
        assert scrub_pull_problems(session, ["zzz"]) == 0
    with sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == EVENT_PULL_PROBLEMS)).one()
        assert event.payload["problems"] == {"duplicate": {"count": 1, "message_ids": ["b"]}}


@pytest.mark.slow
def test_forget_deletes_the_copies_in_a_real_doccano(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pushed for labeling, labeled by an expert, then a client asks for erasure: the example goes from the
    project with its label, the others stay; a second run looks again and deletes nothing."""
    mails = bank_mails(3)
    store_mails(sessions, mails)
    gone = mails[0].message_id
    with doccano.admin() as admin:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        layout = open_project(admin, taxonomy, project_name)
        example = next(e for e in admin.examples(layout.id) if e.meta["message_id"] == gone)
        admin.add_category(layout.id, example.id, next(iter(layout.label_ids.values())))
    use_doccano(monkeypatch, doccano, project_name)
    result = runner.invoke(cli, ["forget", gone, "--reason", "erasure request 2026-118", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"Doccano {project_name} (id {layout.id}): 1 example(s) of 1 message(s) deleted" in result.stdout
    with doccano.admin() as admin:
        left = sorted(e.meta["message_id"] for e in admin.examples(layout.id))
    assert left == sorted(m.message_id for m in mails[1:])
    assert stored(sessions) == sorted(m.message_id for m in mails[1:])
    again = runner.invoke(cli, ["forget", gone, "--reason", "erasure request 2026-118", "--yes"])
    assert again.exit_code == 0, again.output
    assert f"Doccano {project_name} (id {layout.id}): 0 example(s) of 0 message(s) deleted" in again.stdout
    assert "0 message(s) to erase; 1 ID(s) not in the store" in joined(again.stdout)


@pytest.mark.slow
def test_forget_finds_copies_without_a_push_record_in_a_real_doccano(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy whose records are lost is found in the configured project; one with only `labeling.selected`
    (a push that Doccano interrupted before it was confirmed) through that record's project."""
    mails = bank_mails(3)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    with doccano.admin() as admin:
        push_messages(sessions, admin, taxonomy, project_name, ids)
        project_id = open_project(admin, taxonomy, project_name).id
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.subject == ids[0]))
        unconfirmed = ["labeling.pushed", "labeling.upload_queued"]
        confirmed = delete(AuditEvent).where(AuditEvent.subject == ids[1], AuditEvent.kind.in_(unconfirmed))
        session.execute(confirmed)
    use_doccano(monkeypatch, doccano, project_name)
    for message_id in ids[:2]:
        result = runner.invoke(cli, ["forget", message_id, "--reason", "erasure request 2026-120", "--yes"])
        assert result.exit_code == 0, result.output
        deleted = f"Doccano {project_name} (id {project_id}): 1 example(s) of 1 message(s) deleted"
        assert deleted in result.stdout
    with doccano.admin() as admin:
        assert [e.meta["message_id"] for e in admin.examples(project_id)] == [ids[2]]
    assert stored(sessions) == [ids[2]]


@pytest.mark.slow
def test_purge_keeps_what_is_being_labeled_in_a_real_doccano(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Retention leaves the experts' work alone: pushed messages stay in the store and in Doccano until
    --include-labeled, which erases both."""
    mails = bank_mails(4)
    store_mails(sessions, mails)
    ids = [m.message_id for m in mails]
    with doccano.admin() as admin:
        push_messages(sessions, admin, taxonomy, project_name, ids[:2])
        project_id = open_project(admin, taxonomy, project_name).id
    with sessions.begin() as session:
        session.execute(update(Message).values(received_at=datetime(2020, 1, 1, tzinfo=UTC)))
    use_doccano(monkeypatch, doccano, project_name)
    args = ["purge", "--received-before", "2021-01-01", "--reason", "retention policy CS-7", "--yes"]
    kept = runner.invoke(cli, args)
    assert kept.exit_code == 0, kept.output
    assert "kept: 2 message(s) being labeled in Doccano" in joined(kept.stdout)
    assert f"Doccano {project_name} (id {project_id}): 0 example(s) of 0 message(s) deleted" in kept.stdout
    assert stored(sessions) == ids[:2]
    with doccano.admin() as admin:
        assert sorted(e.meta["message_id"] for e in admin.examples(project_id)) == ids[:2]
    everything = runner.invoke(cli, [*args, "--include-labeled"])
    assert everything.exit_code == 0, everything.output
    deleted = f"Doccano {project_name} (id {project_id}): 2 example(s) of 2 message(s) deleted"
    assert deleted in everything.stdout
    assert stored(sessions) == [] and [r for r in records(sessions) if r[1] in ids] == []
    with doccano.admin() as admin:
        assert list(admin.examples(project_id)) == []
