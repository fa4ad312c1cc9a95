"""Which ONNX Runtime build is installed: exactly one of `onnxruntime` (CPU) and `onnxruntime-gpu`.

The two wheels install into the same `onnxruntime` module and silently overwrite each other's files, so a
mixed install loads whichever was installed last. Postroom refuses to start in that state. Both builds in
different directories (a virtual environment over a system that has the other) do not mix: Python imports
the one first on `sys.path`, and that is the build in use.

Also the graph optimizations every CPU session, the service's and the parity gate's, loads without
(`disabled_optimizers`): both must compute the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Literal

from postroom.errors import PostroomError

Flavour = Literal["cpu", "gpu"]
DISTRIBUTIONS: dict[str, Flavour] = {"onnxruntime": "cpu", "onnxruntime-gpu": "gpu"}
CPU_PROVIDER = "CPUExecutionProvider"
# ONNX Runtime fuses a residual Add and the LayerNormalization after it into SkipLayerNormalization when it
# loads a graph; on the CPU that kernel is slower than the two ops it replaces (an int8 body ran 1.13x
# faster unfused; docs/serving-performance.md, *The CPU runs SkipLayerNormalization unfused*). Graphs fused
# offline (the `optimized` variant) keep their fusions; CUDA sessions keep this one.
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def disabled_optimizers(providers: Sequence[str]) -> list[str]:
    """The graph optimizers a session whose preferred provider is `providers[0]` loads without."""
    return list(CPU_DISABLED_OPTIMIZERS) if providers and providers[0] == CPU_PROVIDER else []


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


def imported_build(found: list[tuple[str, str]]) -> str | None:
    """Of builds installed in different directories, the distribution Python imports `onnxruntime` from;
    None when two share a directory (their files overwrote each other) or the module is not found."""
    spec = PathFinder.find_spec("onnxruntime")  # sys.path only: what an import in a new process finds
    if spec is None or not spec.submodule_search_locations:
        return None
    imported = Path(next(iter(spec.submodule_search_locations))).resolve()
    homes = {
        name: Path(str(metadata.distribution(name).locate_file("onnxruntime"))).resolve() for name, _ in found
    }
    if len(set(homes.values())) < len(homes):
        return None
    return next((name for name, home in homes.items() if home == imported), None)


def check_onnxruntime() -> Flavour:
    """The installed flavour; raises with the fix when none is installed, or both into one directory."""
    found = installed_onnxruntime()
    if not found:
        raise RuntimeSetupError(
            "ONNX Runtime is not installed: pip install 'postroom[cpu]' "
            "(or 'postroom[gpu]' on a CUDA machine)"
        )
    if len(found) > 1 and (used := imported_build(found)) is not None:
        return DISTRIBUTIONS[used]
    if len(found) > 1:
        listed = ", ".join(f"{n}=={v}" for n, v in found)
        raise RuntimeSetupError(
            f"both ONNX Runtime builds are installed ({listed}); they overwrite each other's files. "
            "Uninstall both, then install exactly one: pip uninstall -y onnxruntime onnxruntime-gpu && "
            "pip install 'postroom[cpu]'"
        )
    return DISTRIBUTIONS[found[0][0]]
