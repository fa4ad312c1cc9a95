"""`postroom forget` and `postroom purge` on a real store: a dry run by default, the erasure with --yes, bad
input refused with a reason (nothing erased), and Doccano's copies: refused while it cannot be reached unless
--skip-doccano (then listed). The round trip with a real Doccano is in test_roundtrip.py (slow)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import typer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from labeling.project import open_project
from labeling.sync import push_messages
from postroom.settings import get_settings
from postroom.store.erasure import ERASED_EVENT
from postroom.store.models import AuditEvent, Label, Message
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import bank_mails, store_mails
from tests.labeling.conftest import DoccanoServer, use_doccano

runner = CliRunner()


def stored(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Message.message_id)))


def erasures(sessions: sessionmaker[Session]) -> list[dict]:
    with sessions() as session:
        return [e.payload for e in session.scalars(select(AuditEvent).where(AuditEvent.kind == ERASED_EVENT))]


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
        (["forget", "--reason", "x"], "name the messages to erase"),
        (["forget", "--sender", "nobody", "--reason", "x"], "--sender takes an e-mail address"),
        (["forget", "bad\u0007id", "--reason", "x"], "control character"),
        (["forget", "m1", "--reason", "x", "--by", ""], "--by is empty"),
        (["purge", "--reason", "x"], "give one of --older-than DAYS and --received-before"),
        (["purge", "--older-than", "3", "--received-before", "2026-01-01", "--reason", "x"], "give one of"),
        (["purge", "--received-before", "2026-13-01", "--reason", "x"], "takes a date YYYY-MM-DD"),
        (["purge", "--older-than", "0", "--reason", "x"], "--older-than"),
        (["purge", "--older-than", "30"], "--reason is required"),
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


def test_purge_erases_what_is_past_retention_and_keeps_the_training_data(
    cli: typer.Typer, sessions: sessionmaker[Session]
) -> None:
    mails = bank_mails(4)
    store_mails(sessions, mails[:2], with_labels=True)
    store_mails(sessions, mails[2:])
    with sessions.begin() as session:  # one without a date: its ingestion counts
        session.execute(update(Message).values(received_at=datetime(2020, 1, 1, tzinfo=UTC)))
        undated = update(Message).where(Message.message_id == mails[3].message_id)
        session.execute(undated.values(received_at=None))
    args = ["purge", "--received-before", "2999-01-01", "--reason", "policy CS-7", "--yes"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2 labeled message(s) kept" in result.stdout
    assert stored(sessions) == sorted(m.message_id for m in mails[:2])
    (payload,) = erasures(sessions)
    assert payload["criteria"] == {"received_before": "2999-01-01T00:00:00+00:00", "include_labeled": False}
    assert "message_id_sha256" not in payload  # retention records counts, not IDs
    everything = runner.invoke(
        cli, ["purge", "--received-before", "2999-01-01", "--include-labeled", "--reason", "x", "--yes"]
    )
    assert everything.exit_code == 0 and stored(sessions) == []
    recent = runner.invoke(cli, ["purge", "--older-than", "30", "--reason", "x", "--yes"])
    assert recent.exit_code == 0 and "nothing to erase" in recent.stdout


def test_copies_in_a_doccano_that_cannot_be_reached_stop_the_erasure_unless_skipped(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(2)
    store_mails(sessions, mails)
    with sessions.begin() as session:
        session.add(
            AuditEvent(
                kind="labeling.pushed",
                subject=mails[0].message_id,
                actor="t",
                payload={"project": "postroom-bank", "project_id": 7, "example_id": 70},
            )
        )
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://127.0.0.1:9")  # nothing listens there
    get_settings.cache_clear()
    args = ["forget", mails[0].message_id, "--reason", "request 8", "--yes"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "copies in Doccano project(s) postroom-bank (id 7)" in refused.stdout
    assert "127.0.0.1:9" in refused.output  # the error says which Doccano could not be reached
    assert len(stored(sessions)) == 2 and erasures(sessions) == []
    skipped = runner.invoke(cli, [*args, "--skip-doccano"])
    assert skipped.exit_code == 0, skipped.output
    assert "Doccano skipped the copies in postroom-bank (id 7) stay" in " ".join(skipped.stderr.split())
    assert stored(sessions) == [mails[1].message_id]
    (payload,) = erasures(sessions)
    assert payload["criteria"]["doccano_left_in"] == ["postroom-bank (id 7)"]


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
    project with its label, the others stay; a second run finds nothing."""
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
    assert again.exit_code == 0 and "nothing to erase" in again.stdout
