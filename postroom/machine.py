"""What machine a benchmark figure comes from: CPU model, the instruction sets that decide inference speed,
usable cores, memory. Every benchmark report states it (figures from two hosts that both call themselves
"AMD EPYC" differed by 1.6x in ONNX throughput: one had AVX-512 VNNI, see docs/serving.md)."""

from __future__ import annotations

import getpass
import os
import platform
from pathlib import Path
from typing import Any

# The CPU flags that change how fast int8 and float inference runs (ONNX Runtime, PyTorch).
INFERENCE_FEATURES = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)


def _proc_field(name: str, path: Path = Path("/proc/cpuinfo")) -> str | None:
    """The value of the first `name : value` line of a /proc file (None where there is none)."""
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (or the platform's processor string where /proc/cpuinfo is missing)."""
    return _proc_field("model name") or platform.processor() or platform.machine() or "?"


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The inference-relevant instruction sets this CPU has, in `INFERENCE_FEATURES` order."""
    flags = set((_proc_field("flags", cpuinfo) or "").split())
    return [f for f in INFERENCE_FEATURES if f in flags]


def cpu_generation(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """`family 26 model 2`: tells apart CPUs sold under one name (AMD's family 25 is Zen 3/4, 26 is Zen 5)."""
    family, model = _proc_field("cpu family", cpuinfo), _proc_field("model", cpuinfo)
    return f"family {family} model {model}" if family and model else None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask; a container's CPU share can be smaller still)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory() -> str | None:
    """Total memory, e.g. `24 GiB` (None where /proc/meminfo is missing)."""
    total = _proc_field("MemTotal", Path("/proc/meminfo"))
    return f"{int(total.split()[0]) / 1024 / 1024:.0f} GiB" if total else None


def describe() -> dict[str, Any]:
    """The machine, for benchmark reports."""
    return {
        "cpu": cpu_model(),
        "cpu_generation": cpu_generation(),
        "cpu_features": cpu_features(),
        "cores_usable": usable_cores(),
        "memory": memory(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def one_line(info: dict[str, Any]) -> str:
    """`AMD EPYC, family 26 model 2 (avx2, avx512_vnni), 2 usable cores, 24 GiB` from `describe()`'s dict."""
    features = ", ".join(info.get("cpu_features") or []) or "no AVX2"
    cpu = ", ".join(str(x) for x in (info.get("cpu", "?"), info.get("cpu_generation")) if x)
    parts = [f"{cpu} ({features})", f"{info.get('cores_usable', '?')} usable cores"]
    if info.get("memory"):
        parts.append(str(info["memory"]))
    return ", ".join(parts)


def default_actor() -> str:
    """Who a change is recorded as when nobody is named: the OS user ("unknown" where the user has no name,
    e.g. a container running under an arbitrary UID)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
