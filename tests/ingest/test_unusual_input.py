"""Input that is valid for Python but not for a store or for people: lone surrogates, NaN, byte-order marks,
truncated CSV, time zones, mbox separators, odd size limits, duplicate keys and columns, hidden files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from postroom.cli import app
from postroom.ingest.fields import MAX_JSON_DEPTH, RecordError, check_message_id, parse_timestamp
from postroom.ingest.readers import format_size
from postroom.store.models import SENDER_MAX
from postroom.taxonomy import Taxonomy
from tests.ingest.builders import email_bytes, record, write_jsonl, write_mbox
from tests.ingest.test_readers import read


def reasons_by_line(path: Path, taxonomy: Taxonomy, limit: int = 1024 * 1024) -> dict[str, str]:
    _, bad = read(path, taxonomy, limit)
    return {r.origin.rsplit(":", 1)[1]: r.reason for r in bad}


def lone(line: str) -> str:
    """A JSONL line with `\\ud800` for LONE: json.loads makes that a lone surrogate."""
    return line.replace("LONE", "\\ud800")


def test_lone_surrogates_are_rejected_with_the_field_named_and_later_records_flow(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        record("ok-1"),
        lone('{"message_id": "s-1", "body": "bad LONE"}'),
        lone('{"message_id": "s-2", "html": "<p>LONE</p>"}'),
        lone('{"message_id": "s-3", "raw": "Subject: x\\n\\nLONE"}'),
        lone('{"message_id": "s-4", "body": "b", "subject": "LONE"}'),
        lone('{"message_id": "s-5", "body": "b", "sender": "LONE"}'),
        lone('{"message_id": "aLONEb", "body": "b"}'),
        lone('{"message_id": "s-7", "body": "b", "metadata": {"k": ["LONE"]}}'),
        lone('{"message_id": "s-8", "body": "b", "metadata": {"LONE": 1}}'),
        lone('{"message_id": "s-9", "body": "b", "topic": "LONE"}'),
        '{"message_id": "ok-2", "body": "a pair is fine: \\ud83d\\ude00"}',
    )
    good, bad = read(path, taxonomy)
    assert [m.message_id for m in good] == ["ok-1", "ok-2"] and good[1].raw == "a pair is fine: \U0001f600"
    assert [(r.message_id, r.reason) for r in bad] == [
        ("s-1", "body: not valid Unicode (lone surrogate)"),
        ("s-2", "html: not valid Unicode (lone surrogate)"),
        ("s-3", "raw: not valid Unicode (lone surrogate)"),
        ("s-4", "subject: not valid Unicode (lone surrogate)"),
        ("s-5", "sender: not valid Unicode (lone surrogate)"),
        (None, "message_id: not valid Unicode (lone surrogate)"),  # an ID that cannot be printed is not shown
        ("s-7", "metadata: not valid Unicode (lone surrogate)"),
        ("s-8", "metadata: not valid Unicode (lone surrogate)"),
        ("s-9", "topic: not valid Unicode (lone surrogate)"),
    ]


def test_nan_and_infinity_are_rejected_in_jsonl_and_csv_metadata(tmp_path: Path, taxonomy: Taxonomy) -> None:
    jsonl = write_jsonl(
        tmp_path / "in.jsonl",
        '{"message_id": "n-1", "body": "b", "metadata": {"a": NaN}}',
        '{"message_id": "n-2", "body": "b", "metadata": {"a": [Infinity]}}',
        '{"message_id": "n-3", "body": "b", "metadata": {"a": -Infinity}}',
        '{"message_id": "n-4", "body": "b", "metadata": {"big": 1e999}}',
        '{"message_id": "ok", "body": "b", "metadata": {"big": 1e308, "n": 12345678901234567890}}',
        '{"message_id": "n-6", "body": "b", "metadata": {"n": %s}}' % ("9" * 5000),
    )
    reasons = reasons_by_line(jsonl, taxonomy)
    assert reasons["1"] == "not valid JSON: NaN is not allowed (use null or a string)"
    assert reasons["2"] == "not valid JSON: Infinity is not allowed (use null or a string)"
    assert reasons["3"] == "not valid JSON: -Infinity is not allowed (use null or a string)"
    assert reasons["4"] == "metadata: NaN and Infinity (or numbers beyond 1e308) are not valid JSON"
    assert reasons["6"] == "not valid JSON: a number too long to read"
    assert "5" not in reasons
    csv_path = tmp_path / "in.csv"
    csv_path.write_text('message_id,body,metadata\nc-1,b,"{""a"": NaN}"\nc-2,b,"{""a"": 1e999}"\nc-3,b,{}\n')
    good, bad = read(csv_path, taxonomy)
    assert [m.message_id for m in good] == ["c-3"]
    assert [r.reason for r in bad] == [
        "metadata is not valid JSON: NaN is not allowed (use null or a string)",
        "metadata: NaN and Infinity (or numbers beyond 1e308) are not valid JSON",
    ]


def test_utf8_byte_order_mark_is_accepted_in_csv_and_jsonl(tmp_path: Path, taxonomy: Taxonomy) -> None:
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfmessage_id,body\r\nc-1,hello\r\n")
    bom = b"\xef\xbb\xbf"
    jsonl = write_jsonl(tmp_path / "in.jsonl", bom + b'{"message_id": "j-1", "body": "hi"}', record("j-2"))
    good, bad = read(tmp_path, taxonomy)
    assert bad == [] and sorted(m.message_id for m in good) == ["c-1", "j-1", "j-2"]
    jsonl.write_bytes(b'{"message_id": "j-1", "body": "hi"}\n' + bom + b'{"message_id": "j-2"}\n')
    assert reasons_by_line(jsonl, taxonomy)["2"].startswith("not valid JSON")  # only at the start of the file


@pytest.mark.parametrize(
    ("tail", "stored"),
    [
        ('t-2,"Please block my card.\nIt was stolen in Ham', False),  # cut inside a quoted field
        ('t-2,"ends with a doubled quote ""\n', False),
        ('t-2,"complete, no final newline"', True),
        ("t-2,unquoted and no final newline", True),
        ('t-2,"multi\nline"\n', True),
    ],
)
def test_csv_cut_off_inside_a_quoted_field_is_rejected_as_truncated(
    tmp_path: Path, taxonomy: Taxonomy, tail: str, stored: bool
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("message_id,body\nt-1,first\n" + tail, encoding="utf-8")
    good, bad = read(path, taxonomy)
    assert [m.message_id for m in good] == (["t-1", "t-2"] if stored else ["t-1"])
    if not stored:
        assert [(r.origin.rsplit(":", 1)[1], r.message_id, r.reason) for r in bad] == [
            ("3", "t-2", "unterminated quoted field at end of file: the file looks truncated")
        ]


def test_csv_header_cut_off_inside_a_quote_rejects_the_file(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "in.csv"
    path.write_text('message_id,"bo')
    good, bad = read(path, taxonomy)
    assert good == []
    assert bad[0].reason == "header row: unterminated quoted field at end of file: the file looks truncated"


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-03-02T09:30:00+01:00", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
        ("2026-03-02T09:30:00-08:00", datetime(2026, 3, 2, 17, 30, tzinfo=UTC)),
        ("2026-03-02T09:30:00Z", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        ("2026-03-01T23:30:00.250-01:00", datetime(2026, 3, 2, 0, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_timestamps_are_converted_to_utc(value: str, utc: datetime) -> None:
    parsed = parse_timestamp(value)
    assert parsed == utc and parsed is not None and parsed.utcoffset() is not None
    assert parsed.tzinfo is UTC and parsed.replace(tzinfo=None) == utc.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("9999-12-31T23:59:59-14:00", "received_at is out of range in UTC (years 1 to 9999)"),
        ("0001-01-01T00:00:00+01:00", "received_at is out of range in UTC (years 1 to 9999)"),
        ("secret-2026-03-02", "received_at is not an ISO 8601 timestamp with a time zone (e.g. "),
        ("2026-04-17T10:15:00", "received_at has no time zone: add one (e.g. "),
    ],
)
def test_bad_timestamps_name_the_field_and_format_never_the_value(value: str, reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_timestamp(value)
    assert str(caught.value).startswith(reason)
    assert value not in str(caught.value) and "secret" not in str(caught.value)


def test_mbox_separator_line_is_not_part_of_the_message(tmp_path: Path, taxonomy: Taxonomy) -> None:
    one, two = email_bytes("<1@x>"), email_bytes("<2@x>")
    (tmp_path / "one.eml").write_bytes(one)
    write_mbox(tmp_path / "day1.mbox", one)
    write_mbox(tmp_path / "day2.mbox", one, two)
    crlf = tmp_path / "crlf.mbox"
    crlf.write_bytes(write_mbox(tmp_path / "lf.mbx", one, two).read_bytes().replace(b"\n", b"\r\n"))
    good, bad = read(tmp_path, taxonomy)
    assert bad == []
    raws = {(Path(m.origin.split(" message ")[0]).name, m.message_id): m.raw for m in good}
    assert raws[("day1.mbox", "1@x")] == raws[("day2.mbox", "1@x")] == raws[("one.eml", "1@x")] == one
    assert raws[("day2.mbox", "2@x")] == two
    assert raws[("crlf.mbox", "1@x")] == one.replace(b"\n", b"\r\n")


def test_body_ending_in_empty_lines_keeps_all_but_the_separator(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "in.mbox"
    path.write_bytes(b"From a\nMessage-ID: <1@x>\n\nbody\n\n\nFrom b\nMessage-ID: <2@x>\n\nlast\n")
    good, bad = read(path, taxonomy)
    assert bad == []
    assert [m.raw for m in good] == [b"Message-ID: <1@x>\n\nbody\n\n", b"Message-ID: <2@x>\n\nlast\n"]


def test_from_line_after_an_overlong_line_starts_no_message(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "in.mbox"
    path.write_bytes(
        b"From a\nMessage-ID: <1@x>\n\nsmall\n\n"
        b"From a\nMessage-ID: <2@x>\n\n" + b"y" * 3000 + b"\nFrom inside the long message\n\n"
        b"From a\nMessage-ID: <3@x>\n\nafter\n"
    )
    good, bad = read(path, taxonomy, limit=1000)
    assert [m.message_id for m in good] == ["1@x", "3@x"]
    assert [(r.origin.split(" message ")[1], r.reason.split(" (")[0]) for r in bad] == [
        ("2 (line 6)", "record larger than the limit of 1000 bytes")
    ]
    assert "3 (line 12)" in good[1].origin


@pytest.mark.parametrize(
    ("n_bytes", "shown"),
    [(25 * 1024 * 1024, "25 MiB"), (1536 * 1024, "1.5 MiB"), (10_000, "9.8 KiB"), (1000, "1000 bytes")],
)
def test_size_limits_are_shown_in_a_sensible_unit(n_bytes: int, shown: str) -> None:
    assert format_size(n_bytes) == shown


def test_duplicate_json_keys_reject_the_record_with_the_key_named(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        '{"message_id": "d-1", "body": "first words", "body": "second words"}',
        '{"message_id": "d-2", "body": "b", "metadata": {"crm": 1, "crm": 2}}',
        record("ok"),
    )
    good, bad = read(path, taxonomy)
    assert [m.message_id for m in good] == ["ok"]
    assert [(r.origin.rsplit(":", 1)[1], r.reason) for r in bad] == [
        ("1", "duplicate key 'body' (each key may appear once in an object)"),
        ("2", "duplicate key 'crm' (each key may appear once in an object)"),
    ]
    csv_path = tmp_path / "in.csv"
    csv_path.write_text('message_id,body,metadata\nc-1,b,"{""a"": 1, ""a"": 2}"\nc-2,b,"{""a"": 1}"\n')
    good, bad = read(csv_path, taxonomy)
    assert [m.message_id for m in good] == ["c-2"]
    assert [(r.message_id, r.reason) for r in bad] == [
        ("c-1", "metadata: duplicate key 'a' (each key may appear once in an object)")
    ]


def test_duplicate_csv_columns_reject_the_file_with_the_column_named(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("message_id,body,queue,body\nc-1,first words,cards,second words\n")
    good, bad = read(path, taxonomy)
    assert good == []
    assert [str(r) for r in bad] == [
        f"{path}: duplicate column(s) 'body' in the header; no row read (each column may appear once)"
    ]


def test_folder_of_hidden_files_only_is_no_messages_and_names_what_was_skipped(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / ".gitkeep").write_text("")
    (tmp_path / ".git").mkdir()
    write_jsonl(tmp_path / ".git" / "old.jsonl", record("hidden-1"))
    write_jsonl(tmp_path / ".draft.jsonl", record("hidden-2"))
    good, bad = read(tmp_path, taxonomy)
    assert good == []
    assert [r.reason for r in bad] == [
        "no messages found: the folder holds no .jsonl, .ndjson, .csv, .eml, .mbox files "
        "(skipped: .DS_Store, .draft.jsonl, .git/, .gitkeep)"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    _, bad = read(empty, taxonomy)
    assert [r.reason for r in bad] == [
        "no messages found: the folder holds no .jsonl, .ndjson, .csv, .eml, .mbox files"
    ]


@pytest.mark.parametrize("content", ["hidden", "empty"])
def test_ingest_of_a_folder_without_messages_exits_1(engine: Engine, tmp_path: Path, content: str) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    if content == "hidden":
        (folder / ".DS_Store").write_bytes(b"\x00\x01")
        (folder / ".gitkeep").write_text("")
        write_jsonl(folder / ".draft.jsonl", record("hidden-1"))
    result = CliRunner().invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 1, result.output
    assert "no messages found: the folder holds no" in result.stderr
    assert ("skipped: .DS_Store, .draft.jsonl, .gitkeep" in result.stderr) == (content == "hidden")


@pytest.mark.parametrize("invisible", ["\u200b", "\u200f", "\u202e", "\u2066", "\ufeff"])
def test_an_id_with_an_invisible_character_is_refused(
    tmp_path: Path, taxonomy: Taxonomy, invisible: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", record(f"card{invisible}@x"), record("card@x"))
    messages, rejections = read(path, taxonomy)
    assert [m.message_id for m in messages] == ["card@x"]
    (rejection,) = rejections
    assert f"invisible character U+{ord(invisible):04X}" in rejection.reason


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("<a@x>", "a@x"),
        ("  <a@x>  ", "a@x"),
        ("< sp@x >", "sp@x"),
        ("<<a@x>>", "a@x"),
        ("a@x>", "a@x>"),  # a bracket without its partner is part of the ID
        ("<a@x", "<a@x"),
    ],
)
def test_message_ids_normalise_to_an_id_that_normalises_to_itself(given: str, stored: str) -> None:
    """A stored ID must find itself: normalising it again (a lookup does) changes nothing."""
    assert check_message_id(given) == stored
    assert check_message_id(stored) == stored


def test_metadata_nested_too_deeply_is_refused_with_the_limit(tmp_path: Path, taxonomy: Taxonomy) -> None:
    deep: object = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    # The metadata object is the first level: {"a": deep} is one level too deep, {"a": deep[0]} just fits.
    path = write_jsonl(
        tmp_path / "in.jsonl", record("deep", metadata={"a": deep}), record("fine", metadata={"a": deep[0]})
    )
    messages, rejections = read(path, taxonomy)
    assert [m.message_id for m in messages] == ["fine"]
    assert rejections[0].reason == f"metadata: nested deeper than {MAX_JSON_DEPTH} levels"


def test_a_sender_field_longer_than_the_store_keeps_is_refused(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        record("long", sender="a" * (SENDER_MAX + 1)),
        record("fits", sender="a" * SENDER_MAX),
    )
    messages, rejections = read(path, taxonomy)
    assert [m.message_id for m in messages] == ["fits"]
    assert rejections[0].reason == f"sender longer than {SENDER_MAX} characters"


def test_a_message_id_header_with_a_comment_keeps_the_msg_id(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "a.eml").write_bytes(email_bytes(message_id="<c1@x> (sent by the CRM)"))
    (message,) = read(tmp_path / "a.eml", taxonomy)[0]
    assert message.message_id == "c1@x"


@pytest.mark.parametrize(("second", "refused"), [("cards", False), ("payments", True)])
def test_a_label_header_given_twice_must_agree(
    tmp_path: Path, taxonomy: Taxonomy, second: str, refused: bool
) -> None:
    data = email_bytes(headers={"X-Postroom-Queue": "cards"})
    twice = b"X-Postroom-Queue: cards\nX-Postroom-Queue: " + second.encode()
    data = data.replace(b"X-Postroom-Queue: cards", twice)
    (tmp_path / "a.eml").write_bytes(data)
    messages, rejections = read(tmp_path / "a.eml", taxonomy)
    assert bool(rejections) == refused
    if refused:
        assert "X-Postroom-Queue is given more than once, with different labels" in rejections[0].reason
    else:
        assert messages[0].labels["queue"] == "cards"


@pytest.mark.parametrize(
    ("suffix", "encoding"), [(".csv", "utf-16"), (".jsonl", "utf-16"), (".eml", "utf-32")]
)
def test_a_utf16_or_utf32_file_says_to_save_it_as_utf8(
    tmp_path: Path, taxonomy: Taxonomy, suffix: str, encoding: str
) -> None:
    path = tmp_path / f"in{suffix}"
    path.write_text('message_id,body\nm-1,"Meine Karte ist weg."\n', encoding=encoding)  # with its BOM
    messages, rejections = read(path, taxonomy)
    assert messages == [] and len(rejections) == 1
    assert rejections[0].reason == f"the file is {encoding.upper()} text: save it as UTF-8 (Excel: CSV UTF-8)"


def test_a_csv_separated_by_semicolons_says_so(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "in.csv"
    path.write_text("message_id;subject;body\nm-1;Karte;Meine Karte ist weg.\n", encoding="utf-8")
    messages, rejections = read(path, taxonomy)
    assert messages == [] and "separated by semicolons" in rejections[0].reason


def test_a_linked_folder_is_read_once_even_when_it_links_back(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """Mail exported elsewhere and linked into the import folder is read; a link to an ancestor is no loop."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_jsonl(elsewhere / "more.jsonl", record("linked-1"))
    folder = tmp_path / "import"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", record("own-1"))
    (folder / "crm").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "back").symlink_to(folder, target_is_directory=True)
    messages, rejections = read(folder, taxonomy)
    assert sorted(m.message_id for m in messages) == ["linked-1", "own-1"] and rejections == []


def test_a_folder_that_cannot_be_read_is_reported() -> None:
    """Not skipped silently. Root reads every folder, so as root the reader runs as `nobody` (setpriv)."""
    root = Path(tempfile.mkdtemp(dir="/tmp"))  # /tmp/pytest-of-root is closed to other users
    try:
        root.chmod(0o755)
        folder = root / "import"
        (folder / "locked").mkdir(parents=True)
        write_jsonl(folder / "a.jsonl", record("own-1"))
        write_jsonl(folder / "locked" / "b.jsonl", record("locked-1"))
        for path in (folder, folder / "a.jsonl"):
            path.chmod(0o755)
        (folder / "locked").chmod(0)
        script = (
            "import json, sys; from postroom.ingest.readers import _folder_files; "
            "files, _, unreadable = _folder_files(__import__('pathlib').Path(sys.argv[1])); "
            "print(json.dumps([[f.name for f in files], [[str(p), r] for p, r in unreadable]]))"
        )
        command = [sys.executable, "-c", script, str(folder)]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=Path.cwd())
        assert done.returncode == 0, done.stderr
        files, unreadable = json.loads(done.stdout)
    finally:
        (root / "import" / "locked").chmod(0o755)
        shutil.rmtree(root)
    assert files == ["a.jsonl"]
    assert unreadable == [[str(folder / "locked"), "Permission denied"]]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("in.jsonl", "", "empty file (no records)"),
        ("in.jsonl", "\n  \n\n", "empty file (no records)"),
        ("in.csv", "message_id,body\n", "CSV file with a header but no rows"),
        ("in.csv", "", "empty CSV file (no header row)"),
    ],
)
def test_a_file_without_any_record_is_one_rejection_whatever_its_type(
    tmp_path: Path, taxonomy: Taxonomy, name: str, content: str, reason: str
) -> None:
    """An export that came out empty is an error to see (exit 1), for JSON Lines as for CSV and .eml."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    messages, rejections = read(path, taxonomy)
    assert messages == [] and [r.reason for r in rejections] == [reason]
