"""`postroom audit`: the audit log on a real store (SQLite and PostgreSQL), newest first, filtered by kind,
kind prefix and date; markup in a subject printed as text; bad input one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.store.models import AuditEvent

runner = CliRunner()
register_components()


@pytest.fixture
def events(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add_all(
            [
                AuditEvent(
                    kind="model.promoted",
                    subject="v0002",
                    actor="lena",
                    payload={"reason": "card read", "stage": "production"},
                    created_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
                ),
                AuditEvent(kind="labeling.pushed", subject="[red]m1[/red]", actor="postroom", payload={}),
                AuditEvent(kind="labeling.pulled", subject="bank", actor="postroom", payload={"added": 3}),
                AuditEvent(
                    kind="messages.erased",
                    actor="omar",
                    payload={
                        "reason": "request 7",
                        "messages": 2,
                        "criteria": {"message_ids": 2, "doccano_left_in": [{"project": "bank"}]},
                    },
                ),
            ]
        )


def test_the_log_newest_first_with_its_details(events: None) -> None:
    result = runner.invoke(app, ["audit"])
    assert result.exit_code == 0, result.output
    lines = result.stdout
    assert lines.index("messages.erased") < lines.index("labeling.pulled") < lines.index("model.promoted")
    assert "request 7; messages=2; message_ids=2; doccano_left_in: 1" in lines  # what an erasure left
    assert "card read; stage=production" in lines
    assert "[red]m1[/red]" in lines  # a subject is text, never markup


def test_filters_by_kind_prefix_and_date(events: None) -> None:
    data = json.loads(runner.invoke(app, ["audit", "--kind", "labeling.*", "--json"]).stdout)
    assert [e["kind"] for e in data["events"]] == ["labeling.pulled", "labeling.pushed"]
    erased = json.loads(runner.invoke(app, ["audit", "--kind", "messages.erased", "--json"]).stdout)["events"]
    assert len(erased) == 1 and erased[0]["payload"]["criteria"]["doccano_left_in"] == [{"project": "bank"}]
    assert erased[0]["created_at"].endswith("Z")
    recent = json.loads(runner.invoke(app, ["audit", "--since", "2026-11-02", "--json"]).stdout)["events"]
    assert "model.promoted" not in {e["kind"] for e in recent} and len(recent) == 3
    assert len(json.loads(runner.invoke(app, ["audit", "--limit", "1", "--json"]).stdout)["events"]) == 1
    none = runner.invoke(app, ["audit", "--kind", "model.approved"])
    assert none.exit_code == 0 and "no audit event of kind model.approved" in none.stdout
    assert "(kinds in the log: labeling.pulled, labeling.pushed, messages.erased, model.promoted)" in (
        " ".join(none.stdout.split())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "--since takes a date YYYY-MM-DD"),
        (["--since", "20261101"], "--since takes a date YYYY-MM-DD"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_input_is_one_line(events: None, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["audit", *args])
    assert result.exit_code in (1, 2) and message in result.output and "Traceback" not in result.output
