"""Which ONNX Runtime build is installed: exactly one of `onnxruntime` (CPU) and `onnxruntime-gpu`.

The two wheels install into the same `onnxruntime` module and silently overwrite each other's files, so a
mixed install loads whichever was installed last. Postroom refuses to start in that state.
"""

from __future__ import annotations

from importlib import metadata
from typing import Literal

from postroom.errors import PostroomError

Flavour = Literal["cpu", "gpu"]
DISTRIBUTIONS: dict[str, Flavour] = {"onnxruntime": "cpu", "onnxruntime-gpu": "gpu"}


class RuntimeSetupError(PostroomError):
    """ONNX Runtime is missing or installed twice."""

    status_code = 503


def installed_onnxruntime() -> list[tuple[str, str]]:
    """(distribution, version) of every ONNX Runtime build present."""
    found = []
    for name in DISTRIBUTIONS:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return found


def check_onnxruntime() -> Flavour:
    """The installed flavour; raises with the fix when none or both are installed."""
    found = installed_onnxruntime()
    if not found:
        raise RuntimeSetupError(
            "ONNX Runtime is not installed: pip install 'postroom[cpu]' "
            "(or 'postroom[gpu]' on a CUDA machine)"
        )
    if len(found) > 1:
        listed = ", ".join(f"{n}=={v}" for n, v in found)
        raise RuntimeSetupError(
            f"both ONNX Runtime builds are installed ({listed}); they overwrite each other's files. "
            "Uninstall both, then install exactly one: pip uninstall -y onnxruntime onnxruntime-gpu && "
            "pip install 'postroom[cpu]'"
        )
    return DISTRIBUTIONS[found[0][0]]
