"""`postroom bench route` on a real slice of BANKING77 (6 intents), frozen model: results, resume, options."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from benchmarks.route import PARTIAL_FILE, RouteOptions, run_route_benchmark
from postroom.settings import get_settings
from tests.conftest import SHARED_DATA

INTENTS = 6


def _slice(tmp: Path) -> Path:
    """The first INTENTS intents of BANKING77: 60 train and 20 test messages each, as the shared files."""
    source = SHARED_DATA / "banking77"
    assert source.is_dir(), f"the shared BANKING77 data is not at {source} (../shared/data beside the repo)"
    target = tmp / "data" / "banking77"
    target.mkdir(parents=True)
    for split, per_class in (("train", 60), ("test", 20)):
        kept: dict[str, int] = defaultdict(int)
        lines = []
        for line in (source / f"banking77_{split}.jsonl").read_text(encoding="utf-8").splitlines():
            intent = json.loads(line)["intent"]
            if (intent in kept or len(kept) < INTENTS) and kept[intent] < per_class:
                kept[intent] += 1
                lines.append(line)
        (target / f"banking77_{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp / "data"


def _options(tmp: Path, data: Path, **changes: object) -> RouteOptions:
    values: dict = {
        "data_root": data,
        "out_dir": tmp / "out",
        "command": "postroom bench route (test)",
        "shots": [8],
        "seeds": [0, 1],
        "models": ["frozen"],
        "calibration_per_class": 40,
        "base_model": get_settings().resolved_base_model(),
        "cache_dir": tmp / "cache",
    }
    return RouteOptions(**{**values, **changes})


def test_route_benchmark_writes_results_and_resumes(tmp_path: Path) -> None:
    data = _slice(tmp_path)
    options = _options(tmp_path, data)
    result = run_route_benchmark(options)
    runs = [(r["model"], r["shots"], r["seed"]) for r in result["runs"]]
    assert runs == [("frozen", 8, 0), ("frozen", 8, 1)]
    for run in result["runs"]:
        assert run["calibration_size"] == INTENTS * 40
        pooled = run["pooled_guaranteed"]
        assert 0.0 <= pooled["coverage"] <= 1.0
        assert {c["class"] for c in run["per_class_guaranteed"]["per_class"]} <= set(
            json.loads(line)["intent"]
            for line in (data / "banking77" / "banking77_test.jsonl").read_text().splitlines()
        )
    strategies = {row["strategy"] for row in result["summary"]}
    assert strategies == {"per_class_guaranteed", "pooled_guaranteed", "global_threshold_no_guarantee"}
    assert (options.out_dir / "route.json").is_file() and "| frozen | 8 |" in (
        options.out_dir / "route.md"
    ).read_text()
    assert not (options.out_dir / PARTIAL_FILE).exists()  # removed once the whole run is written

    # An interrupted run left seed 0 behind: a rerun with the same options keeps it and computes seed 1.
    partial = options.out_dir / PARTIAL_FILE
    seed0 = {**result["runs"][0], "accuracy": -1.0}  # marked, to see that it is reused and not recomputed
    fingerprint = json.loads(json.dumps({"options": _fingerprint_of(options), "runs": [seed0]}))
    partial.write_text(json.dumps(fingerprint))
    resumed = run_route_benchmark(options)
    assert resumed["runs"][0]["accuracy"] == -1.0
    assert resumed["runs"][1]["accuracy"] == result["runs"][1]["accuracy"]

    # Other options (another calibration size) never reuse those runs.
    partial.write_text(json.dumps(fingerprint))
    other = run_route_benchmark(_options(tmp_path, data, calibration_per_class=30))
    assert all(r["accuracy"] >= 0 for r in other["runs"])
    assert all(r["calibration_size"] == INTENTS * 30 for r in other["runs"])


def _fingerprint_of(options: RouteOptions) -> dict:
    from benchmarks.route import _fingerprint

    return _fingerprint(options)
