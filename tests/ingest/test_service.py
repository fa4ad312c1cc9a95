"""Storing messages: idempotency, changed content, labels, exact raw keeping, re-cleaning (both backends)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.rawcodec import decode_raw
from postroom.ingest.records import IncomingMessage, Rejection
from postroom.ingest.service import ingest_messages, reclean_all
from postroom.store import Label, Message
from tests.ingest.builders import email_bytes


def incoming(
    message_id: str = "m-1",
    raw: str | bytes = "Hallo,\nmeine Karte ist weg.\n\nViele Grüße\nAnna",
    **kwargs: object,
) -> IncomingMessage:
    fmt = "rfc822" if isinstance(raw, bytes) else "text"
    return IncomingMessage(
        message_id=message_id, raw=raw, raw_format=fmt, origin=f"test:{message_id}", **kwargs
    )  # type: ignore[arg-type]


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_reingesting_is_idempotent(sessions: sessionmaker[Session]) -> None:
    items = [incoming("a", labels={"topic": "card_replacement"}), incoming("b", subject="Adresse")]
    first = ingest_messages(sessions, items)
    second = ingest_messages(sessions, items)
    assert (first.inserted, first.labels_added, first.ok) == (2, 1, True)
    assert (second.inserted, second.unchanged, second.labels_added, second.ok) == (0, 2, 0, True)
    with sessions() as session:
        assert count(session, Message) == 2 and count(session, Label) == 1


def test_changed_content_under_a_known_id_is_reported_and_not_stored(sessions: sessionmaker[Session]) -> None:
    ingest_messages(sessions, [incoming("a", "original text")])
    report = ingest_messages(sessions, [incoming("a", "edited text"), incoming("b")])
    assert report.inserted == 1 and not report.ok
    assert report.changed[0].message_id == "a" and "not overwritten" in report.changed[0].reason
    with sessions() as session:
        stored = session.scalars(select(Message).where(Message.message_id == "a")).one()
        assert stored.raw_body == "original text"


def test_rejections_pass_through_and_good_records_land(sessions: sessionmaker[Session]) -> None:
    report = ingest_messages(sessions, [Rejection("f.jsonl:2", "missing message_id"), incoming("ok")])
    assert report.inserted == 1 and [str(r) for r in report.rejected] == ["f.jsonl:2: missing message_id"]
    assert report.read == 2 and not report.ok


def test_labels_are_added_once_and_conflicts_keep_the_stored_label(sessions: sessionmaker[Session]) -> None:
    ingest_messages(sessions, [incoming("a", labels={"topic": "card_replacement", "queue": "cards"})])
    report = ingest_messages(
        sessions, [incoming("a", labels={"topic": "fee_complaint", "line_of_business": "retail"})]
    )
    assert report.labels_added == 1
    assert "topic is 'card_replacement' (import), input says 'fee_complaint'" in report.label_conflicts[0]
    with sessions() as session:
        labels = session.scalars(select(Label).order_by(Label.label_set)).all()
        assert [(x.label_set, x.class_name, x.source) for x in labels] == [
            ("line_of_business", "retail", "import"),
            ("queue", "cards", "import"),
            ("topic", "card_replacement", "import"),
        ]


def test_message_is_cleaned_and_described_on_the_way_in(sessions: sessionmaker[Session]) -> None:
    raw = (
        "Hallo,\n\nbitte sperren Sie meine Karte, sie wurde gestohlen.\n\nViele Grüße\nAnna Becker\n"
        "-- \nAnna Becker | Tel. +49 40 1234567 | Hafenstraße 1, 20457 Hamburg\n\n"
        "Am 02.03.2026 um 09:15 schrieb Nordhafen Bank <service@nordhafen-bank.example>:\n"
        "> Sehr geehrte Frau Becker, Ihre Karte wurde versandt.\n"
    )
    ingest_messages(sessions, [incoming("a", raw, subject="Karte gestohlen")])
    with sessions() as session:
        message = session.scalars(select(Message)).one()
        assert "Karte, sie wurde gestohlen" in message.cleaned_text
        assert "Hafenstraße" not in message.cleaned_text and "versandt" not in message.cleaned_text
        assert message.language == "de"
        assert message.model_text.startswith("Karte gestohlen\n")
        assert message.metadata_["cleaning"]["flags"] == []


def test_rfc822_headers_fill_the_message_and_raw_bytes_are_kept_exactly(
    sessions: sessionmaker[Session],
) -> None:
    latin1 = email_bytes("<l@x>", body="Grüße aus Köln, meine Überweisung fehlt.", charset="iso-8859-1")
    with_nul = b"Message-ID: <n@x>\nSubject: nul\n\nbody with \x00 byte\n"
    report = ingest_messages(sessions, [incoming("l@x", latin1), incoming("n@x", with_nul)])
    assert report.inserted == 2, report.rejected
    with sessions() as session:
        stored = {m.message_id: m for m in session.scalars(select(Message))}
        assert stored["l@x"].subject == "Statement" and stored["l@x"].sender.startswith("Anna Becker")
        assert stored["l@x"].received_at is not None
        assert "Überweisung fehlt" in stored["l@x"].cleaned_text
        for message_id, raw in (("l@x", latin1), ("n@x", with_nul)):
            message = stored[message_id]
            assert decode_raw(message.raw_body, message.raw_encoding, as_bytes=True) == raw


def test_reclean_all_recomputes_from_the_raw_input(sessions: sessionmaker[Session]) -> None:
    ingest_messages(sessions, [incoming("a"), incoming("b", email_bytes("<b@x>"))])
    with sessions() as session:
        for message in session.scalars(select(Message)):
            message.cleaned_text, message.language = "stale", None
        session.commit()
    assert reclean_all(sessions, batch_size=1) == 2
    with sessions() as session:
        texts = {m.message_id: (m.cleaned_text, m.language) for m in session.scalars(select(Message))}
    assert "meine Karte ist weg" in texts["a"][0] and texts["a"][1] == "de"
    assert "statement for March" in texts["b"][0] and texts["b"][1] == "en"
