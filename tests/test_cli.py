"""The `postroom` command end to end on a real store: exit codes, one-line errors, and what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.settings import get_settings
from postroom.store.db import dispose_engines
from tests.ingest.builders import email_bytes, record, write_jsonl
from tests.store.damage import damage_data_pages, read_only_url, schema_revision, set_schema_revision

runner = CliRunner()
register_components()
DEFAULT_TAXONOMY = Path(__file__).parent.parent / "postroom" / "resources" / "taxonomy.yaml"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_registering_the_components_again_adds_no_command() -> None:
    def count() -> int:
        return len(app.registered_commands) + len(app.registered_groups)

    before = count()
    register_components()
    assert count() == before and before > 10


def test_init_creates_the_store_and_is_repeatable(tmp_path: Path) -> None:
    first, second = invoke("init"), invoke("init")
    assert first.exit_code == second.exit_code == 0, first.output
    assert "store ready at schema 0003" in first.stdout
    assert (tmp_path / "data" / "postroom.db").is_file()


def test_ingest_before_init_is_one_clear_line(tmp_path: Path) -> None:
    result = invoke("ingest", "whatever.jsonl")
    assert result.exit_code == 1
    assert "run `postroom init`" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "postroom.db").exists()


@pytest.mark.parametrize("args", [["summary"], ["doctor"], ["thresholds", "show"], ["models", "list"]])
def test_commands_on_a_missing_store_create_no_empty_one(tmp_path: Path, args: list[str]) -> None:
    result = invoke(*args)
    assert "Traceback" not in result.output
    assert not (tmp_path / "data" / "postroom.db").exists()
    if args[0] != "models":  # the registry is files: listing it needs no store
        assert result.exit_code == 1
        assert f"no store at {tmp_path / 'data' / 'postroom.db'}: run `postroom init`" in result.output


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


def test_labels_from_a_source_the_labeling_loop_ignores_get_a_note(engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", record("a", topic="card_replacement"), record("b"))
    crm = invoke("ingest", str(path), "--source", "crm")
    assert crm.exit_code == 0, crm.output
    assert "1 labels imported with source 'crm'" in crm.stderr and "POSTROOM_LABELING_SOURCES" in crm.stderr
    counted = invoke("ingest", str(write_jsonl(tmp_path / "more.jsonl", record("c", topic="fee_complaint"))))
    assert counted.exit_code == 0 and "POSTROOM_LABELING_SOURCES" not in counted.stderr  # `import` counts


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
    assert good.stderr == ""  # the demo's taxonomy covers both its languages
    finnish = tmp_path / "fi.yaml"
    text = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    finnish.write_text(text.replace("languages: [de, en]", "languages: [de, en, fi]"))
    warned = invoke("taxonomy", "check", str(finnish))
    assert warned.exit_code == 0 and "no auto-reply in fi for 6 of the 6 templated classes" in warned.stderr


def test_doctor_checks_store_taxonomy_and_onnxruntime(engine: Engine) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "ok   store" in result.stdout and "ok   onnxruntime: cpu" in result.stdout
    assert "ok   leftovers: no staging or scratch directories of interrupted runs" in result.stdout
    assert "ok   environment: every POSTROOM_ variable is a setting" in result.stdout
    keys = next(line for line in result.stdout.splitlines() if " api keys: " in line)
    assert keys.startswith("warn api keys: no API keys file at ") and "postroom keys add NAME" in keys


def test_doctor_warns_of_a_misspelt_setting_without_its_value(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTROOM_SERVE_MODLE", "v0001-secret-value")
    monkeypatch.setenv("POSTROOM_DOCCANO_HOME", "/srv/doccano")  # start.sh's, not a typo
    result = invoke("doctor")
    assert result.exit_code == 0, result.output  # a warning, not a failure
    line = next(x for x in result.stdout.splitlines() if x.startswith("warn environment"))
    assert line == "warn environment: 'POSTROOM_SERVE_MODLE' is not a setting (POSTROOM_SERVE_MODEL?)"
    assert "secret-value" not in result.output


def _leftover(path: Path, size: int, age_seconds: float) -> Path:
    """A directory as a killed run leaves it: one file of `size` bytes, everything last written `age` ago."""
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "part.bin").write_bytes(b"x" * size)
    when = time.time() - age_seconds
    for item in (path / "sub" / "part.bin", path / "sub", path):
        os.utime(item, (when, when))
    return path


def _leftovers_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(("ok   leftovers", "warn leftovers")))


def test_doctor_warns_of_leftovers_of_killed_runs_without_failing(engine: Engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    found = [
        _leftover(data / "models" / ".staging-0123456789ab", 1500, 3 * 86400),
        _leftover(data / "models" / "exports" / ".staging-v0001-89abcdef", 500, 7200),
        _leftover(data / "tmp" / "train-ba9876543210", 1000, 7200),
    ]
    _leftover(data / "models" / "v0001", 10, 0)  # a version, not a leftover
    (data / "tmp" / "train-notes.txt").write_text("a file, not a run's directory")
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    line = _leftovers_line(result.stdout)
    assert line.startswith(
        "warn leftovers: 3 staging or scratch directories of interrupted training or export runs, 3.0 kB, "
        "oldest last written 3 d ago, newest 2 h ago; unless a run is in progress: rm -rf "
    ), line
    command = line.split("; unless a run is in progress: ")[1]
    assert sorted(command.split()[2:]) == sorted(str(path) for path in found)
    subprocess.run(command, shell=True, check=True)  # the command deletes exactly those
    assert not any(path.exists() for path in found) and (data / "models" / "v0001").is_dir()
    assert "ok   leftovers: no staging" in invoke("doctor").stdout


def test_doctor_names_globs_when_many_runs_left_directories(engine: Engine, tmp_path: Path) -> None:
    scratch = tmp_path / "data" / "tmp"
    for number in range(12):
        _leftover(scratch / f"train-{number:012x}", 10, 600)
    line = _leftovers_line(invoke("doctor").stdout)
    assert "12 staging or scratch directories" in line and "120 B, oldest last written 10 min ago" in line
    assert line.endswith(f"rm -rf {scratch}/train-*"), line


def test_doctor_finds_the_staging_directory_the_registry_makes(engine: Engine, tmp_path: Path) -> None:
    """The writers and `doctor` share the names (postroom.workdirs): a directory the registry really
    makes for a version being written is one doctor reports."""
    from postroom.settings import get_settings
    from training.registry import Registry

    staging = Registry(get_settings().registry_dir).new_staging_dir()
    line = _leftovers_line(invoke("doctor").stdout)
    assert line.startswith("warn leftovers: 1 staging or scratch directory") and str(staging) in line


def test_doctor_fails_on_an_uninitialised_store() -> None:
    result = invoke("doctor")
    assert result.exit_code == 1 and "fail store" in result.stdout


@pytest.mark.parametrize("args", [["clean"], ["ingest"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert invoke(*args).exit_code == 2


SECRET = "TopSecret123"


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    """The single `error:` line of a failed command (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and SECRET not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _fail_store_line(result) -> str:  # type: ignore[no-untyped-def]
    """`doctor`'s line about the store: it fails, and the other checks still run."""
    assert result.exit_code == 1 and "Traceback" not in result.output and SECRET not in result.output
    assert "ok   taxonomy" in result.stdout
    return next(line for line in result.stdout.splitlines() if line.startswith("fail store: "))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notaurl", "the database URL 'notaurl' is not a URL (POSTROOM_DATABASE_URL); use sqlite:///PATH or"),
        (f"mysql://u:{SECRET}@127.0.0.1:1/x", "the database driver for mysql is not installed (MySQLdb)"),
        ("sqlite:////proc/postroom-nope/x.db", "cannot create the store's directory /proc/postroom-nope"),
    ],
)
def test_a_bad_database_url_is_one_line_in_every_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, expected: str
) -> None:
    monkeypatch.setenv("POSTROOM_DATABASE_URL", url)
    records = write_jsonl(tmp_path / "in.jsonl", record("a"))
    if url.startswith("sqlite"):  # only init creates a store (and its directory); the others say none is
        assert expected in _one_error_line(invoke("init"))
        expected = "no store at /proc/postroom-nope/x.db: run `postroom init`"
    for args in (["init"], ["summary"], ["ingest", str(records)])[url.startswith("sqlite") :]:
        assert expected in _one_error_line(invoke(*args)), args
    assert expected in _fail_store_line(invoke("doctor"))


def test_commands_before_init_create_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path / "data"))
    for args in (["summary"], ["doctor"]):
        assert invoke(*args).exit_code == 1
    assert not (tmp_path / "data").exists()


def test_a_data_dir_under_a_regular_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file")
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path / "plain" / "data"))
    line = _one_error_line(invoke("init"))
    assert f"{tmp_path / 'plain'} exists and is not a directory" in line
    assert "database_url: sqlite:///" in invoke("doctor").stdout


def test_a_sqlite_uri_creates_no_folder_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POSTROOM_DATABASE_URL", f"sqlite:///file:{tmp_path}/store.db?mode=rwc&uri=true")
    assert invoke("init").exit_code == 0
    assert (tmp_path / "store.db").is_file() and not list(tmp_path.glob("file:*"))


def _filled(tmp_path: Path) -> Path:
    """A store of 120 messages with long bodies (many pages), through the real `init` and `ingest`."""
    body = "Bitte senden Sie mir eine neue Karte. " * 60
    records = write_jsonl(tmp_path / "in.jsonl", *(record(f"m-{i}", body=f"{i} {body}") for i in range(120)))
    assert invoke("init").exit_code == 0
    assert invoke("ingest", str(records)).exit_code == 0
    return tmp_path / "data" / "postroom.db"


def test_a_damaged_store_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    damage_data_pages(db)
    before = db.read_bytes()
    expected = f"error: the store at sqlite:///{db} cannot be read: database disk image is malformed"
    for args in (["summary"], ["summary", "--json"], ["clean", "--all"]):
        assert _one_error_line(invoke(*args)) == expected, args
    dispose_engines()
    assert db.read_bytes() == before


def test_a_read_only_store_is_one_line_and_keeps_its_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = _filled(tmp_path)
    monkeypatch.setenv("POSTROOM_DATABASE_URL", read_only_url(db))
    get_settings.cache_clear()
    assert invoke("summary").exit_code == 0  # reading is fine
    clean = _one_error_line(invoke("clean", "--all"))
    assert clean.endswith("is read-only: attempt to write a readonly database")
    thresholds = invoke("thresholds", "set", "--set", "topic.card_replacement=0.9", "--reason", "r")
    assert _one_error_line(thresholds) == clean
    more = tmp_path / "more.jsonl"
    more.write_text("".join(f'{{"message_id": "new-{i}", "body": "b {i}"}}\n' for i in range(3)), "utf-8")
    assert _one_error_line(invoke("ingest", str(more))) == clean  # stops at once, not once per record
    monkeypatch.delenv("POSTROOM_DATABASE_URL")
    get_settings.cache_clear()
    summary = invoke("summary", "--json")
    assert json.loads(summary.stdout)["messages"] == 120


def test_a_store_at_a_newer_schema_says_upgrade_postroom(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    set_schema_revision(db, "0004")
    expected = "error: the store is at schema 0004, newer than this Postroom (0003): upgrade Postroom"
    assert _one_error_line(invoke("init")) == expected
    assert _one_error_line(invoke("summary")) == expected
    assert _fail_store_line(invoke("doctor")) == f"fail store: {expected.removeprefix('error: ')}"
    assert schema_revision(db) == "0004"
    set_schema_revision(db, "0003")
    assert json.loads(invoke("summary", "--json").stdout)["messages"] == 120


def test_doctor_never_prints_a_secret_of_invalid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://remote.example:8800")
    monkeypatch.setenv("POSTROOM_DOCCANO_SIM_PASSWORD", SECRET)
    line = _one_error_line(invoke("doctor"))
    assert "POSTROOM_DOCCANO_PASSWORD is the dev-only default but Doccano is at remote.example" in line


def test_doctor_says_a_doccano_url_is_not_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "notaurl")
    line = _one_error_line(invoke("doctor"))
    assert line == "error: invalid settings: POSTROOM_DOCCANO_URL: not an http(s) URL"


def test_a_malformed_config_file_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("data_dir: [1, 2\n")
    monkeypatch.setenv("POSTROOM_CONFIG", str(path))
    line = _one_error_line(invoke("doctor"))
    assert line.startswith(f"error: config file {path}: not valid YAML: while parsing a flow sequence")


def test_doctor_reads_every_page_and_names_the_damage(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    assert "ok   store pages: every page readable (PRAGMA quick_check)" in invoke("doctor").stdout
    damage_data_pages(db)
    before = db.read_bytes()
    result = invoke("doctor")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ok   store: reachable, schema current" in result.stdout  # the schema pages are intact
    line = next(line for line in result.stdout.splitlines() if line.startswith("fail store pages: "))
    assert line.startswith(f"fail store pages: the store at sqlite:///{db} is damaged (")
    assert "***" not in line and line.endswith("restore it from a backup")
    dispose_engines()
    assert db.read_bytes() == before


def test_ingesting_a_known_message_with_another_sender_says_it_was_not_applied(
    engine: Engine, tmp_path: Path
) -> None:
    invoke("ingest", str(write_jsonl(tmp_path / "a.jsonl", record("a", sender="anna@x"))))
    again = invoke("ingest", str(write_jsonl(tmp_path / "b.jsonl", record("a", sender="mallory@x"))))
    assert again.exit_code == 0, again.output
    assert "already stored messages keep their stored sender (1)" in " ".join(again.stderr.split())


@pytest.mark.parametrize(
    ("source", "message"),
    [("", "--source is empty"), ("   ", "--source is empty"), ("s" * 33, "--source is longer than 32"),
     ("crm\x1b[31m", "--source contains control characters")],
)  # fmt: skip
def test_a_source_labels_could_not_record_is_refused_before_anything_is_stored(
    engine: Engine, tmp_path: Path, source: str, message: str
) -> None:
    """PostgreSQL refused a long one record by record (`store error: DataError`); SQLite took it."""
    result = invoke("ingest", str(write_jsonl(tmp_path / "a.jsonl", record("a"))), "--source", source)
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
    assert invoke("summary").stdout.startswith("0 messages")


def test_a_permission_error_is_one_line_naming_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    """Tests run as root, whom no file refuses: the error a non-owner gets is raised here instead."""
    from postroom.clikit import friendly_errors

    @friendly_errors
    def write() -> None:
        raise PermissionError(13, "Permission denied", "/data/models/.lock")

    with pytest.raises(typer.Exit) as raised:
        write()
    assert raised.value.exit_code == 1
    printed = " ".join(capsys.readouterr().err.split())
    assert printed.startswith("error: permission denied: /data/models/.lock (run as the user who owns")


def _callbacks(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, object]]:
    subs = getattr(command, "commands", None)
    if subs:
        return [found for name, sub in subs.items() for found in _callbacks(sub, (*path, name))]
    return [(" ".join(path), command.callback)]  # type: ignore[attr-defined]


def test_every_command_translates_errors_in_the_one_place() -> None:
    """Every command, the core's and the components', runs inside `friendly_errors`: one line, exit 1."""
    from postroom.clikit import friendly_errors

    friendly = friendly_errors(lambda: None).__code__
    unwrapped = []
    for name, callback in _callbacks(typer.main.get_command(app)):
        chain = []
        while callback is not None:
            chain.append(getattr(callback, "__code__", None))
            callback = getattr(callback, "__wrapped__", None)
        if friendly not in chain:
            unwrapped.append(name)
    assert not unwrapped


def test_a_missing_extra_is_one_line_naming_it_and_other_missing_modules_are_bugs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from postroom.clikit import friendly_errors

    @friendly_errors
    def needs(module: str) -> None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    with pytest.raises(typer.Exit) as raised:
        needs("sentence_transformers.models")
    assert raised.value.exit_code == 1
    printed = " ".join(capsys.readouterr().err.split())
    assert printed == (
        "error: this command needs the `train` extra, which is not installed here (no module "
        "'sentence_transformers'): pip install -e '.[train]' in the repository (see README.md)"
    )
    with pytest.raises(typer.Exit):
        needs("onnxruntime")
    assert "needs the `cpu` or `gpu` extra" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(ModuleNotFoundError):  # not an extra of Postroom's: a bug, shown as one
        needs("postroom_typo")


def test_control_characters_of_the_input_are_printed_as_escapes(engine: Engine, tmp_path: Path) -> None:
    """An ID with a terminal escape cannot recolour or erase what the operator reads."""
    result = invoke("ingest", str(write_jsonl(tmp_path / "a.jsonl", record("esc\x1b[31mRED"))))
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "esc\\x1b[31mRED" in result.stderr


def test_parallel_ingests_of_one_file_store_each_message_once_without_false_rejections(
    engine: Engine, tmp_path: Path
) -> None:
    """Three runs race for the same IDs: the unique ID refuses the later inserts, which are then found
    stored, so each run ends with every message stored or unchanged, not `store error: IntegrityError`."""
    import subprocess
    import sys

    path = write_jsonl(tmp_path / "many.jsonl", *(record(f"m-{i}", body=f"Text {i}") for i in range(150)))
    command = [sys.executable, "-c", "from postroom.cli import main; main()", "ingest", str(path)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    results = [(run.returncode, stderr) for run, stderr in zip(runs, errors, strict=True)]
    assert all(code == 0 for code, _ in results), results
    assert not any("IntegrityError" in stderr for _, stderr in results)
    assert invoke("summary").stdout.startswith("150 messages")
