"""Storing messages: idempotency, changed content, labels, exact raw keeping, re-cleaning (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from postroom.cleaning import CleanedEmail
from postroom.ingest import service
from postroom.ingest.fields import record_to_message
from postroom.ingest.rawcodec import decode_raw
from postroom.ingest.readers import read_path
from postroom.ingest.records import IncomingMessage, Rejection
from postroom.ingest.service import ingest_messages, reclean_all
from postroom.store import Label, Message
from postroom.store.models import SENDER_MAX
from postroom.taxonomy import Taxonomy
from tests.ingest.builders import email_bytes, write_mbox


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


def test_another_subject_under_a_known_id_is_changed_content(sessions: sessionmaker[Session]) -> None:
    """The models read the subject: the same body under another subject is not the same message."""
    ingest_messages(sessions, [incoming("a", "same body", subject="Karte verloren")])
    report = ingest_messages(sessions, [incoming("a", "same body", subject="Kontoauszug")])
    assert [r.message_id for r in report.changed] == ["a"]
    same = ingest_messages(sessions, [incoming("a", "same body", subject="Karte verloren")])
    no_subject = ingest_messages(sessions, [incoming("a", "same body")])  # a record without one: unchanged
    assert same.unchanged == 1 and no_subject.unchanged == 1
    with sessions() as session:
        assert session.scalars(select(Message)).one().subject == "Karte verloren"


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


def test_eml_with_8bit_headers_stores_readable_subject_and_sender(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    (tmp_path / "latin1.eml").write_bytes(
        b"Message-ID: <h@x>\nFrom: J\xfcrgen <j@example.de>\nSubject: Geb\xfchr f\xfcr K\xe4se\n\nText\n"
    )
    report = ingest_messages(sessions, read_path(tmp_path / "latin1.eml", taxonomy, 1 << 20))
    assert report.inserted == 1, report.rejected
    with sessions() as session:
        message = session.scalars(select(Message)).one()
        assert (message.subject, message.sender) == ("Gebühr für Käse", "Jürgen <j@example.de>")


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


def stored_utc(value: datetime | None) -> datetime | None:
    """A stored timestamp as aware UTC (SQLite may give it back naive, in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def dated(message_id: str, date: str) -> bytes:
    """An RFC 822 message with the given Date header."""
    raw = email_bytes(message_id)
    assert b"Date: Mon, 02 Mar 2026 09:30:00 +0000\n" in raw
    return raw.replace(b"Date: Mon, 02 Mar 2026 09:30:00 +0000", f"Date: {date}".encode())


def test_received_at_is_stored_in_utc_from_records_and_date_headers(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    record = record_to_message(
        {"message_id": "j", "body": "b", "received_at": "2026-03-02T09:30:00+01:00"}, taxonomy, "t:1"
    )
    assert isinstance(record, IncomingMessage)
    eml = dated("<e@x>", "Mon, 2 Mar 2026 09:30:00 +0200")
    far = dated("<f@x>", "Fri, 31 Dec 9999 23:59:59 -1400")
    assert ingest_messages(sessions, [record, incoming("e@x", eml), incoming("f@x", far)]).inserted == 3
    with sessions() as session:
        stored = {m.message_id: m.received_at for m in session.scalars(select(Message))}
    assert stored_utc(stored["j"]) == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert stored_utc(stored["e@x"]) == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert stored["f@x"] is None  # a Date header with no UTC equivalent is dropped, the message kept


def test_one_failing_message_never_stops_the_run(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_clean = service.clean_message

    def clean(raw: str | bytes, fmt: str = "text") -> CleanedEmail:
        if raw == "boom":
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real_clean(raw, fmt)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "clean_message", clean)
    report = ingest_messages(sessions, [incoming("a"), incoming("bad", "boom"), incoming("c")])
    assert report.inserted == 2 and not report.ok
    assert [str(r) for r in report.rejected] == [
        "test:bad [bad]: not stored, unexpected error: UnicodeEncodeError"
    ]


def test_lone_surrogates_from_decoding_are_stored_as_replacement_characters(
    sessions: sessionmaker[Session],
) -> None:
    utf7 = (
        b"Message-ID: <u@x>\nSubject: =?utf-7?q?Hallo_+2AA-?=\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain; charset=utf-7\n\nHallo +2AA- Welt\n"
        b"--b\nContent-Type: application/pdf\n"
        b'Content-Disposition: attachment; filename="=?utf-7?q?+2AA-.pdf?="\n\n'
        b"x\n--b--\n"
    )
    report = ingest_messages(sessions, [incoming("u@x", utf7)])
    assert report.inserted == 1, report.rejected
    with sessions() as session:
        message = session.scalars(select(Message)).one()
        assert "\ufffd" in (message.subject or "") and "Hallo \ufffd Welt" in message.cleaned_text
        assert message.metadata_["cleaning"]["attachments"][0]["filename"] == "\ufffd.pdf"


def test_mbox_message_stored_by_the_old_reader_with_the_separator_is_not_reported_as_changed(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    one, two = email_bytes("<1@x>"), email_bytes("<2@x>", body="Second message")
    crlf = email_bytes("<3@x>").replace(b"\n", b"\r\n")
    old_form = [incoming("1@x", one + b"\n"), incoming("2@x", two), incoming("3@x", crlf + b"\r\n")]
    assert ingest_messages(sessions, old_form).inserted == 3  # what the old reader stored from day1.mbox
    day2 = write_mbox(tmp_path / "day2.mbox", one, two, email_bytes("<4@x>"))
    report = ingest_messages(sessions, read_path(day2, taxonomy, 1 << 20))
    assert (report.inserted, report.unchanged, report.changed) == (1, 2, [])
    again = [incoming("3@x", crlf), incoming("1@x", one + b"\n\n"), incoming("2@x", two + b"\n")]
    report = ingest_messages(sessions, again)
    assert report.unchanged == 1 and [r.message_id for r in report.changed] == ["1@x", "2@x"]
    with sessions() as session:
        raw = session.scalars(select(Message).where(Message.message_id == "1@x")).one().raw_body
        assert raw.encode() == one + b"\n"  # the stored form is kept


def test_mbox_and_eml_of_one_message_are_the_same_content_in_a_new_store(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    (tmp_path / "a.eml").write_bytes(email_bytes("<1@x>"))
    write_mbox(tmp_path / "b.mbox", email_bytes("<1@x>"), email_bytes("<2@x>"))
    report = ingest_messages(sessions, read_path(tmp_path, taxonomy, 1 << 20))
    assert (report.inserted, report.unchanged, report.changed) == (2, 1, [])


def test_reclean_gives_cleaning_the_raw_input_as_it_came(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = email_bytes("<b@x>")
    items = [incoming("s@x", source.decode()), incoming("b@x", source), incoming("t", "Grüße")]
    items[0].raw_format = "rfc822"  # a JSONL `raw` field: text, its characters final
    ingest_messages(sessions, items)
    seen: list[type] = []
    real_clean = service.clean_message

    def clean(raw: str | bytes, fmt: str = "text") -> CleanedEmail:
        seen.append(type(raw))
        return real_clean(raw, fmt)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "clean_message", clean)
    assert reclean_all(sessions) == 3
    assert seen == [str, bytes, str]  # in the order stored
    with sessions() as session:
        assert {m.raw_encoding for m in session.scalars(select(Message))} == {"text", "utf-8"}


def test_raw_text_keeps_its_characters_and_raw_bytes_follow_their_charset(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    latin1_text = "Subject: Grüße\nContent-Type: text/plain; charset=iso-8859-1\n\nGrüße aus Köln"
    cp1252_text = "Subject: =?iso-8859-1?q?K=F6ln?=\nContent-Type: text/plain; charset=windows-1252\n\n50 €"
    items = [
        record_to_message({"message_id": "l", "raw": latin1_text}, taxonomy, "t:1"),
        record_to_message({"message_id": "w", "raw": cp1252_text}, taxonomy, "t:2"),
    ]
    latin1 = b"Message-ID: <b@x>\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1\n\nK\xf6ln\n"
    report = ingest_messages(sessions, [*items, incoming("b@x", latin1)])  # type: ignore[list-item]
    assert report.inserted == 3, report.rejected
    assert reclean_all(sessions) == 3
    with sessions() as session:
        stored = {m.message_id: (m.subject, m.cleaned_text) for m in session.scalars(select(Message))}
    assert stored["l"] == ("Grüße", "Grüße aus Köln")
    assert stored["w"] == ("Köln", "50 €")
    assert stored["b@x"] == ("x", "Köln")  # bytes: decoded by the declared charset


def test_a_from_header_longer_than_the_store_keeps_is_cut_and_the_raw_keeps_it(
    sessions: sessionmaker[Session],
) -> None:
    """PostgreSQL refuses a longer sender; the raw source is stored whole, so nothing is lost."""
    mailboxes = ", ".join(f"Person {i} <person{i}@example.com>" for i in range(60))
    raw = email_bytes().replace(b"From: Anna Becker <anna@example.com>", f"From: {mailboxes}".encode())
    report = ingest_messages(sessions, [incoming("many", raw)])
    assert report.inserted == 1, report.rejected
    with sessions() as session:
        stored = session.scalars(select(Message).where(Message.message_id == "many")).one()
        assert len(stored.sender) == SENDER_MAX and stored.sender.endswith("\u2026")
        assert stored.sender.startswith("Person 0 <person0@example.com>")
        assert b"person59@example.com" in decode_raw(stored.raw_body, stored.raw_encoding, as_bytes=True)
