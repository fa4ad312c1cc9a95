"""Feedback from closed cases: labels with history, realized precision, automatic suspension with evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store import AuditEvent, Feedback, Label, Message, Prediction, RoutingDecision
from postroom.taxonomy import Taxonomy
from router.feedback import (
    SUSPENSION_EVENT,
    FeedbackError,
    realized_precision,
    record_feedback,
    suspend_failing_classes,
)
from router.thresholds import active_values, history, set_thresholds


def auto_replied(
    session: Session,
    message_id: str,
    reply_class: str,
    labels: dict[str, str] | None = None,
    thresholds_version: int = 1,
) -> Message:
    """A stored message that was answered automatically with `reply_class`."""
    result = ingest_one(
        session, IncomingMessage(message_id, f"Bitte {message_id}", "text", "test", labels=labels or {})
    )
    session.flush()
    prediction = Prediction(
        message_pk=result.message.id,
        model_version="v1",
        variant="onnx-int8",
        results={"topic": {"class": reply_class, "probability": 0.99}},
    )
    session.add(prediction)
    session.flush()
    session.add(
        RoutingDecision(
            prediction_pk=prediction.id,
            message_pk=result.message.id,
            decision="auto_reply",
            queue="accounts",
            reply_class=reply_class,
            thresholds_version=thresholds_version,
        )
    )
    session.flush()
    return result.message


def statements_answered_at_target_95(session: Session, taxonomy: Taxonomy) -> None:
    """Thresholds calibrated for 95 % precision that answer account_statement automatically."""
    set_thresholds(
        session,
        taxonomy,
        {"topic": {"account_statement": 0.9}},
        "lena",
        "calibrated",
        details={"target_precision": 0.95},
    )


def test_feedback_becomes_labels_and_keeps_history(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        message = auto_replied(session, "m1", "account_statement", labels={"topic": "account_statement"})
        record_feedback(
            session, taxonomy, message, {"topic": "tax_certificate", "queue": "accounts"}, False, "agent7"
        )
        session.commit()
        labels = session.scalars(select(Label).order_by(Label.id)).all()
        assert [(x.label_set, x.class_name, x.source, x.is_current) for x in labels] == [
            ("topic", "account_statement", "import", False),
            ("topic", "tax_certificate", "feedback", True),
            ("queue", "accounts", "feedback", True),
        ]
        feedback = session.scalars(select(Feedback)).one()
        assert feedback.decision_pk is not None and feedback.auto_reply_resolved is False


def test_unknown_final_label_is_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        message = auto_replied(session, "m1", "account_statement")
        session.commit()
        with pytest.raises(FeedbackError, match="unknown class 'mortgage'"):
            record_feedback(session, taxonomy, message, {"topic": "mortgage"}, True, "agent7")
        session.rollback()
        assert session.scalars(select(Feedback)).all() == []


def test_realized_precision_and_suspension(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    with sessions() as session:
        first = set_thresholds(
            session,
            taxonomy,
            {"topic": {"account_statement": 0.9, "tax_certificate": 0.9, "address_change": 0.9}},
            "lena",
            "calibrated",
            details={"target_precision": 0.95},
        )
        outcomes = {"account_statement": (40, 30), "tax_certificate": (20, 20), "address_change": (3, 2)}
        for reply_class, (n, right) in outcomes.items():
            for i in range(n):
                message = auto_replied(session, f"{reply_class}-{i}", reply_class)
                final = reply_class if i < right else "fee_complaint"
                record_feedback(session, taxonomy, message, {"topic": final}, i < right, "agent7")
        session.commit()

        stats = realized_precision(session, taxonomy)
        assert (stats["account_statement"].auto_replies, stats["account_statement"].correct) == (40, 30)
        assert stats["tax_certificate"].precision == 1.0 and stats["address_change"].resolved == 2

        events = suspend_failing_classes(session, taxonomy, default_target=0.9)
        session.commit()
        assert [e.subject for e in events] == ["topic.account_statement"]  # 2/3 is not enough evidence
        _, values = active_values(session, taxonomy)
        assert values["topic"]["account_statement"] is None
        assert values["topic"]["tax_certificate"] == 0.9 and values["topic"]["address_change"] == 0.9
        newest = history(session)[0]
        assert newest.created_by == "postroom-feedback-monitor" and "30/40" in newest.reason
        assert f"(replies since thresholds version {first.id} switched it on)" in newest.reason
        stored = session.scalars(select(AuditEvent).where(AuditEvent.kind == SUSPENSION_EVENT)).one()
        assert stored.payload["target"] == 0.95 and stored.payload["thresholds_version"] == newest.id
        assert stored.payload["counted_since_version"] == first.id

        assert (
            suspend_failing_classes(session, taxonomy, default_target=0.9) == []
        )  # already off: no new version


def test_one_wrong_reply_is_not_evidence_and_manual_changes_keep_the_target(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        statements_answered_at_target_95(session, taxonomy)
        manual = set_thresholds(session, taxonomy, {"topic": {"tax_certificate": 0.97}}, "omar", "manual")
        assert manual.details["target_precision"] == 0.95
        message = auto_replied(session, "one", "account_statement")
        record_feedback(session, taxonomy, message, {"topic": "fee_complaint"}, False, "agent7")
        session.commit()
        assert suspend_failing_classes(session, taxonomy, default_target=0.95) == []


def test_each_automated_reply_counts_once_with_its_latest_feedback(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """A CRM retry must not add replies; a correction replaces the outcome it corrects."""
    with sessions() as session:
        statements_answered_at_target_95(session, taxonomy)
        wrong = auto_replied(session, "retried", "account_statement")
        for _ in range(3):  # the same wrong outcome reported three times
            record_feedback(session, taxonomy, wrong, {"topic": "fee_complaint"}, False, "agent7")
        corrected = auto_replied(session, "corrected", "account_statement")
        record_feedback(session, taxonomy, corrected, {"topic": "fee_complaint"}, False, "agent7")
        record_feedback(session, taxonomy, corrected, {"topic": "account_statement"}, True, "agent7")
        session.commit()

        stats = realized_precision(session, taxonomy)["account_statement"]
        assert (stats.auto_replies, stats.correct, stats.resolved) == (2, 1, 1)
        assert suspend_failing_classes(session, taxonomy, default_target=0.95) == []  # 1 of 2: no evidence


def test_a_class_switched_on_again_is_judged_on_replies_made_since(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """After a suspension the lead turns the class on again: the replies that caused the suspension must not
    switch it off again at the next feedback (for any class); replies made since then count."""
    with sessions() as session:
        statements_answered_at_target_95(session, taxonomy)  # version 1
        for i in range(10):
            message = auto_replied(session, f"old-{i}", "account_statement")
            record_feedback(session, taxonomy, message, {"topic": "fee_complaint"}, False, "agent7")
        assert [e.subject for e in suspend_failing_classes(session, taxonomy, 0.95)] == [
            "topic.account_statement"
        ]  # version 2
        again = set_thresholds(session, taxonomy, {"topic": {"account_statement": 0.97}}, "lena", "fixed")
        fresh = auto_replied(session, "new-0", "account_statement", thresholds_version=again.id)
        record_feedback(session, taxonomy, fresh, {"topic": "account_statement"}, True, "agent7")
        session.commit()

        assert suspend_failing_classes(session, taxonomy, 0.95) == []
        assert active_values(session, taxonomy)[1]["topic"]["account_statement"] == 0.97
        stats = realized_precision(session, taxonomy)["account_statement"]
        assert (stats.auto_replies, stats.correct, stats.counted_since) == (1, 1, again.id)

        for i in range(10):  # the class fails again: the reason names where counting started
            message = auto_replied(session, f"new-{i + 1}", "account_statement", thresholds_version=again.id)
            record_feedback(session, taxonomy, message, {"topic": "fee_complaint"}, False, "agent7")
        events = suspend_failing_classes(session, taxonomy, 0.95)
        assert [e.payload["counted_since_version"] for e in events] == [again.id]
        assert f"since thresholds version {again.id} switched it on" in history(session)[0].reason


def test_a_later_report_without_the_reply_set_keeps_the_outcome(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """A second report that gives only the queue says nothing of the topic: the wrong reply still counts."""
    with sessions() as session:
        statements_answered_at_target_95(session, taxonomy)
        message = auto_replied(session, "m1", "account_statement")
        record_feedback(session, taxonomy, message, {"topic": "fee_complaint"}, False, "agent7")
        record_feedback(session, taxonomy, message, {"queue": "complaints"}, None, "agent7")
        session.commit()
        stats = realized_precision(session, taxonomy)["account_statement"]
        assert (stats.auto_replies, stats.correct, stats.resolved) == (1, 0, 0)
