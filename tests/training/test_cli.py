"""`postroom train` and `postroom models …` end to end on a real store and a real registry."""

from __future__ import annotations

import getpass
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.store.models import AuditEvent
from tests.training.builders import fill_store, write_mini_taxonomy

if TYPE_CHECKING:
    from tests.serving.builders import Exported

runner = CliRunner()
if not any(command.name == "train" for command in app.registered_commands):
    register_components()

TINY = [
    "--max-seq-length",
    "32",
    "--max-steps",
    "2",
    "--epochs",
    "1",
    "--min-examples",
    "2",
    "--eval-fraction",
    "0.25",
    "--device",
    "cpu",
]


@pytest.fixture
def mini_store(sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from postroom.settings import get_settings

    monkeypatch.setenv("POSTROOM_TAXONOMY_PATH", str(write_mini_taxonomy(tmp_path / "taxonomy.yaml")))
    get_settings.cache_clear()
    with sessions() as session:
        fill_store(session, per_class=6, skip={"card_limit": 3})


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_train_prints_macro_f1_and_the_lifecycle_works(
    mini_store: None, engine: Engine, tmp_path: Path
) -> None:
    too_few = invoke("train", *TINY[:6], "--min-examples", "3", "--device", "cpu")
    assert too_few.exit_code == 1
    assert "class 'card_limit'" in too_few.stderr and "Traceback" not in too_few.output

    result = invoke("train", *TINY, "--seed", "3", "--by", "tester")
    assert result.exit_code == 0, result.output
    assert "macro-F1 queue:" in result.stdout and "macro-F1 topic:" in result.stdout
    assert "registered v0001 as candidate" in result.stdout
    # 6 messages a class (card_limit 3) against the default labeling target of 8: said, not refused
    warned = " ".join(result.stderr.split())
    assert "classes have fewer than the labeling target N = 8 labeled messages (card_limit, " in warned
    assert "warning: topic: " in warned and "warning: queue: " in warned
    assert not (tmp_path / "checkpoints").exists()

    listing = json.loads(invoke("models", "list", "--json").stdout)
    assert listing[0]["version"] == "v0001" and listing[0]["stage"] == "candidate"
    assert set(listing[0]["macro_f1"]) == {"queue", "topic"}

    assert invoke("models", "promote", "v0001").exit_code == 1  # approve first
    assert invoke("models", "approve", "v0001", "--by", "lead", "--reason", "card read").exit_code == 0
    unexported = invoke("models", "promote", "v0001", "--by", "lead")
    assert unexported.exit_code == 1 and "has no ONNX export" in unexported.stderr
    assert json.loads(invoke("models", "list", "--json").stdout)[0]["stage"] == "approved"
    assert invoke("export", "v0001", "--variants", "fp32").exit_code == 0
    promoted = invoke("models", "promote", "v0001", "--by", "lead")
    assert promoted.exit_code == 0 and "v0001 is in production" in promoted.stdout
    shown = invoke("models", "show", "v0001")
    assert "files: intact" in shown.stdout and "approved -> production  by lead" in shown.stdout
    _assert_show_has_the_stored_per_class_figures(tmp_path / "data" / "models" / "v0001", shown.stdout)
    rollback = invoke("models", "rollback", "--reason", "try")
    assert rollback.exit_code == 1 and "no version was in production before v0001" in rollback.stderr
    me = getpass.getuser()  # who ran the commands, recorded beside who they were run as (--by)
    assert f"approved -> production  by lead (OS user {me}): " in shown.stdout
    history = json.loads((tmp_path / "data" / "models" / "v0001" / "manifest.json").read_text())["history"]
    assert [(h["by"], h["os_user"]) for h in history] == [("tester", me), ("lead", me), ("lead", me)]
    with Session(engine) as session:
        events = session.query(AuditEvent).order_by(AuditEvent.id).all()
    assert [e.kind for e in events] == ["model.approved", "model.promoted"]
    assert [(e.actor, e.payload["os_user"]) for e in events] == [("lead", me), ("lead", me)]


def test_models_list_shows_a_corrupt_version_and_show_explains(tmp_path: Path) -> None:
    broken = tmp_path / "data" / "models" / "v0001"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("[]")
    listing = invoke("models", "list")
    assert listing.exit_code == 0 and "corrupt" in listing.stdout
    shown = invoke("models", "show", "v0001")
    assert shown.exit_code == 1 and "not a JSON object" in shown.stderr and "Traceback" not in shown.output
    missing = invoke("models", "show", "v0042")
    assert missing.exit_code == 1 and "no model version 'v0042'" in missing.stderr


def test_train_on_an_empty_store_says_so(engine: Engine) -> None:
    result = invoke("train", *TINY)
    assert result.exit_code == 1
    assert "no labeled messages in the store" in result.stderr


def test_train_refuses_zero_head_jobs_in_one_line(engine: Engine) -> None:
    result = invoke("train", *TINY, "--head-jobs", "0")
    assert result.exit_code == 1
    assert "`head_jobs` must be None or >= 1, got 0" in result.stderr and "Traceback" not in result.output


def test_models_list_says_when_macro_f1_leaves_out_a_class_without_held_out_messages(tmp_path: Path) -> None:
    """A 1.000 over one class of two is not a perfect model: the listing says over how many classes."""
    from tests.training.test_registry import publish
    from training.cli import unmeasured_warning
    from training.registry import MANIFEST, Registry

    registry = Registry(tmp_path / "data" / "models")
    publish(registry, f1=1.0)
    publish(registry, f1=0.9)
    path = registry.root / "v0001" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["metrics"]["topic"]["classes_without_eval_examples"] = ["b"]
    path.write_text(json.dumps(manifest))
    rows = {line.split()[1]: line for line in invoke("models", "list").stdout.splitlines() if "│ v" in line}
    assert "topic 1.000 (over 1 of 2 classes)" in rows["v0001"]
    assert "topic 0.900" in rows["v0002"] and "classes)" not in rows["v0002"]
    assert unmeasured_warning("urgency", {"macro_f1": 1.0, "classes_without_eval_examples": ["urgent"]}) == (
        "warning: urgency: no held-out message of urgent, so its macro-F1 leaves it out (label more of it; "
        "`postroom models show` has the per-class figures)"
    )
    assert unmeasured_warning("topic", {"macro_f1": 0.8, "classes_without_eval_examples": []}) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"metrics": {"topic": 0.8}}, "metrics of label set 'topic' are not a JSON object"),
        ({"taxonomy": {}}, "'taxonomy' lacks a text 'name'"),
    ],
)
def test_one_malformed_manifest_is_listed_as_corrupt_and_the_others_still_show(
    tmp_path: Path, fields: dict[str, object], reason: str
) -> None:
    from tests.training.test_registry import publish
    from training.registry import MANIFEST, Registry

    registry = Registry(tmp_path / "data" / "models")
    for _ in range(3):
        publish(registry, f1=0.75)
    path = registry.root / "v0002" / MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))

    listing = invoke("models", "list")
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[1]: line for line in listing.stdout.splitlines() if line.startswith("│ v")}
    assert set(rows) == {"v0001", "v0002", "v0003"}
    assert "corrupt" in rows["v0002"] and "topic 0.750" in rows["v0001"] and "topic 0.750" in rows["v0003"]
    assert reason.split()[0] in listing.stdout  # the reason, wrapped in its table cell
    as_json = invoke("models", "list", "--json")
    assert as_json.exit_code == 0, as_json.output
    entries = {e["version"]: e for e in json.loads(as_json.stdout)}
    assert entries["v0001"]["macro_f1"] == {"topic": 0.75} and entries["v0003"]["stage"] == "candidate"
    assert entries["v0002"]["stage"] == "corrupt" and reason in entries["v0002"]["problem"]

    shown = invoke("models", "show", "v0002")
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert reason in shown.stderr and len(shown.stderr.strip().splitlines()) == 1
    assert invoke("models", "show", "v0003").exit_code == 0


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("list.json", "[1, 2]", "a training config is a table of TrainConfig fields, not list"),
        ("twice.json", '{"seed": 1, "seed": 2}', "duplicate key 'seed'"),
        ("tables.toml", "[train]\nseed = 1\n[serve]\nport = 1\n", "keys beside the [train] table: serve"),
        ("scalar.toml", "train = 5\n", "a training config is a table of TrainConfig fields, not int"),
        ("train.yaml", "seed: 3\n", "as TOML (a .json file is JSON, any other TOML)"),
        ("seed.toml", 'seed = "abc"\n', "`seed` must be a whole number, got 'abc'"),
        ("batch.toml", "batch_size = 64.0\n", "`batch_size` must be a whole number, got 64.0"),
        ("names.toml", 'class_texts = "no"\n', "`class_texts` must be true or false, got 'no'"),
    ],
)
def test_a_bad_config_file_is_one_line_before_anything_runs(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = invoke("train", "--config", str(path))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "models").exists()


def _registry_with_v0002(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Exported, Path]:
    """An isolated copy of the shared registry (v0001 in production, exported) that the settings point at,
    with v0002, a candidate exported with the same files; (the copy, v0002's export directory)."""
    from postroom.settings import get_settings
    from tests.serving.builders import copy_as_version, isolated

    exp = isolated(tmp_path)
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(exp.registry_dir))
    get_settings.cache_clear()
    return exp, copy_as_version(exp, "v0002")


def test_promote_and_rollback_refuse_a_version_without_an_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    from tests.training.test_registry import publish
    from training.registry import Registry

    exp, _ = _registry_with_v0002(tmp_path, monkeypatch)
    registry = Registry(exp.registry_dir)
    assert publish(registry) == "v0003"  # not exported
    for version in ("v0002", "v0003"):
        assert invoke("models", "approve", version, "--reason", "card read").exit_code == 0

    def stages() -> dict[str, str]:
        return {v.version: v.stage for v in registry.versions()}

    refused = invoke("models", "promote", "v0003")
    assert refused.exit_code == 1 and "v0003 has no ONNX export" in refused.stderr
    assert "postroom export v0003" in refused.stderr
    assert stages() == {"v0001": "production", "v0002": "approved", "v0003": "approved"}
    promoted = invoke("models", "promote", "v0002")
    assert promoted.exit_code == 0 and "v0002 is in production; v0001 is archived" in promoted.stdout
    back = invoke("models", "rollback", "--to", "v0003", "--reason", "v0002 misroutes")
    assert back.exit_code == 1 and "v0003 has no ONNX export" in back.stderr
    assert stages() == {"v0001": "archived", "v0002": "production", "v0003": "approved"}
    for blank in ([], ["--reason", "  "]):
        refused = invoke("models", "rollback", *blank)
        assert refused.exit_code == 1 and refused.stderr.strip().splitlines() == [
            'error: --reason is required: say why, e.g. --reason "card read, complaints recall ok"'
        ]
    escaped = invoke("models", "rollback", "--reason", "v0002\x1b[2J misroutes")
    assert escaped.exit_code == 1 and escaped.stderr.strip().splitlines() == [
        "error: --reason contains control characters: give it on one line of plain text"
    ]
    assert stages()["v0002"] == "production"
    back = invoke("models", "rollback", "--reason", "v0002 misroutes complaints")
    assert back.exit_code == 0 and "v0001 is in production; v0002 is archived" in back.stdout
    assert stages()["v0001"] == "production"
    assert registry.get("v0001").history[-1]["reason"] == "v0002 misroutes complaints"
    with Session(engine) as session:
        events = [(e.kind, e.subject, e.payload) for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    assert [kind for kind, _, _ in events] == [
        "model.approved",
        "model.approved",
        "model.promoted",
        "model.rolled_back",
    ]
    assert events[0][2] == {"stage": "approved", "reason": "card read", "os_user": getpass.getuser()}
    for (_, subject, payload), (live, archived) in zip(
        events[2:], [("v0002", "v0001"), ("v0001", "v0002")], strict=True
    ):
        assert subject == live and payload["production"] == live and payload["archived"] == archived


def test_sigterm_during_training_leaves_no_staging_or_scratch_directory(
    mini_store: None, tmp_path: Path
) -> None:
    """A job scheduler's stop (SIGTERM) cleans up as Ctrl-C does: no half-written version is left."""
    data = tmp_path / "data"
    command = [sys.executable, "-c", "from postroom.cli import main; main()", "train", *TINY]
    process = subprocess.Popen(
        [*command, "--max-steps", "10000", "--epochs", "10000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((data / "models").glob(".staging-*")) and process.poll() is None:
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.05)
    time.sleep(1.0)  # into loading the base model and training
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert not list((data / "models").glob(".staging-*")) and not list((data / "models").glob("v*"))
    assert not list((data / "tmp").glob("train-*"))


@pytest.mark.parametrize(("args", "module"), [(["train", *TINY], "torch"), (["export", "v0001"], "onnx")])
def test_without_the_train_extra_training_commands_say_what_to_install(
    mini_store: None, tmp_path: Path, args: list[str], module: str
) -> None:
    """A serving-only install (`.[cpu]`) lists these commands; running one names the missing extra in one
    line instead of a traceback. The extra's module is made unimportable, as where it is not installed."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; sys.argv = ['postroom', *sys.argv[1:]];"
        "from postroom.cli import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: this command needs the `train` extra, which is not installed here "
        f"(no module {module!r}): pip install -e '.[train]' in the repository (see README.md)"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert not list((tmp_path / "data" / "models").glob("*v0*"))


def test_show_prints_free_text_of_the_history_verbatim(tmp_path: Path) -> None:
    """Who approved and why are typed by people: rich markup in them must not break `models show`."""
    from tests.training.test_registry import publish
    from training.registry import Registry

    publish(Registry(tmp_path / "data" / "models"))
    approved = invoke("models", "approve", "v0001", "--by", "[bold]eve", "--reason", "fine [/red] really")
    assert approved.exit_code == 0, approved.output
    shown = invoke("models", "show", "v0001")
    assert shown.exit_code == 0, shown.exception
    me = getpass.getuser()
    assert f"candidate -> approved  by [bold]eve (OS user {me}): fine [/red] really" in shown.stdout


def test_an_empty_by_is_refused_before_anything_changes(tmp_path: Path, engine: Engine) -> None:
    """An audit trail needs a name: `--by ""` is refused (leaving it out records the OS user)."""
    from tests.training.test_registry import publish
    from training.registry import Registry

    registry = Registry(tmp_path / "data" / "models")
    publish(registry)
    for args in (["models", "approve", "v0001", "--by", ""], ["train", *TINY, "--by", "  "]):
        result = invoke(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output, args
        assert "--by is empty: name who acts, or leave it out to record your user name" in result.stderr
    assert registry.get("v0001").stage == "candidate"
    assert invoke("models", "approve", "v0001", "--reason", "ok").exit_code == 0
    assert registry.get("v0001").stage == "approved"


def test_train_records_postroom_user_as_models_approve_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`POSTROOM_USER` names who trains when `--by` is not given (blank: refused, like a blank --by)."""
    import training.pipeline
    from training.errors import TrainingError

    monkeypatch.setenv("POSTROOM_USER", "  ")
    blank = invoke("train", *TINY)
    assert blank.exit_code == 1 and "--by is empty: name who acts" in blank.stderr

    def stub_pipeline_reporting_the_actor(*_: object, actor: str, **__: object) -> None:
        raise TrainingError(f"would train as {actor}")  # the actor is all this test needs: no training

    monkeypatch.setattr(training.pipeline, "train_from_store", stub_pipeline_reporting_the_actor)
    monkeypatch.setenv("POSTROOM_USER", "lena")
    assert "would train as lena" in invoke("train", *TINY).stderr
    assert "would train as eve" in invoke("train", *TINY, "--by", "eve").stderr  # the option wins


def test_show_reports_damaged_files_and_exits_1(tmp_path: Path) -> None:
    from tests.training.test_registry import publish
    from training.registry import Registry

    publish(Registry(tmp_path / "data" / "models"))
    assert invoke("models", "show", "v0001").exit_code == 0
    (tmp_path / "data" / "models" / "v0001" / "bodies" / "shared" / "model.bin").write_text("tampered")
    shown = invoke("models", "show", "v0001")
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert "files: " in shown.stdout and "bodies/shared/model.bin" in shown.stdout
    assert "-> candidate  by trainer" in shown.stdout  # the rest of the report is still there


def test_promote_and_rollback_refuse_a_corrupt_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """A file of the export changed or gone: the service could not load it, so it may not go live."""
    _, export = _registry_with_v0002(tmp_path, monkeypatch)
    assert invoke("models", "approve", "v0002", "--reason", "card read").exit_code == 0
    heads = export / "heads.json"
    original = heads.read_bytes()
    heads.unlink()  # a symlink into the shared export: replaced, never written through
    heads.write_bytes(original.replace(b"{", b"{ ", 1))
    refused = invoke("models", "promote", "v0002")
    assert refused.exit_code == 1
    assert "the ONNX export of v0002 is corrupt: heads.json does not match its checksum" in refused.stderr
    heads.unlink()
    assert "heads.json is missing" in invoke("models", "promote", "v0002").stderr
    heads.write_bytes(original)
    assert invoke("models", "promote", "v0002").exit_code == 0


def test_promote_refuses_a_version_that_cannot_route_with_the_taxonomy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """Trained on another taxonomy, or without the queue model: it would send everything to triage."""
    from training.registry import CONTENT_DIGEST, MANIFEST, manifest_digest

    exp, _ = _registry_with_v0002(tmp_path, monkeypatch)
    path = exp.registry_dir / "v0002" / MANIFEST
    assert invoke("models", "approve", "v0002", "--reason", "card read").exit_code == 0
    original = json.loads(path.read_text(encoding="utf-8"))
    other = {**original, "taxonomy": {**original["taxonomy"], "fingerprint": "0" * 16}}
    other[CONTENT_DIGEST] = manifest_digest(other)  # as published so, not edited by hand (verify says so)
    path.write_text(json.dumps(other), encoding="utf-8")
    refused = invoke("models", "promote", "v0002")
    assert refused.exit_code == 1 and "v0002 was trained on another taxonomy" in refused.stderr
    partial = {**original, "label_sets": {k: v for k, v in original["label_sets"].items() if k != "queue"}}
    partial[CONTENT_DIGEST] = manifest_digest(partial)
    path.write_text(json.dumps(partial), encoding="utf-8")
    refused = invoke("models", "promote", "v0002")
    assert "v0002 has no queue model, which routing reads: every message would go to triage" in refused.stderr


def _assert_show_has_the_stored_per_class_figures(version_dir: Path, shown: str) -> None:
    """`models show` prints each label set's per-class rows and top confusion as its report.json has them."""
    from training.model_card import WEAK_F1_BAR, WEAK_F1_GAP

    manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
    for name, entry in manifest["label_sets"].items():
        report = json.loads((version_dir / "eval" / name / "report.json").read_text(encoding="utf-8"))
        classes, matrix = entry["classes"], report["confusion_matrix"]
        macro = report["macro_f1"]
        for index, cls in enumerate(classes):
            row = next(line for line in shown.splitlines() if f" {cls} " in line and "│" in line)
            figures = report["per_class"][cls]
            if sum(matrix[index]) == 0:
                assert "n/a" in row and cls in report["classes_without_eval_examples"]
                continue
            assert f"{figures['f1-score']:.3f}" in row and f"{figures['recall']:.3f}" in row
            weak = figures["f1-score"] < WEAK_F1_BAR or figures["f1-score"] < macro - WEAK_F1_GAP
            assert ("WEAK" in row) == weak, row
        off = [(matrix[i][j], i, j) for i in range(len(classes)) for j in range(len(classes)) if i != j]
        if any(count for count, _, _ in off):
            count = max(n for n, _, _ in off)
            top = [f"{classes[a]} → {classes[b]}: {n} of {sum(matrix[a])}" for n, a, b in off if n == count]
            assert any(pair in shown for pair in top), top
    assert "planned contrastive steps" in shown


def test_show_lists_each_class_flags_the_weak_one_and_the_top_confusion(tmp_path: Path) -> None:
    """A version whose stored report has a weak `complaints` class leaking into `cards` (the audit's case)."""
    from tests.training.test_model_card import expected_from_report, publish_with_report
    from training.registry import Registry

    version = publish_with_report(Registry(tmp_path / "data" / "models"))
    expected = expected_from_report(version)
    shown = invoke("models", "show", version.version)
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.stdout.splitlines() if f" {expected['weakest']} " in line)
    assert expected["weakest_f1"] in row and expected["weakest_recall"] in row and "WEAK" in row
    assert expected["pair"] in shown.stdout
    assert "no held-out examples for fraud" in shown.stdout and "over 4 of 5 classes" in shown.stdout
    assert "5 of 50 planned contrastive steps, CAPPED at 5 steps on cpu" in shown.stdout
    _assert_show_has_the_stored_per_class_figures(version.path, shown.stdout)


def test_approve_needs_a_reason_and_never_records_a_placeholder(tmp_path: Path) -> None:
    from tests.training.test_registry import publish
    from training.registry import Registry

    registry = Registry(tmp_path / "data" / "models")
    publish(registry)
    for blank in ([], ["--reason", ""], ["--reason", " \t "]):
        refused = invoke("models", "approve", "v0001", *blank)
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert refused.stderr.strip().splitlines() == [
            'error: --reason is required: say why, e.g. --reason "card read, complaints recall ok"'
        ]
    assert registry.get("v0001").stage == "candidate"
    assert invoke("models", "approve", "v0001", "--reason", " card read ").exit_code == 0
    assert registry.get("v0001").history[-1]["reason"] == "card read"


def test_show_and_approve_warn_about_a_version_of_another_taxonomy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    from training.registry import CONTENT_DIGEST, MANIFEST, manifest_digest

    exp, _ = _registry_with_v0002(tmp_path, monkeypatch)
    path = exp.registry_dir / "v0002" / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    queue = manifest["label_sets"]["queue"]["classes"]
    gone = queue[-1]
    manifest["label_sets"]["queue"]["classes"] = [*queue[:-1], "fraud"]
    manifest["taxonomy"]["fingerprint"] = "0" * 16
    manifest[CONTENT_DIGEST] = manifest_digest(manifest)  # as published so, not edited by hand
    path.write_text(json.dumps(manifest), encoding="utf-8")
    same = invoke("models", "show", exp.version)
    assert (
        same.exit_code == 0
        and "another taxonomy" not in same.stderr
        and "trained on taxonomy" not in same.stderr
    )
    for args in (["show", "v0002"], ["approve", "v0002", "--reason", "card read"]):
        result = invoke("models", *args)
        assert result.exit_code == 0, result.output
        assert "warning: v0002 was trained on taxonomy" in result.stderr
        assert (
            f"queue: new {gone}; gone fraud" in result.stderr
            and "`models promote` will refuse it" in result.stderr
        )
