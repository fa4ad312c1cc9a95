"""`postroom show ID`: one stored message as a person checks the cleaner's work on it, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.store.models import Message, Prediction, RoutingDecision
from tests.ingest.builders import email_bytes

runner = CliRunner()
register_components()

BODY = (
    "Hello,\n\nplease block my card, it was stolen this morning.\n\nBest regards,\nAnna Becker\n"
    "Senior Analyst | Example Corp\nPhone +49 40 1234567\n\n"
    "On Mon, 2 Mar 2026 at 09:00, Service <service@bank.example> wrote:\n> Dear client,\n> thank you."
)


def test_show_prints_what_the_models_read_and_what_the_cleaner_removed(
    engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "card.eml"
    source.write_bytes(email_bytes("<card-1@mail.example>", BODY, subject="Card stolen"))
    assert runner.invoke(app, ["ingest", str(source)]).exit_code == 0

    shown = runner.invoke(app, ["show", "<card-1@mail.example>", "--lines", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["message_id"] == "card-1@mail.example" and data["subject"] == "Card stolen"
    assert data["sender"] == "Anna Becker <anna@example.com>"
    assert data["received_at"] == "2026-03-02T09:30:00Z"
    assert data["model_text"].startswith("Card stolen\nHello,")
    assert "stolen this morning" in data["model_text"]
    assert "Phone +49" not in data["model_text"] and "thank you" not in data["model_text"]
    removed = data["cleaning"]["removed_lines"]
    assert removed.get("quote", 0) >= 2 and removed.get("signature", 0) >= 1, removed
    kinds = {line["text"]: line["kind"] for line in data["lines"]}
    assert kinds["please block my card, it was stolen this morning."] == "body"
    assert kinds["> thank you."] == "quote" and kinds["Phone +49 40 1234567"] == "signature"
    assert data["latest_prediction"] is None and data["labels"] == []

    with Session(engine) as session:  # classified: the newest prediction and its decision are shown
        message = session.scalar(select(Message).where(Message.message_id == "card-1@mail.example"))
        assert message is not None
        prediction = Prediction(
            message_pk=message.id,
            model_version="v0003",
            variant="onnx-int8",
            results={"topic": {"class": "card_replacement", "probability": 0.91}},
        )
        session.add(prediction)
        session.flush()
        session.add(
            RoutingDecision(
                prediction_pk=prediction.id, message_pk=message.id, decision="human", queue="cards"
            )
        )
        session.commit()
    shown = runner.invoke(app, ["show", "card-1@mail.example", "--json"])
    latest = json.loads(shown.stdout)["latest_prediction"]
    assert latest["model_version"] == "v0003" and latest["decision"]["queue"] == "cards"
    assert latest["predictions"] == {"topic": {"class": "card_replacement", "probability": 0.91}}

    table = runner.invoke(app, ["show", "card-1@mail.example", "--lines"])
    assert table.exit_code == 0, table.output
    assert "what the models read" in table.stdout and "- quote      > thank you." in table.stdout
    assert "removed lines: " in table.stdout and "+ body       please block my card" in table.stdout
    assert ": topic card_replacement 0.91; human (cards)" in table.stdout


def test_show_of_an_unknown_or_impossible_id_is_one_line(engine: Engine) -> None:
    cases = [("nope@x", "no stored message has the ID 'nope@x'"), ("a\nb", "no stored message can")]
    for given, reason in cases:
        result = runner.invoke(app, ["show", given])
        assert result.exit_code == 1 and reason in result.stderr and "Traceback" not in result.output


def test_show_never_sends_a_clients_control_characters_to_the_terminal(
    engine: Engine, tmp_path: Path
) -> None:
    """An email can carry ANSI or OSC escapes (recolour, retitle, write the clipboard): shown as text."""
    source = tmp_path / "esc.jsonl"
    subject, body = "hi \u001b]0;pwned\u0007 there", "Hello \u001b[31mRED"
    record = {"message_id": "esc-1", "subject": subject, "body": body}
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert runner.invoke(app, ["ingest", str(source)]).exit_code == 0
    shown = runner.invoke(app, ["show", "esc-1", "--lines"])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b[31mRED" in shown.stdout  # written out, readable, the bracket as it is (no markup, no \\[)
