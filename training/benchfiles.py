"""Benchmark result files that separate invocations add up in: `{"invocations": [...], "runs": [...]}`.

`bench fewshot` and `bench traintime` read the earlier file, append their invocation, and merge their runs:
a new run replaces an earlier one with the same key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from training.errors import TrainingError

Run = dict[str, Any]


def load_results(path: Path) -> dict[str, Any]:
    """The invocations and runs of an earlier results file (empty ones when there is none); an unreadable
    file is a `TrainingError`, never overwritten."""
    if not path.is_file():
        return {"invocations": [], "runs": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(
            f"cannot read earlier results {path}: {exc}; move it away to start afresh"
        ) from None
    return {"invocations": data.get("invocations", []), "runs": data.get("runs", [])}


def merge_runs(
    merged: dict[str, Any],
    new_runs: list[Run],
    key: Callable[[Run], Hashable],
    order: Callable[[Run], Any],
) -> dict[str, Any]:
    """Earlier runs with the key of a new one are replaced by it; the runs sorted by `order`."""
    replaced = {key(r) for r in new_runs}
    runs = [r for r in merged["runs"] if key(r) not in replaced] + list(new_runs)
    runs.sort(key=order)
    return {"invocations": merged["invocations"], "runs": runs}
