"""`postroom bench traintime`: how long `postroom train`'s training takes for several label sets of a
few-shot problem, and what the trained heads score.

The goal it measures (issue 7): all three label sets of a 77-class, 8-shot problem trained in <= 60 s on one
H100. The problem: BANKING77's intents (77 classes), N examples per class sampled as `bench fewshot` samples
them, given as each of `label_sets` label sets. Identical label sets cost what different ones of the same
size cost (same texts, classes and steps per body), so three copies are the shape the goal names: three
bodies of 77 classes each (or one shared body and three heads). Two things make a run the production one:
the timed function is `training.multitask.train_models`, the one `postroom train` calls (loading the base per
body, the contrastive phase, heads with class texts and temperature), and with `unlabeled` the rest of the
train split is the unlabeled pool the heads self-train on, as the store's unlabeled messages are in
production. Each run is then scored on the test split, outside the timed part, so a fast run that learned
nothing shows.

Runs merge into `traintime.json` by (dataset, N, label sets, variant, seed, unlabeled, device type,
schedule); `traintime.md` is rendered from the merged file.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training import benchfiles
from training.benchdata import BenchDataset, sample_per_class, unlabeled_pool
from training.config import TrainConfig
from training.errors import TrainingError
from training.progress import NullReporter, Reporter
from training.registry import utc_now

JSON_NAME = "traintime.json"
MD_NAME = "traintime.md"
GOAL = {"dataset": "banking77", "shots": 8, "label_sets": 3, "seconds": 60.0, "gpu": "one H100"}
VARIANTS = ("separate", "shared")
_state = {"runs_in_process": 0}  # the first run of a process pays CUDA's and the libraries' start-up


@dataclass
class TrainTimeOptions:
    dataset: str
    shots: int
    label_sets: int
    variants: list[str]
    seeds: list[int]
    unlabeled: list[bool]  # with the rest of the train split as unlabeled pool, without, or both
    config: TrainConfig
    base_model: str
    data_root: Path
    out_dir: Path
    command: str

    def __post_init__(self) -> None:
        from training.fewshot_bench import LOADERS

        if self.dataset not in LOADERS:
            raise TrainingError(f"unknown dataset {self.dataset!r}; known: {sorted(LOADERS)}")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise TrainingError(f"--variants must name some of {list(VARIANTS)}, got {self.variants}")
        if self.shots < 2:
            raise TrainingError(f"--shots must be >= 2, got {self.shots}")
        if not 1 <= self.label_sets <= 8:
            raise TrainingError(f"--label-sets must be between 1 and 8, got {self.label_sets}")
        if not self.seeds or not self.unlabeled:
            raise TrainingError("give at least one seed and one --unlabeled choice")


def label_set_names(first: str, copies: int) -> list[str]:
    """`intent` once, or `intent_1`, `intent_2`, … for several copies of it."""
    return [first] if copies == 1 else [f"{first}_{k}" for k in range(1, copies + 1)]


def time_one_run(
    ds: BenchDataset,
    options: TrainTimeOptions,
    variant: str,
    seed: int,
    with_unlabeled: bool,
    reporter: Reporter,
) -> dict[str, Any]:
    """Train `options.label_sets` copies of the dataset's first label set with `train_models`, timed; then
    score every label set on the test split (not timed)."""
    from training.baselines import scores
    from training.contrastive import LabeledTexts, encode
    from training.devices import resolve_device
    from training.heads import aligned_proba
    from training.multitask import train_models

    config = options.config.with_overrides(seed=seed, variant=variant)
    device = resolve_device(config)
    first = ds.label_sets[0]
    classes = ds.classes(first)
    index = {c: i for i, c in enumerate(classes)}
    rows, short = sample_per_class(ds.train.labels[first], options.shots, seed)
    train = ds.train.subset(rows)
    y_train = [index[c] for c in train.labels[first]]
    names = label_set_names(first, options.label_sets)
    tasks = [LabeledTexts(name, train.texts, y_train, ds.class_texts(first)) for name in names]
    pool = unlabeled_pool(len(ds.train), rows, config.self_train_pool_max, seed) if with_unlabeled else []
    unlabeled = [ds.train.texts[i] for i in pool]
    first_in_process = _state["runs_in_process"] == 0
    _state["runs_in_process"] += 1
    cuda = device.type == "cuda"
    if cuda:
        _cuda_reset_peak()
    reporter.info(
        f"{ds.name} N={options.shots} x{options.label_sets} {variant} seed={seed} "
        f"unlabeled={len(unlabeled)} on {device.type}"
    )
    with tempfile.TemporaryDirectory(prefix="postroom-traintime-") as scratch:
        started = time.perf_counter()
        models = train_models(options.base_model, tasks, config, device, Path(scratch), reporter, unlabeled)
        if cuda:
            _cuda_sync()
        seconds = time.perf_counter() - started
    peak = _cuda_peak_gib() if cuda else None
    y_test = [index[c] for c in ds.test.labels[first]]
    embedded: dict[str, Any] = {}
    macro_f1: dict[str, float] = {}
    for name in names:
        key = models.body_of[name]
        if key not in embedded:
            embedded[key] = encode(models.bodies[key], ds.test.texts, config, device)
        proba = aligned_proba(models.heads[name], embedded[key], len(classes))
        macro_f1[name] = round(scores(y_test, proba.argmax(axis=1))["macro_f1"], 4)
    contrastive = models.contrastive_seconds
    return {
        "dataset": ds.name,
        "shots": options.shots,
        "label_sets": options.label_sets,
        "classes": len(classes),
        "train_texts": len(rows),
        "variant": models.variant,
        "seed": seed,
        "unlabeled": len(unlabeled),
        "device": device.name,
        "device_type": device.type,
        "precision": device.precision,
        "schedule": config.schedule(device.type),
        "first_in_process": first_in_process,
        "seconds": round(seconds, 2),
        "contrastive_seconds": round(contrastive, 2),
        "head_seconds": round(models.head_seconds, 2),
        "other_seconds": round(seconds - contrastive - models.head_seconds, 2),  # loading bases, set-up
        "steps": sum(r.steps for r in models.reports),
        "planned_steps": sum(r.planned_steps for r in models.reports),
        "bodies": len(models.bodies),
        "gpu_peak_gib": peak,
        "macro_f1": macro_f1,
        "macro_f1_mean": round(statistics.fmean(macro_f1.values()), 4),
        "short_classes": short,
    }


def _cuda_reset_peak() -> None:
    import torch

    torch.cuda.reset_peak_memory_stats()


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()


def _cuda_peak_gib() -> float:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def run_traintime_benchmark(options: TrainTimeOptions, reporter: Reporter | None = None) -> dict[str, Any]:
    """Time every (variant, seed, unlabeled) run, merge into `<out_dir>/traintime.json` after each, render
    `traintime.md`; returns the merged data."""
    from training.devices import machine_info
    from training.fewshot_bench import LOADERS

    reporter = reporter or NullReporter()
    merged = benchfiles.load_results(options.out_dir / JSON_NAME)
    invocation = len(merged["invocations"])
    merged["invocations"].append(
        {
            "command": options.command,
            "started_at": utc_now(),
            "machine": machine_info(),
            "base_model": options.base_model,
            "config": options.config.to_dict(),
        }
    )
    ds = LOADERS[options.dataset](options.data_root)
    new_runs: list[dict[str, Any]] = []
    for with_unlabeled in options.unlabeled:
        for variant in options.variants:
            if variant == "shared" and options.label_sets == 1:
                continue  # one label set: the shared body is the separate one
            for seed in options.seeds:
                run = time_one_run(ds, options, variant, seed, with_unlabeled, reporter)
                new_runs.append({**run, "invocation": invocation})
                merged = merge_runs(merged, new_runs)
                save_results(merged, options.out_dir)  # keep what is done
    save_results(merged, options.out_dir)
    return merged


def _key(run: dict[str, Any]) -> tuple[Any, ...]:
    return (
        run["dataset"],
        run["shots"],
        run["label_sets"],
        run["variant"],
        run["seed"],
        run["unlabeled"] > 0,
        run["device_type"],
        run["schedule"],
    )


def merge_runs(merged: dict[str, Any], new_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Earlier runs with the key of a new one are replaced by it."""
    def order(run: dict[str, Any]) -> tuple[Any, ...]:  # with the pool first, then by device and seed
        return (*_key(run)[:4], -int(run["unlabeled"] > 0), run["device_type"], run["seed"])

    return benchfiles.merge_runs(merged, new_runs, _key, order)


def save_results(merged: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {**merged, "goal": GOAL}
    (out_dir / JSON_NAME).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (out_dir / MD_NAME).write_text(render_markdown(data), encoding="utf-8")


def goal_line(runs: list[dict[str, Any]]) -> str:
    """The goal's verdict from the GPU runs of its shape (dataset, N, label sets, full schedule): the
    slowest such run with the production default (unlabeled pool on) is what counts."""
    head = (
        f"Goal ({GOAL['label_sets']} label sets of {GOAL['dataset']}'s 77 classes, {GOAL['shots']} shots "
        f"each, trained in <= {GOAL['seconds']:.0f} s on {GOAL['gpu']})"
    )
    shaped = [
        r
        for r in runs
        if r["dataset"] == GOAL["dataset"]
        and r["shots"] == GOAL["shots"]
        and r["label_sets"] == GOAL["label_sets"]
        and r["device_type"] == "cuda"
        and r["schedule"] == "full schedule"
    ]
    if not shaped:
        return f"{head}: not measured yet (no full-schedule GPU run of that shape)."
    parts = []
    for variant in VARIANTS:
        for with_pool in (True, False):
            mine = [r for r in shaped if r["variant"] == variant and (r["unlabeled"] > 0) == with_pool]
            if not mine:
                continue
            worst = max(mine, key=lambda r: r["seconds"])
            verdict = "met" if worst["seconds"] <= GOAL["seconds"] else "NOT met"
            parts.append(
                f"{variant} bodies, {'with' if with_pool else 'without'} the unlabeled pool: **{verdict}**, "
                f"slowest of {len(mine)} run(s) {worst['seconds']:.1f} s on {worst['device']}"
            )
    return f"{head}: " + "; ".join(parts) + "."


def render_markdown(data: dict[str, Any]) -> str:
    runs = data["runs"]
    lines = [
        "# Training-time benchmark",
        "",
        "Generated by `postroom bench traintime` (training/traintime_bench.py); do not edit by hand.",
        "",
        goal_line(runs),
        "",
        "Each run trains every label set with `training.multitask.train_models`, the function `postroom "
        "train` calls, on N examples per class of the dataset's first label set, given as each of the "
        "label sets (BANKING77: 77 intents, so three label sets are three 77-class problems). `seconds` is "
        "the wall-clock of that call: loading the base per body, the contrastive phase, the heads (class "
        "names, temperature) and, where the pool is not 0, self-training the heads on the rest of the train "
        "split as unlabeled texts (Postroom's default). `other` is loading and set-up. Macro-F1 is each "
        "label set's head on the whole test split, scored after the timed part. `cold`: the first run of "
        "its process, which pays CUDA's and the libraries' start-up (a `postroom train` always does).",
        "",
        "| N | label sets × classes | variant | seed | pool | device | precision | schedule | cold | "
        "seconds | contrastive | heads | other | steps | GPU peak GiB | macro-F1 (mean) | invocation |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        peak = "" if r.get("gpu_peak_gib") is None else f"{r['gpu_peak_gib']:.2f}"
        lines.append(
            f"| {r['shots']} | {r['label_sets']} × {r['classes']} | {r['variant']} | {r['seed']} | "
            f"{r['unlabeled']} | {r['device_type']} ({r['device']}) | {r['precision']} | {r['schedule']} | "
            f"{'yes' if r.get('first_in_process') else 'no'} | {r['seconds']:.1f} | "
            f"{r['contrastive_seconds']:.1f} | {r['head_seconds']:.1f} | {r['other_seconds']:.1f} | "
            f"{r['steps']} | {peak} | {r['macro_f1_mean']:.3f} | {r.get('invocation', '?')} |"
        )
    lines += ["", "## Invocations", ""]
    from postroom.machine import one_line

    for i, inv in enumerate(data["invocations"]):
        machine = inv.get("machine", {})
        cuda = machine.get("cuda_version", "?")
        gpu = f", GPU {machine['gpu']} (CUDA {cuda})" if machine.get("gpu") else ""
        lines.append(
            f"{i}. `{inv['command']}` — {inv['started_at']}; {one_line(machine)}{gpu}; torch "
            f"{machine.get('torch', '?')}, transformers {machine.get('transformers', '?')}, "
            f"sentence-transformers {machine.get('sentence_transformers', '?')}, setfit "
            f"{machine.get('setfit', '?')}; base `{inv.get('base_model', '?')}`"
        )
    lines.append("")
    return "\n".join(lines)
