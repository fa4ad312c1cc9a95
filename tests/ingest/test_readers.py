"""Every input format, and every bad-input case, read with real files."""

from __future__ import annotations

from pathlib import Path

from postroom.ingest.readers import read_path
from postroom.ingest.records import IncomingMessage, Rejection
from postroom.taxonomy import Taxonomy
from tests.ingest.builders import email_bytes, record, write_jsonl, write_mbox

LIMIT = 1024 * 1024


def read(path: Path, taxonomy: Taxonomy, limit: int = LIMIT) -> tuple[list[IncomingMessage], list[Rejection]]:
    items = list(read_path(path, taxonomy, limit))
    return [i for i in items if isinstance(i, IncomingMessage)], [
        i for i in items if isinstance(i, Rejection)
    ]


def test_jsonl_reads_fields_labels_and_formats(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        record(
            "a",
            topic="card_replacement",
            queue="cards",
            received_at="2026-03-02T09:30:00+01:00",
            metadata={"crm_case": 17},
        ),
        {"message_id": "b", "html": "<p>Hallo</p>"},
        {"message_id": "c", "raw": email_bytes().decode()},
    )
    good, bad = read(path, taxonomy)
    assert bad == []
    assert [(m.message_id, m.raw_format) for m in good] == [("a", "text"), ("b", "html"), ("c", "rfc822")]
    assert good[0].labels == {"topic": "card_replacement", "queue": "cards"}
    assert good[0].metadata == {"crm_case": 17}
    assert good[0].received_at is not None and good[0].received_at.utcoffset() is not None
    assert good[0].origin.endswith("in.jsonl:1")


def test_jsonl_bad_records_are_named_and_good_ones_still_flow(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        record("ok-1"),
        record("x-1", colour="red"),  # unknown field
        b'{"message_id": "x-2", "body": "caf\xe9"}',  # invalid UTF-8 (latin-1 byte)
        {"body": "no id"},  # missing ID
        '{"message_id": "x-4", "body": ',  # broken JSON
        "[1, 2]",  # not an object
        record("x-6", topic="mortgage"),  # unknown class
        record("x-7", received_at="yesterday"),  # bad timestamp
        record("x-8", received_at="2026-03-02T09:30:00"),  # no time zone
        {"message_id": "x-9", "body": "b", "html": "<p>h</p>"},  # two bodies
        {"message_id": 12.5, "body": "b"},  # wrong type
        {"message_id": "x\n11", "body": "b"},  # control character in ID
        record("ok-2"),
    )
    good, bad = read(path, taxonomy)
    assert [m.message_id for m in good] == ["ok-1", "ok-2"]
    reasons = {r.origin.rsplit(":", 1)[1]: r.reason for r in bad}
    assert "unknown field(s) 'colour'" in reasons["2"] and "allowed:" in reasons["2"]
    assert reasons["3"].startswith("not valid UTF-8")
    assert reasons["4"] == "missing message_id"
    assert reasons["5"].startswith("not valid JSON")
    assert reasons["6"] == "expected a JSON object, got list"
    assert "unknown class 'mortgage' in label set 'topic'" in reasons["7"]
    assert "not an ISO 8601 timestamp" in reasons["8"]
    assert "no time zone" in reasons["9"]
    assert reasons["10"] == "needs exactly one of body, html or raw, got body, html"
    assert reasons["11"] == "message_id must be a string, got float"
    assert reasons["12"] == "message_id contains the control character U+000A"
    assert all(str(r).startswith(str(path)) for r in bad)


def test_ids_with_odd_but_printable_characters_are_kept(tmp_path: Path, taxonomy: Taxonomy) -> None:
    odd = "<CAF=x+ä/ü?#%20 &amp;@mail.example.com>"
    good, bad = read(write_jsonl(tmp_path / "in.jsonl", record(odd)), taxonomy)
    assert bad == [] and good[0].message_id == odd.strip("<>")


def test_oversized_jsonl_record_is_rejected_and_reading_continues(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", record("big", body="x" * 5000), record("small"))
    good, bad = read(path, taxonomy, limit=1000)
    assert [m.message_id for m in good] == ["small"]
    assert bad[0].origin.endswith(":1") and "larger than the limit" in bad[0].reason


def test_csv_with_labels_and_metadata(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "message_id,subject,body,topic,line_of_business,metadata\n"
        'c-1,Karte,"Meine Karte,\nsie ist weg",card_replacement,retail,"{""crm"": 1}"\n'
        "c-2,,Adresse neu,,,\n",
        encoding="utf-8",
    )
    good, bad = read(path, taxonomy)
    assert bad == []
    assert good[0].raw == "Meine Karte,\nsie ist weg"
    assert good[0].labels == {"topic": "card_replacement", "line_of_business": "retail"}
    assert good[0].metadata == {"crm": 1}
    assert good[1].labels == {} and good[1].subject is None


def test_csv_unknown_column_rejects_the_file_with_the_column_named(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("message_id,body,priority\nc-1,hi,high\n")
    good, bad = read(path, taxonomy)
    assert good == [] and len(bad) == 1
    assert "unknown column(s) 'priority'" in bad[0].reason


def test_csv_invalid_utf8_and_oversized_rows_are_rejected_alone(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"message_id,body\nc-1,ok\nc-2,caf\xe9\nc-3," + b"y" * 3000 + b"\nc-4,fine\n")
    good, bad = read(path, taxonomy, limit=1000)
    assert [m.message_id for m in good] == ["c-1", "c-4"]
    assert bad[0].reason == "not valid UTF-8"
    assert "larger than the limit" in bad[1].reason


def test_eml_file_with_label_headers(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(
        email_bytes(headers={"X-Postroom-Topic": "account_statement", "X-Postroom-Queue": "accounts"})
    )
    good, bad = read(path, taxonomy)
    assert bad == []
    assert good[0].message_id == "e-1@example.com"
    assert good[0].raw_format == "rfc822" and isinstance(good[0].raw, bytes)
    assert good[0].labels == {"topic": "account_statement", "queue": "accounts"}


def test_eml_without_message_id_or_with_bad_label_header(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "a.eml").write_bytes(email_bytes(message_id=None))
    (tmp_path / "b.eml").write_bytes(email_bytes("<b@x>", headers={"X-Postroom-Urgency": "high"}))
    (tmp_path / "c.eml").write_bytes(b"")
    good, bad = read(tmp_path, taxonomy)
    assert good == []
    assert [Path(r.origin).name for r in bad] == ["a.eml", "b.eml", "c.eml"]
    assert bad[0].reason == "no Message-ID header (an email is stored and classified by its ID)"
    assert "unknown label set 'urgency'" in bad[1].reason
    assert bad[2].reason == "empty message"


def test_folder_reads_every_known_file_recursively_and_skips_others(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.eml").write_bytes(email_bytes("<x@y>"))
    (tmp_path / "a.eml").write_bytes(email_bytes("<a@y>"))
    (tmp_path / "notes.txt").write_text("not mail")
    write_jsonl(tmp_path / "more.jsonl", record("j-1"))
    good, bad = read(tmp_path, taxonomy)
    assert bad == []
    assert sorted(m.message_id for m in good) == ["a@y", "j-1", "x@y"]


def test_50_mb_eml_is_rejected_without_reading_it_whole(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "huge.eml"
    with path.open("wb") as handle:
        handle.write(email_bytes())
        handle.seek(50 * 1024 * 1024)
        handle.write(b"\n")
    good, bad = read(path, taxonomy, limit=25 * 1024 * 1024)
    assert good == [] and "larger than the limit of 25 MiB" in bad[0].reason


def test_mbox_splits_messages_and_unescapes_from_lines(tmp_path: Path, taxonomy: Taxonomy) -> None:
    body = "Hi,\nFrom now on please use my new address.\nThanks"
    path = write_mbox(
        tmp_path / "in.mbox", email_bytes("<1@x>"), email_bytes("<2@x>", body=body), email_bytes("<3@x>")
    )
    good, bad = read(path, taxonomy)
    assert bad == []
    assert [m.message_id for m in good] == ["1@x", "2@x", "3@x"]
    assert b"\nFrom now on" in good[1].raw and b">From now" not in good[1].raw


def test_truncated_mbox_keeps_the_complete_messages(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write_mbox(tmp_path / "in.mbox", email_bytes("<1@x>"), email_bytes("<2@x>"), final_newline=False)
    good, bad = read(path, taxonomy)
    assert [m.message_id for m in good] == ["1@x"]
    assert "message 2" in bad[0].origin and "truncated" in bad[0].reason


def test_not_an_mbox_and_oversized_mbox_message(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "a.mbox").write_text("Subject: hi\n\nbody\n")
    big = email_bytes("<big@x>", body="z" * 3000)
    write_mbox(tmp_path / "b.mbox", big, email_bytes("<ok@x>"))
    good, bad = read(tmp_path, taxonomy, limit=1500)
    assert [m.message_id for m in good] == ["ok@x"]
    assert "not an mbox file" in bad[0].reason
    assert "message 1" in bad[1].origin and "larger than the limit" in bad[1].reason


def test_missing_path_and_unsupported_type(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "mail.pst").write_bytes(b"\x00")
    _, bad = read(tmp_path / "nope.jsonl", taxonomy)
    assert bad[0].reason == "no such file or folder"
    _, bad = read(tmp_path / "mail.pst", taxonomy)
    assert "unsupported file type '.pst'" in bad[0].reason
