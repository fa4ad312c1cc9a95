"""`postroom doctor`'s served-model check: it loads what `postroom serve` would, on the real shared export."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.settings import get_settings
from postroom.taxonomy import load_taxonomy
from router.thresholds import set_thresholds
from tests.conftest import REPO_ROOT
from tests.serving.builders import Exported

runner = CliRunner()
register_components()
TAXONOMY = REPO_ROOT / "postroom" / "resources" / "taxonomy.yaml"


def served_line(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[int, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    result = runner.invoke(app, ["doctor"])
    line = next(line for line in result.stdout.splitlines() if " served model: " in line)
    return result.exit_code, line


def edited_taxonomy(tmp_path: Path, old: str, new: str) -> str:
    path = tmp_path / "edited.yaml"
    text = TAXONOMY.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(path)


def test_the_production_model_loads_as_the_service_would(
    sessions: sessionmaker[Session], shared: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, line = served_line(monkeypatch, POSTROOM_MODELS_DIR=str(shared.registry_dir))
    assert code == 0
    assert line.startswith(f"ok   served model: {shared.version} (production): ")
    assert "on CPUExecutionProvider, 3 label sets fit the taxonomy" in line


def test_no_production_model_is_a_warning(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, line = served_line(monkeypatch, POSTROOM_MODELS_DIR=str(tmp_path / "empty"))
    assert code == 0
    assert line.startswith("warn served model: no model version is in production")
    assert "answers 503 on /readyz" in line


def test_a_missing_version_or_a_damaged_export_fails(
    sessions: sessionmaker[Session], shared: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, line = served_line(
        monkeypatch, POSTROOM_MODELS_DIR=str(shared.registry_dir), POSTROOM_SERVE_MODEL="v0042"
    )
    assert code == 1 and line.startswith("fail served model: no model version 'v0042' in ")

    registry = tmp_path / "models"
    shutil.copytree(shared.registry_dir, registry)
    tokenizer = next((registry / "exports" / shared.version / "tokenizer").rglob("tokenizer.json"))
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8") + " ", encoding="utf-8")
    code, line = served_line(
        monkeypatch, POSTROOM_MODELS_DIR=str(registry), POSTROOM_SERVE_MODEL="production"
    )
    assert code == 1 and line.startswith("fail served model: ") and "does not match its checksum" in line


def test_a_model_predicting_classes_the_taxonomy_lacks_fails(
    sessions: sessionmaker[Session], shared: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taxonomy = edited_taxonomy(tmp_path, "      - name: complaints\n", "      - name: grievances\n")
    code, line = served_line(
        monkeypatch, POSTROOM_MODELS_DIR=str(shared.registry_dir), POSTROOM_TAXONOMY_PATH=taxonomy
    )
    assert code == 1
    assert "does not fit the taxonomy nordhafen-bank: its queue classes complaints are not in" in line
    assert "every message to the triage queue" in line


def test_a_class_added_after_training_is_a_warning(
    sessions: sessionmaker[Session], shared: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = "      - name: complaints\n        description: Formal complaints.\n      - name: pensions\n"
    taxonomy = edited_taxonomy(tmp_path, "      - name: complaints\n", added)
    code, line = served_line(
        monkeypatch, POSTROOM_MODELS_DIR=str(shared.registry_dir), POSTROOM_TAXONOMY_PATH=taxonomy
    )
    assert code == 0 and line.startswith("warn served model: ")
    assert "it never predicts queue/pensions (added to the taxonomy after it was trained?)" in line


def test_thresholds_calibrated_for_another_model_are_a_warning(
    sessions: sessionmaker[Session], shared: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sessions() as session:
        set_thresholds(
            session, load_taxonomy(TAXONOMY), {"topic": {"card_replacement": 0.9}}, "lena", "test",
            model_version="v0007",
        )
        session.commit()
    code, line = served_line(monkeypatch, POSTROOM_MODELS_DIR=str(shared.registry_dir))
    assert code == 0 and line.startswith(f"warn served model: {shared.version} (production): ")
    assert "thresholds version 1 were calibrated for model v0007" in line
    assert f"postroom calibrate --model {shared.version}" in line
