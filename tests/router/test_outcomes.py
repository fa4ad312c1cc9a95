"""How routed messages turned out (`router.outcomes`, `postroom outcomes`): accuracy per label set and model,
where each queue's messages belonged, one count per decision, the window."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store import Feedback, Message, Prediction, RoutingDecision
from postroom.store.models import utcnow
from postroom.taxonomy import Taxonomy
from router.feedback import record_feedback
from router.outcomes import routing_outcomes

runner = CliRunner()
register_components()


def routed(
    session: Session,
    message_id: str,
    model: str,
    topic: str,
    queue: str,
    sent_to: str | None = None,
    decision: str = "human",
) -> Message:
    """A stored message that `model` classified (topic, queue) and sent to `sent_to` (default: its queue),
    or answered automatically (`decision`)."""
    message = ingest_one(session, IncomingMessage(message_id, f"Bitte {message_id}", "text", "test")).message
    session.flush()
    prediction = Prediction(
        message_pk=message.id,
        model_version=model,
        variant="onnx-int8",
        results={"topic": {"class": topic, "probability": 0.9},
                 "queue": {"class": queue, "probability": 0.7}},
    )
    session.add(prediction)
    session.flush()
    session.add(
        RoutingDecision(
            prediction_pk=prediction.id, message_pk=message.id, decision=decision, queue=sent_to or queue
        )
    )
    session.flush()
    return message


def closed(session: Session, taxonomy: Taxonomy, message: Message, **final: str) -> None:
    record_feedback(session, taxonomy, message, final, None, "agent7")


def test_accuracy_per_label_set_and_where_each_queues_messages_belonged(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        old = routed(session, "o1", "v0001", "card_replacement", "cards")
        closed(session, taxonomy, old, topic="card_replacement", queue="cards")
        for i, (topic, queue, final_queue) in enumerate(
            [
                ("card_replacement", "cards", "cards"),
                ("card_replacement", "cards", "payments"),
                ("transfer_status", "payments", "payments"),
                ("transfer_status", "payments", "cards"),
            ]
        ):
            message = routed(session, f"n{i}", "v0002", topic, queue)
            closed(session, taxonomy, message, topic="card_replacement", queue=final_queue)
        unsure = routed(session, "t1", "v0002", "transfer_status", "payments", sent_to="triage")
        closed(session, taxonomy, unsure, queue="payments")  # a report of the queue only
        answered = routed(session, "a1", "v0002", "card_replacement", "cards", decision="auto_reply")
        closed(session, taxonomy, answered, topic="card_replacement", queue="cards")  # judged, sent nowhere
        session.commit()
        result = routing_outcomes(session, taxonomy, 30)
    assert [m.model_version for m in result.models] == ["v0002", "v0001"]  # newest first
    new, older = result.models
    sets = {s.label_set: s for s in new.label_sets}
    assert (sets["topic"].judged, sets["topic"].right) == (5, 3)
    assert (sets["queue"].judged, sets["queue"].right) == (6, 4)  # triage's message: predicted payments
    assert "line_of_business" not in sets  # no feedback named it
    low, high = sets["topic"].interval  # 3 of 5: Clopper-Pearson 95 %
    assert low == pytest.approx(0.1466, abs=1e-4) and high == pytest.approx(0.9473, abs=1e-4)
    queues = {q.queue: (q.sent, q.belonged, q.went_to) for q in new.queues}
    assert queues == {
        "cards": (2, 1, {"payments": 1}),
        "payments": (2, 1, {"cards": 1}),
        "triage": (1, None, {"payments": 1}),  # triage is no final queue: where unsure messages belonged
    }
    assert new.auto_replied == 1  # a1: with the 5 sent, the 6 whose queue was judged
    assert sum(q.sent for q in new.queues) + new.auto_replied == sets["queue"].judged
    assert older.auto_replied == 0
    everything = {s.label_set: (s.judged, s.right) for s in older.label_sets}
    assert everything == {"topic": (1, 1), "queue": (1, 1)}
    (only,) = [s for s in older.label_sets if s.label_set == "topic"]
    assert only.interval == (pytest.approx(0.025), 1.0)  # 1 of 1: the lower bound is 0.025^(1/1)


def test_a_decision_counts_once_per_label_set_with_its_latest_feedback(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        message = routed(session, "m1", "v0001", "card_replacement", "cards")
        closed(session, taxonomy, message, topic="transfer_status", queue="payments")
        closed(session, taxonomy, message, topic="card_replacement", queue="cards")  # corrected
        closed(session, taxonomy, message, queue="cards")  # a retry of one set keeps the other's outcome
        session.commit()
        (model,) = routing_outcomes(session, taxonomy, 30).models
    assert {s.label_set: (s.judged, s.right) for s in model.label_sets} == {"topic": (1, 1), "queue": (1, 1)}
    assert [(q.queue, q.sent, q.belonged) for q in model.queues] == [("cards", 1, 1)]


def test_only_feedback_in_the_window_counts(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    with sessions() as session:
        closed(session, taxonomy, routed(session, "old", "v0001", "card_replacement", "cards"), queue="cards")
        session.flush()
        session.execute(update(Feedback).values(created_at=utcnow() - timedelta(days=10)))
        closed(session, taxonomy, routed(session, "new", "v0001", "card_replacement", "cards"), queue="cards")
        session.commit()
        week = routing_outcomes(session, taxonomy, 7).models[0]
        month = routing_outcomes(session, taxonomy, 30).models[0]
    assert week.label_sets[0].judged == 1 and month.label_sets[0].judged == 2


def test_without_feedback_there_is_nothing_to_report(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        routed(session, "m1", "v0001", "card_replacement", "cards")  # classified, case still open
        session.commit()
        assert routing_outcomes(session, taxonomy, 30).models == []
    result = runner.invoke(app, ["outcomes"])
    assert result.exit_code == 0 and "no routed message has feedback" in result.stdout


def test_the_cli_prints_tables_and_json(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    with sessions() as session:
        message = routed(session, "m1", "v0001", "card_replacement", "cards")
        closed(session, taxonomy, message, topic="card_replacement", queue="payments")
        answered = routed(session, "a1", "v0001", "card_replacement", "cards", decision="auto_reply")
        closed(session, taxonomy, answered, topic="card_replacement", queue="cards")
        session.commit()
    tables = runner.invoke(app, ["outcomes", "--days", "7"])
    assert tables.exit_code == 0, tables.output
    assert "over the last 7 days" in tables.stdout and "model v0001" in tables.stdout
    assert "fewer than 30 cases" in tables.stdout and "payments 1" in tables.stdout
    answered_row = next(line for line in tables.stdout.splitlines() if "(answered automatically)" in line)
    assert " 1 " in answered_row and "sent to no queue" in answered_row
    data = json.loads(runner.invoke(app, ["outcomes", "--json"]).stdout)
    assert data["window_days"] == 30 and data["models"][0]["queues"] == [
        {"queue": "cards", "sent": 1, "belonged": 0, "share": 0.0, "went_to": {"payments": 1}}
    ]
    assert data["models"][0]["auto_replied"] == 1
    for bad in ("0", "36501", "x"):
        refused = runner.invoke(app, ["outcomes", "--days", bad])
        assert refused.exit_code == 2 and "--days" in refused.output and "Traceback" not in refused.output
