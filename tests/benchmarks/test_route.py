"""`postroom bench route` on a real slice of BANKING77 (6 intents), frozen model: results, resume, options."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from benchmarks.route import PARTIAL_FILE, RouteOptions, run_route_benchmark, stratified_fraction
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
        "calibration_fraction": 0.5,
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
        assert run["calibration_size"] == INTENTS * 26  # half of the 52 train messages outside the sample
        pooled = run["pooled_guaranteed"]
        assert 0.0 <= pooled["coverage"] <= 1.0
        assert {c["class"] for c in run["per_class_guaranteed"]["per_class"]} <= set(
            json.loads(line)["intent"]
            for line in (data / "banking77" / "banking77_test.jsonl").read_text().splitlines()
        )
    strategies = {row["strategy"] for row in result["summary"]}
    assert strategies == {
        "per_class_guaranteed",
        "pooled_guaranteed",
        "global_threshold_no_guarantee",
        "global_threshold_hindsight",
        "learned_confidence_guaranteed",
    }
    for run in result["runs"]:
        learned = run["learned_confidence_guaranteed"]
        assert learned["fit_size"] == round(INTENTS * 26 / 4)  # a quarter of calibration fits the score
        assert (learned["threshold"] is None) == (learned["auto"] == 0)
        assert 0.0 <= learned["coverage"] <= 1.0
        for strategy in ("learned_confidence_guaranteed", "pooled_guaranteed"):  # per intent, by name
            per_class = run[strategy]["per_class"]
            assert len(per_class) == INTENTS and all(isinstance(c["class"], str) for c in per_class)
            assert sum(c["auto"] for c in per_class) == run[strategy]["auto"]
    for run in result["runs"]:  # the ceiling: its test precision reaches the target whenever it answers
        ceiling = run["global_threshold_hindsight"]
        assert ceiling["auto"] == 0 or ceiling["precision"] >= 0.95
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
    other = run_route_benchmark(_options(tmp_path, data, calibration_fraction=0.25))
    assert all(r["accuracy"] >= 0 for r in other["runs"])
    assert all(r["calibration_size"] == INTENTS * 13 for r in other["runs"])


def _fingerprint_of(options: RouteOptions) -> dict:
    from benchmarks.route import _fingerprint

    return _fingerprint(options)


def test_stratified_fraction_keeps_the_class_mix() -> None:
    rows = np.arange(100, 200)
    labels = np.array([0] * 80 + [1] * 15 + [2] * 5)
    picked = stratified_fraction(rows, labels, 0.4, seed=3)
    assert sorted(picked.tolist()) == picked.tolist() and set(picked) <= set(rows)
    counts = np.bincount(labels[np.searchsorted(rows, picked)], minlength=3)
    assert counts.tolist() == [32, 6, 2]
    assert not np.array_equal(picked, stratified_fraction(rows, labels, 0.4, seed=4))  # at random


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_stratified_fraction_refuses_a_fraction_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        stratified_fraction(np.arange(4), np.zeros(4, dtype=int), fraction, seed=0)


def test_cli_refuses_a_calibration_fraction_outside_0_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from postroom.cli import app, register_components

    register_components()
    result = CliRunner().invoke(
        app, ["bench", "route", "--calibration-fraction", "1.5", "--out-dir", str(tmp_path / "out")]
    )
    assert result.exit_code != 0
    assert "--calibration-fraction must be in (0, 1), got 1.5" in result.output
    assert not (tmp_path / "out").exists()


def test_self_training_rounds_are_part_of_a_run_and_of_the_report(tmp_path: Path) -> None:
    from benchmarks.route import _fingerprint, render_markdown

    options = _options(tmp_path, tmp_path)
    assert _fingerprint(options)["self_train_rounds"] is None
    assert _fingerprint(_options(tmp_path, tmp_path, self_train_rounds=0))["self_train_rounds"] == 0
    result = {"command": "c", "date": "d", "machine": "m", "options": {}, "summary": []}
    for rounds, shown in ((None, "the training default"), (0, "0 round(s) (off)"), (2, "2 round(s).")):
        result["options"] = {"target_precision": 0.95, "confidence": 0.9, "calibration_fraction": 0.8}
        result["options"]["self_train_rounds"] = rounds
        assert f"SetFit's head self-training: {shown}" in render_markdown(result)


@pytest.mark.slow
def test_setfit_runs_measure_both_heads_and_reuse_the_cached_body(tmp_path: Path) -> None:
    """A real (short) SetFit run on the slice: the self-trained and the supervised head are both measured,
    with the learned confidence; a second run with other threshold options fits heads on the cached body."""
    data = _slice(tmp_path)

    def setfit_run(**changes: object) -> dict:
        """A 4-step SetFit run of seed 0 on the slice (the cache is shared: tmp_path / "cache")."""
        return run_route_benchmark(
            _options(tmp_path, data, models=["setfit"], seeds=[0], cpu_max_steps=4, **changes)
        )

    first = setfit_run()
    assert [r["model"] for r in first["runs"]] == ["setfit", "setfit-supervised-head"]
    assert all(r["trained_as"] == "setfit" for r in first["runs"])
    self_trained, supervised = first["runs"]
    assert self_trained["meta"]["head_self_training"]["rounds"] == 2
    assert supervised["meta"]["head_self_training"] is None
    for run in first["runs"]:
        assert "learned_confidence_guaranteed" in run and run["meta"]["steps"] <= 4
    cached = list((tmp_path / "cache").glob("setfit-*.npz"))
    assert len(cached) == 1

    # Another target: no training (the cached body), the same accuracy, a fresh measurement.
    again = setfit_run(target_precision=0.9, out_dir=tmp_path / "again")
    assert [r["accuracy"] for r in again["runs"]] == [r["accuracy"] for r in first["runs"]]
    assert [r["train_seconds"] for r in again["runs"]] == [r["train_seconds"] for r in first["runs"]]
    assert list((tmp_path / "cache").glob("setfit-*.npz")) == cached

    # Without self-training only the one head is measured, and its learned confidence has no second head.
    single = setfit_run(self_train_rounds=0, out_dir=tmp_path / "single")
    assert [r["model"] for r in single["runs"]] == ["setfit"]
    assert single["runs"][0]["accuracy"] == supervised["accuracy"]
