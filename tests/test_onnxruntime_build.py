"""`postroom.runtime.check_onnxruntime`: one build in use, refused when two builds share a directory."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from postroom.runtime import RuntimeSetupError, check_onnxruntime


def _build(root: Path, distribution: str, version: str = "1.31.1") -> Path:
    """A directory holding an installed `distribution` (its dist-info and the `onnxruntime` package)."""
    info = root / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (root / "onnxruntime").mkdir(exist_ok=True)
    (root / "onnxruntime" / "__init__.py").write_text("")
    return root


def test_this_environment_has_the_cpu_build() -> None:
    assert check_onnxruntime() == "cpu"  # make install: the `cpu` extra


def test_both_builds_in_one_directory_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed = _build(_build(tmp_path / "site", "onnxruntime"), "onnxruntime-gpu")
    monkeypatch.setattr(sys, "path", [str(mixed), *sys.path])
    with pytest.raises(RuntimeSetupError, match="both ONNX Runtime builds are installed"):
        check_onnxruntime()


def test_both_builds_in_different_directories_the_first_on_the_path_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtual environment with the GPU build over a system site that has the CPU one (the lent GPU
    machine): nothing is mixed, Python imports the first."""
    gpu, cpu = _build(tmp_path / "venv", "onnxruntime-gpu"), _build(tmp_path / "system", "onnxruntime")
    monkeypatch.setattr(sys, "path", [str(gpu), str(cpu), *sys.path])
    assert check_onnxruntime() == "gpu"
    monkeypatch.setattr(sys, "path", [str(cpu), str(gpu), *sys.path])
    assert check_onnxruntime() == "cpu"


def test_no_build_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(RuntimeSetupError, match=r"pip install 'postroom\[cpu\]'"):
        check_onnxruntime()
