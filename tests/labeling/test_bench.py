"""The selection benchmark's machinery on tiny synthetic data (the real run: `postroom bench labeling`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labeling.bench import BenchConfig, Dataset, run_benchmark, write_report
from tests.labeling.test_select import blobs


def tiny() -> Dataset:
    x, y = blobs([60, 50, 40, 30, 20, 10], dim=24, seed=3)
    tx, ty = blobs([10] * 6, dim=24, seed=3)  # same centres (same seed), fresh points
    names = [f"c{i}" for i in range(6)]
    return Dataset(x, [names[i] for i in y], tx, [names[i] for i in ty], names)


def test_benchmark_runs_both_strategies_and_writes_json_and_markdown(tmp_path: Path) -> None:
    result = run_benchmark(tiny(), BenchConfig(budgets_per_class=(1, 2), seeds=(0, 1)))
    assert set(result["results"]) == {"random", "postroom", "stratified"}
    cell = result["results"]["postroom"]["2"]
    assert cell["labels"] == 12 and len(cell["macro_f1_per_seed"]) == 2 and 0 <= cell["macro_f1_mean"] <= 1
    assert result["results"]["postroom"]["1"]["classes_covered_mean"] >= 5  # clusters cover the classes
    json_path, md_path = write_report(result, tmp_path, "postroom bench labeling", {"dataset": "tiny"})
    saved = json.loads(json_path.read_text())
    assert saved["command"] == "postroom bench labeling" and saved["machine"]["cores_usable"] >= 1
    text = md_path.read_text()
    assert "| postroom |" in text and "| random |" in text and "1/class (6 labels)" in text


def test_bench_config_names_the_bad_argument() -> None:
    with pytest.raises(ValueError, match="budgets_per_class"):
        BenchConfig(budgets_per_class=(0,))
    with pytest.raises(ValueError, match="batch_per_class"):
        BenchConfig(batch_per_class=0)


def test_random_and_postroom_pick_distinct_rows() -> None:
    from labeling.bench import run_strategy

    data = tiny()
    for strategy in ("random", "postroom"):
        out = run_strategy(data, strategy, 0, BenchConfig(budgets_per_class=(3,)))
        assert out[3]["labels"] == 18
    assert np.isfinite(out[3]["macro_f1"])
