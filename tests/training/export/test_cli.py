"""`postroom export VERSION` on a real registry and store: held-out texts from the store, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from torch.jit import TracerWarning
from typer.testing import CliRunner

from postroom.clikit import CliRoots
from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.settings import get_settings
from tests.serving.builders import MESSAGES, Exported, isolated
from training.export import cli as export_cli
from training.export import exporter
from training.export.margins import MarginChoice, next_margins


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """test root"""

    export_cli.register(CliRoots(app=root, bench=typer.Typer()))
    return root


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sessions: sessionmaker[Session]) -> Exported:
    """A mirrored registry whose held-out message IDs are in the store."""
    exp = isolated(tmp_path)
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(exp.registry_dir))
    get_settings.cache_clear()
    with sessions() as session:
        for index, (subject, body, labels) in enumerate(MESSAGES):
            ingest_one(
                session,
                IncomingMessage(
                    f"msg-{index:03d}@example.org", body, "text", "t", subject=subject, labels=labels
                ),
            )
        session.commit()
    return exp


def test_export_uses_the_held_out_messages_and_replaces_the_export(
    app: typer.Typer, registry: Exported, recwarn: pytest.WarningsRecorder
) -> None:
    result = CliRunner().invoke(app, ["export", "production", "--variants", "fp32", "--replace-production"])
    assert result.exit_code == 0, result.output
    assert not [w for w in recwarn if w.category is TracerWarning]  # tracing's known warnings are silenced
    assert "published fp32" in result.output
    said = " ".join(result.output.split())  # v0001 is in production: what replacing its export means
    assert "v0001 is in production: a running service loads this export" in said
    assert "run `postroom calibrate` and `postroom thresholds suggest` again" in said
    manifest = json.loads((registry.export_dir / "export.json").read_text(encoding="utf-8"))
    assert manifest["parity_texts"] == len(MESSAGES)
    assert set(manifest["variants"]) == {"fp32"}
    assert not (registry.export_dir / "int8").exists()  # the old export was replaced as a whole


def test_the_production_version_is_re_exported_only_when_asked(app: typer.Typer, registry: Exported) -> None:
    before = (registry.export_dir / "export.json").read_bytes()
    refused = CliRunner().invoke(app, ["export", "production", "--variants", "fp32"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    said = " ".join(refused.output.split())
    assert "v0001 is in production: a new export replaces the graphs the running service serves" in said
    assert "add --replace-production" in said
    assert (registry.export_dir / "export.json").read_bytes() == before  # nothing was touched


def test_nothing_published_keeps_the_old_export_and_says_why(
    app: typer.Typer, registry: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = exporter.compare

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        result.published, result.reason = False, "not published: forced by the test"
        return result

    monkeypatch.setattr(exporter, "compare", failing)
    before = (registry.export_dir / "export.json").read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["export", "v0001", "--variants", "fp32", "--replace-production"])
    assert result.exit_code == 1
    assert (
        "no variant of v0001 passed the parity gate" in result.output
        and "forced by the test" in result.output
    )
    assert (registry.export_dir / "export.json").read_text(encoding="utf-8") == before
    rejected = registry.export_dir.with_name("v0001.rejected")
    report = json.loads((rejected / "parity.json").read_text(encoding="utf-8"))
    assert report["variants"][0]["reason"] == "not published: forced by the test"
    assert not (rejected / "fp32").exists()


def test_errors_are_one_line(app: typer.Typer, registry: Exported, tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["export", "v0099"])
    assert missing.exit_code == 1 and "no model version 'v0099'" in missing.output
    bad = CliRunner().invoke(app, ["export", "v0001", "--variants", "fp16"])
    assert bad.exit_code == 1 and "variants" in bad.output
    recipe = CliRunner().invoke(app, ["export", "v0001", "--int8-keep-fp32", "attention"])
    assert recipe.exit_code == 1 and "--int8-keep-fp32 must be one of" in recipe.output  # the option's name
    gate = CliRunner().invoke(app, ["export", "v0001", "--min-agreement", "1.5"])
    assert gate.exit_code == 1 and "--min-agreement must be in (0, 1], got 1.5" in gate.output
    assert "Traceback" not in recipe.output
    texts = tmp_path / "texts.jsonl"
    texts.write_text("not json\n", encoding="utf-8")
    broken = CliRunner().invoke(app, ["export", "v0001", "--texts", str(texts), "--replace-production"])
    assert broken.exit_code == 1 and "texts.jsonl:1" in broken.output


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'\xff\xfe{"text": "Karte weg"}\n', "texts.jsonl: not UTF-8 (invalid start byte at byte 0)"),
        (b'{"body": "Karte weg"}\n\n{"text": " "}\n', "has no line with a non-empty `text` field"),
    ],
)
def test_a_texts_file_without_usable_text_is_one_line(
    app: typer.Typer, registry: Exported, tmp_path: Path, content: bytes, reason: str
) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_bytes(content)
    result = CliRunner().invoke(app, ["export", "v0001", "--texts", str(texts), "--replace-production"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert reason in result.output and "held-out set is empty" not in result.output


def test_a_version_with_a_deleted_file_is_refused_as_corrupt(
    app: typer.Typer, registry: Exported, tmp_path: Path
) -> None:
    from training.registry import DATASET_FILE

    before = (registry.export_dir / "export.json").read_text(encoding="utf-8")
    (registry.registry_dir / "v0001" / DATASET_FILE).unlink()
    result = CliRunner().invoke(app, ["export", "v0001", "--variants", "fp32", "--replace-production"])
    assert result.exit_code == 1
    assert "v0001 is corrupt, not exporting it: missing file dataset.json" in result.output
    assert "pass --texts" not in result.output
    assert (registry.export_dir / "export.json").read_text(encoding="utf-8") == before


def _ingest_unlabeled(sessions: sessionmaker[Session], count: int) -> list[str]:
    """Messages no version holds out (not in dataset.json): what int8's margins are calibrated on."""
    topics = ("card limit", "transfer fee", "address change", "portfolio statement", "login problem")
    texts = []
    with sessions() as session:
        for index in range(count):
            text = f"Question {index} about my {topics[index % len(topics)]}, please call me back."
            ingest_one(session, IncomingMessage(f"new-{index:03d}@example.org", text, "text", "t"))
            texts.append(text)
        session.commit()
    return texts


def test_int8_margins_are_calibrated_on_the_stored_messages_that_are_not_held_out(
    app: typer.Typer, registry: Exported, sessions: sessionmaker[Session]
) -> None:
    _ingest_unlabeled(sessions, 60)
    recipe = ["--int8-keep-fp32", "ffn_output"]  # the same int8 on every CPU (auto follows VNNI)
    args = ["export", "production", "--variants", "fp32,int8", *recipe, "--replace-production"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((registry.export_dir / "export.json").read_text(encoding="utf-8"))
    chosen = manifest["options"]["int8_margins"]
    assert chosen["source"] == "calibrated" and chosen["texts"] == 60  # the held-out MESSAGES left out
    assert manifest["parity_texts"] == len(MESSAGES)
    assert manifest["variants"]["int8"]["published"], manifest["variants"]["int8"]["reason"]
    assert manifest["variants"]["int8"]["fallback"]["margins"] == chosen["margins"]
    assert "calibrated on 60 stored messages not held out" in result.output
    assert manifest["options"]["int8_smoothing"]["texts"] == 60  # smoothed on the same messages
    assert "inputs smoothed (alpha 0.8) on 60 stored messages not held out" in result.output
    built = f"int8 built for {manifest['options']['int8_target']} (this CPU's), feed-forward outputs in fp32"
    assert f"{built}, activations quantised per token" in result.output

    args = ["export", "production", "--variants", "fp32,int8", "--fixed-int8-margin", *recipe]
    args.append("--replace-production")
    fixed = CliRunner().invoke(app, [*args, "--int8-target", "avx2"])
    assert fixed.exit_code == 0, fixed.output
    manifest = json.loads((registry.export_dir / "export.json").read_text(encoding="utf-8"))
    assert manifest["options"]["int8_activations"]["bits"] == 7
    assert "int8 built for avx2, feed-forward outputs in fp32, activations quantised per token in 7 bits" in (
        fixed.output
    )
    assert manifest["options"]["int8_margins"]["margins"] == dict.fromkeys(manifest["label_sets"], 0.2)
    assert "line_of_business 0.2, queue 0.2, topic 0.2; fixed margin asked for" in fixed.output
    assert manifest["options"]["int8_smoothing"]["texts"] == 60  # smoothing still reads them

    unsmoothed = CliRunner().invoke(app, [*args, "--int8-smooth", "0"])
    assert unsmoothed.exit_code == 0, unsmoothed.output
    manifest = json.loads((registry.export_dir / "export.json").read_text(encoding="utf-8"))
    assert manifest["options"]["int8_smoothing"] == {
        "alpha": 0.0,
        "texts": 0,
        "bodies": {},
        "note": "smoothing off (int8_smooth 0)",
    }
    assert "; smoothing off (int8_smooth 0)" in unsmoothed.output
    bad = CliRunner().invoke(app, ["export", "production", "--int8-smooth", "1.5", "--replace-production"])
    assert bad.exit_code != 0 and "--int8-smooth must be in [0, 1]" in bad.output
    assert "Traceback" not in bad.output


def test_calibration_texts_leave_out_the_held_out_messages_and_stop_at_the_limit(
    registry: Exported, sessions: sessionmaker[Session]
) -> None:
    from training.export.source import calibration_texts
    from training.registry import Registry

    texts = _ingest_unlabeled(sessions, 5)
    version = Registry(registry.registry_dir).get(registry.version)
    with sessions() as session:
        assert calibration_texts(session, version) == texts  # every MESSAGES ID is held out
        assert calibration_texts(session, version, limit=2) == texts[:2]
    (version.path / "dataset.json").unlink()  # nothing known to be held out: nothing is taken
    with sessions() as session:
        assert calibration_texts(session, version) == []


def test_the_margins_line_says_which_label_sets_were_raised_to_the_fixed_margin() -> None:
    calibrated = {"line_of_business": 0.13, "queue": 0.195, "topic": 0.091}
    raised = next_margins(
        MarginChoice(calibrated, "calibrated", texts=273), ["line_of_business"], 0.2, "not published: lob"
    )
    assert raised is not None
    line = export_cli._margins_line("int8", raised.to_dict())
    assert "closer than: line_of_business 0.2, queue 0.195, topic 0.091" in line
    assert "(calibrated on 273 stored messages not held out)" in line
    assert "refused on line_of_business (not published: lob): the fixed margin there" in line
