"""`postroom bench traintime` on tiny JSONL files shaped like ../shared/data, with real (tiny) training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from postroom.cli import app, register_components
from tests.training.builders import packaged_model, tiny_config, write_bench_data
from training.benchfiles import load_results
from training.errors import TrainingError
from training.traintime_bench import (
    TrainTimeOptions,
    goal_line,
    label_set_names,
    run_traintime_benchmark,
)

runner = CliRunner()
if not any(command.name == "train" for command in app.registered_commands):
    register_components()


def _options(root: Path, out_dir: Path, **changes: Any) -> TrainTimeOptions:
    base: dict[str, Any] = dict(
        dataset="banking77",
        shots=4,
        label_sets=3,
        variants=["separate", "shared"],
        seeds=[0],
        unlabeled=[True, False],
        config=tiny_config(),
        base_model=packaged_model(),
        data_root=root,
        out_dir=out_dir,
        command="postroom bench traintime (test)",
    )
    return TrainTimeOptions(**{**base, **changes})


def test_three_label_sets_are_trained_timed_scored_and_merged(tmp_path: Path) -> None:
    root = write_bench_data(tmp_path / "shared")
    out_dir = tmp_path / "bench"
    data = run_traintime_benchmark(_options(root, out_dir))
    runs = {(r["variant"], r["unlabeled"] > 0): r for r in data["runs"]}
    assert sorted(runs) == [("separate", False), ("separate", True), ("shared", False), ("shared", True)]
    for (variant, pooled), run in runs.items():
        assert run["bodies"] == (3 if variant == "separate" else 1)
        assert sorted(run["macro_f1"]) == ["intent_1", "intent_2", "intent_3"]
        assert all(0.0 <= f1 <= 1.0 for f1 in run["macro_f1"].values())
        assert run["classes"] == 3 and run["train_texts"] == 4 + 3 + 4  # card_limit has 3 train rows
        assert run["short_classes"] == {"card_limit": 3}
        # 11 texts in batches of 8: one step per label set, under the cap of 2, on one body or three
        assert run["steps"] == run["planned_steps"] == 3
        assert run["device_type"] == "cpu" and run["schedule"] == "<= 2 steps/label set"
        parts = run["contrastive_seconds"] + run["head_seconds"] + run["other_seconds"]
        assert run["seconds"] > 0 and abs(parts - run["seconds"]) < 0.05
        assert run["gpu_peak_gib"] is None
        assert (run["unlabeled"] > 0) is pooled
    # the same three copies trained alike: one seed, one sample, so every separate head scores the same
    separate = runs[("separate", False)]["macro_f1"]
    assert len(set(separate.values())) == 1

    again = run_traintime_benchmark(_options(root, out_dir, variants=["separate"], unlabeled=[False]))
    assert len(again["invocations"]) == 2 and len(again["runs"]) == 4  # replaced, not added
    replaced = [r for r in again["runs"] if r["variant"] == "separate" and r["unlabeled"] == 0]
    assert [r["invocation"] for r in replaced] == [1]
    markdown = (out_dir / "traintime.md").read_text()
    assert "postroom bench traintime (test)" in markdown and "usable cores" in markdown
    assert "not measured yet (no full-schedule GPU run of that shape)" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| 4 | 3 × 3 |")]
    assert sorted(row.rsplit("|", 2)[1].strip() for row in rows) == ["0", "0", "0", "1"]  # its invocation
    assert json.loads((out_dir / "traintime.json").read_text())["goal"]["seconds"] == 60.0


def _run(seconds: float, **changes: Any) -> dict[str, Any]:
    run = {
        "dataset": "banking77",
        "shots": 8,
        "label_sets": 3,
        "variant": "separate",
        "unlabeled": 9000,
        "device_type": "cuda",
        "device": "NVIDIA H200",
        "schedule": "full schedule",
        "seconds": seconds,
    }
    return {**run, **changes}


def test_the_goal_counts_the_slowest_full_gpu_run_of_its_shape() -> None:
    line = goal_line([_run(41.0), _run(58.5), _run(12.0, unlabeled=0), _run(200.0, device_type="cpu")])
    assert "with the unlabeled pool: **met**, slowest of 2 run(s) 58.5 s on NVIDIA H200" in line
    assert "without the unlabeled pool: **met**, slowest of 1 run(s) 12.0 s" in line
    slow = goal_line([_run(61.0, variant="shared"), _run(30.0, shots=16), _run(5.0, label_sets=1)])
    assert "shared bodies, with the unlabeled pool: **NOT met**, slowest of 1 run(s) 61.0 s" in slow
    assert "separate" not in slow  # other shapes do not count
    capped = goal_line([_run(20.0, schedule="<= 5 steps/label set")])
    assert "not measured yet" in capped


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "banking99"}, "unknown dataset 'banking99'"),
        ({"variants": ["together"]}, "--variants must name some of"),
        ({"shots": 1}, "--shots must be >= 2"),
        ({"label_sets": 0}, "--label-sets must be between 1 and 8"),
        ({"seeds": []}, "at least one seed"),
    ],
)
def test_bad_options_name_what_is_wrong(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        _options(tmp_path, tmp_path, **changes)


def test_label_sets_are_named_after_the_first() -> None:
    assert label_set_names("intent", 1) == ["intent"]
    assert label_set_names("intent", 3) == ["intent_1", "intent_2", "intent_3"]


def test_unreadable_earlier_results_are_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "traintime.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(TrainingError, match="cannot read earlier results"):
        load_results(path)
    assert path.read_text(encoding="utf-8") == "{not json"


def test_cli_refuses_a_bad_unlabeled_choice_and_an_unknown_dataset(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["bench", "traintime", "--unlabeled", "sometimes", "--out-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "--unlabeled takes on, off or on,off" in bad.output
    where = ["--data-root", str(tmp_path), "--out-dir", str(tmp_path)]
    unknown = runner.invoke(app, ["bench", "traintime", "--dataset", "nope", *where])
    assert unknown.exit_code == 1 and "unknown dataset 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.output and not (tmp_path / "traintime.json").exists()
