"""The `postroom` command end to end on a real store: exit codes, one-line errors, and what it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from postroom.cli import app, register_components
from tests.ingest.builders import email_bytes, record, write_jsonl

runner = CliRunner()
register_components()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_init_creates_the_store_and_is_repeatable(tmp_path: Path) -> None:
    first, second = invoke("init"), invoke("init")
    assert first.exit_code == second.exit_code == 0, first.output
    assert "store ready at schema 0001" in first.stdout
    assert (tmp_path / "data" / "postroom.db").is_file()


def test_ingest_before_init_is_one_clear_line() -> None:
    result = invoke("ingest", "whatever.jsonl")
    assert result.exit_code == 1
    assert "run `postroom init`" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_ingest_reports_counts_and_exits_1_on_rejected_records(engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        record("a", topic="card_replacement"),
        record("b", priority="high"),
        record("c"),
    )
    result = invoke("ingest", str(path))
    assert result.exit_code == 1
    assert "stored (new)" in result.stdout and "│ 2" in result.stdout.replace("┃", "│")
    assert f"{path}:2 [b]: unknown field(s) 'priority'" in result.stderr

    again = invoke("ingest", str(write_jsonl(tmp_path / "ok.jsonl", record("a"), record("c"))))
    assert again.exit_code == 0, again.output
    assert "already stored, unchanged" in again.stdout


def test_ingest_mixed_formats_from_a_folder(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    one = email_bytes("<one@x>", headers={"X-Postroom-Topic": "account_statement"})
    (folder / "one.eml").write_bytes(one)
    write_jsonl(folder / "rest.jsonl", record("two"))
    (folder / "three.csv").write_text("message_id,body,queue\nthree,Bitte Kontoauszug,accounts\n")
    result = invoke("ingest", str(folder))
    assert result.exit_code == 0, result.output
    summary = json.loads(invoke("summary", "--json").stdout)
    assert summary["messages"] == 3
    assert summary["classes"]["topic"]["account_statement"] == 1
    assert summary["classes"]["queue"]["accounts"] == 1
    assert summary["labeled"] == {"line_of_business": 0, "queue": 1, "topic": 1}


def test_a_50_mb_file_is_refused_with_the_limit_named(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"message_id": "huge", "body": "')
        handle.write(b"x" * (50 * 1024 * 1024))
        handle.write(b'"}\n')
    write_jsonl(tmp_path / "small.jsonl", record("small"))
    result = invoke("ingest", str(path), str(tmp_path / "small.jsonl"))
    assert result.exit_code == 1
    assert "huge.jsonl:1: record larger than the limit of 25 MiB" in result.stderr
    assert json.loads(invoke("summary", "--json").stdout)["messages"] == 1


def test_summary_tables_list_every_class(engine: Engine, tmp_path: Path) -> None:
    invoke("ingest", str(write_jsonl(tmp_path / "in.jsonl", record("a", queue="cards"))))
    result = invoke("summary")
    assert result.exit_code == 0
    assert "1 messages; languages: de 1" in result.stdout
    for heading in ("line_of_business (0 labeled)", "queue (1 labeled)", "topic (0 labeled)"):
        assert heading in result.stdout
    assert "dividend_payment" in result.stdout


def test_taxonomy_check_good_and_bad(tmp_path: Path) -> None:
    good = invoke("taxonomy", "check")
    assert good.exit_code == 0 and "topic: 14 classes, 6 with auto-reply templates" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlabel_sets:\n  - name: queue\n    classes: []\n")
    result = invoke("taxonomy", "check", str(bad))
    assert result.exit_code == 1 and "at least two classes" in result.stderr
    assert "Traceback" not in result.output


def test_doctor_checks_store_taxonomy_and_onnxruntime(engine: Engine) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "ok   store" in result.stdout and "ok   onnxruntime: cpu" in result.stdout


def test_doctor_fails_on_an_uninitialised_store() -> None:
    result = invoke("doctor")
    assert result.exit_code == 1 and "fail store" in result.stdout


@pytest.mark.parametrize("args", [["clean"], ["ingest"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert invoke(*args).exit_code == 2
