"""`postroom bench fewshot`: SetFit against the baselines on public few-shot problems, same samples.

Protocol: for each N (examples per class) and seed, sample N rows per class of the first label set from the
train split (every row of a class that has fewer), train every method on that sample, score on the whole
test split. Baselines are cheap and run on every seed; SetFit runs on `setfit_seeds` (costly on a CPU,
where its contrastive phase is capped: the method label says so). Every run records its device.

Results merge into `fewshot.json` by (dataset, label set, N, seed, method label), so separate invocations
(baselines here, SetFit on a GPU later) add up; `fewshot.md` is rendered from the merged file.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from postroom.machine import one_line
from training import benchfiles
from training.benchdata import BenchDataset, load_banking77, load_massive, sample_per_class, unlabeled_pool
from training.config import TrainConfig
from training.errors import TrainingError
from training.progress import NullReporter, Reporter
from training.registry import utc_now

JSON_NAME = "fewshot.json"
MD_NAME = "fewshot.md"
LOADERS: dict[str, Callable[[Path], BenchDataset]] = {
    "banking77": load_banking77,
    "massive-en": lambda root: load_massive(root, "en"),
    "massive-de": lambda root: load_massive(root, "de"),
}
BASELINES = ("tfidf_lr", "bm25_knn", "frozen_lr", "frozen_lr_c1", "frozen_lr_names", "frozen_lr_self")
SETFIT_METHODS = ("setfit_separate", "setfit_shared")
METHODS = BASELINES + SETFIT_METHODS
ANCHORS: dict[str, dict[str, list[str]]] = {
    "banking77": {
        "intent": [
            "10-shot accuracy 85.19 (USE+ConveRT, Casanueva et al. 2020)",
            "10-shot accuracy 87.20 (CPFT, Zhang et al. 2021)",
            "MTEB frozen 8-shot, paraphrase-multilingual-MiniLM-L12-v2: macro-F1 0.798",
        ]
    },
    "massive-en": {"intent": ["MTEB frozen 8-shot, paraphrase-multilingual-MiniLM-L12-v2: accuracy 0.669"]},
    "massive-de": {"intent": ["MTEB frozen 8-shot, paraphrase-multilingual-MiniLM-L12-v2: accuracy 0.507"]},
}
GOAL = {"dataset": "banking77", "label_set": "intent", "shots": 8, "macro_f1": 0.87, "min_seeds": 5}
EMBEDDING_METHODS = ("frozen_lr", "frozen_lr_c1", "frozen_lr_names", "frozen_lr_self", *SETFIT_METHODS)


def base_name(base_model: str) -> str | None:
    """How a method label names its base model: None for the packaged MiniLM (the default, unnamed in
    labels), the folder name for a local directory, the hub id otherwise."""
    from postroom.settings import PACKAGED_MODEL_HUB_ID, PACKAGED_MODEL_MODULE

    path = Path(base_model)
    if base_model == PACKAGED_MODEL_HUB_ID or path.parent.name == PACKAGED_MODEL_MODULE:
        return None  # the package's folder, wherever that machine's site-packages were
    return path.name if path.is_dir() else base_model


def with_base(label: str, method: str, base: str | None) -> str:
    """A method label with ` @ base` appended where the method embeds with a base other than the default."""
    return f"{label} @ {base}" if base and method in EMBEDDING_METHODS else label


@dataclass
class FewShotOptions:
    datasets: list[str]
    shots: list[int]
    seeds: list[int]
    setfit_seeds: list[int]
    methods: list[str]
    config: TrainConfig
    base_model: str
    data_root: Path
    out_dir: Path
    command: str
    setfit_shots: list[int] = field(default_factory=list)  # empty: every N in `shots`

    def __post_init__(self) -> None:
        unknown = [d for d in self.datasets if d not in LOADERS]
        if unknown:
            raise TrainingError(f"unknown dataset(s) {unknown}; known: {sorted(LOADERS)}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise TrainingError(f"unknown method(s) {bad}; known: {list(METHODS)}")
        if not self.shots or min(self.shots) < 2:
            raise TrainingError(f"shots must be numbers >= 2, got {self.shots}")


@dataclass(frozen=True)
class FrozenEmbeddings:
    """The untuned base body's embeddings of a dataset: train and test texts, class names per label set."""

    train: np.ndarray
    test: np.ndarray
    names: dict[str, np.ndarray]


def setfit_label(method: str, config: TrainConfig, device_type: str, self_trained: bool = False) -> str:
    schedule = f"{device_type}, {config.schedule(device_type)}"
    names = " + class names" if config.class_texts else ""
    selftrain = ""
    if self_trained:
        body = config.self_train_body_epochs
        selftrain = (
            f" + self-training (head, body {body} epoch{'s' if body > 1 else ''})"
            if body
            else " + self-training"
        )
    loss = f"{config.loss} (temperature {config.temperature})" if config.loss == "supcon" else config.loss
    return f"{method} [{loss}{names}{selftrain}; {schedule}]"


def _run_record(
    dataset: str,
    label_set: str,
    shots: int,
    seed: int,
    method: str,
    label: str,
    result: dict[str, Any],
    invocation: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "label_set": label_set,
        "shots": shots,
        "seed": seed,
        "method": method,
        "label": label,
        **result,
        "invocation": invocation,
        **extra,
    }


def _baselines(
    ds: BenchDataset,
    rows: list[int],
    seed: int,
    methods: list[str],
    frozen: FrozenEmbeddings | None,
    config: TrainConfig,
) -> list[tuple[str, str, dict[str, Any], float]]:
    from training import baselines

    out = []
    train = ds.train.subset(rows)
    for label_set in ds.label_sets:
        classes = ds.classes(label_set)
        index = {c: i for i, c in enumerate(classes)}
        y_train = [index[c] for c in train.labels[label_set]]
        y_test = [index[c] for c in ds.test.labels[label_set]]
        for method in methods:
            started = time.perf_counter()
            if method == "tfidf_lr":
                pred = baselines.tfidf_lr(train.texts, y_train, ds.test.texts, seed)
            elif method == "bm25_knn":
                pred = baselines.bm25_nearest(train.texts, y_train, ds.test.texts)
            elif method in ("frozen_lr", "frozen_lr_c1") and frozen is not None:
                c = 1.0 if method == "frozen_lr_c1" else baselines.BASELINE_C
                pred = baselines.frozen_lr(frozen.train[rows], y_train, frozen.test, seed, c=c)
            elif method == "frozen_lr_names" and frozen is not None:
                x_train = np.vstack([frozen.train[rows], frozen.names[label_set]])
                y_named = [*y_train, *(i for _, i in ds.class_texts(label_set))]
                pred = baselines.frozen_lr(x_train, y_named, frozen.test, seed)
            elif method == "frozen_lr_self" and frozen is not None:
                pred = _frozen_self_trained(ds, label_set, rows, y_train, frozen, config)
            else:
                continue
            out.append((label_set, method, baselines.scores(y_test, pred), time.perf_counter() - started))
    return out


def _frozen_self_trained(
    ds: BenchDataset,
    label_set: str,
    rows: list[int],
    y_train: list[int],
    frozen: FrozenEmbeddings,
    config: TrainConfig,
) -> np.ndarray:
    """The SetFit head (class names, temperature, self-training on the rest of the train split) on frozen
    embeddings: what the head alone makes of the unlabeled texts."""
    from training.heads import aligned_proba
    from training.selftrain import fit_self_trained_head

    named = (frozen.names[label_set], [i for _, i in ds.class_texts(label_set)])
    pool = unlabeled_pool(len(ds.train), rows, config.self_train_pool_max, config.seed)
    head, _ = fit_self_trained_head((frozen.train[rows], y_train), named, frozen.train[pool], config)
    return aligned_proba(head, frozen.test, len(ds.classes(label_set))).argmax(axis=1)


def _setfit(
    ds: BenchDataset, rows: list[int], variant: str, config: TrainConfig, base_model: str, reporter: Reporter
) -> tuple[dict[bool, dict[str, dict[str, Any]]], dict[str, Any]]:
    """Train one SetFit variant on the sample and score every label set on the test split: by whether the
    heads were self-trained (on the rest of the train split, unlabeled), then by label set."""
    from training.baselines import scores
    from training.contrastive import LabeledTexts, encode
    from training.devices import resolve_device
    from training.heads import aligned_proba
    from training.multitask import train_shared
    from training.setfit_trainer import fit_heads, self_train_bodies, train_separate

    device = resolve_device(config)
    train = ds.train.subset(rows)
    tasks, tests = [], {}
    for label_set in ds.label_sets:
        classes = ds.classes(label_set)
        index = {c: i for i, c in enumerate(classes)}
        y_train = [index[c] for c in train.labels[label_set]]
        tasks.append(LabeledTexts(label_set, train.texts, y_train, ds.class_texts(label_set)))
        tests[label_set] = (classes, [index[c] for c in ds.test.labels[label_set]])
    with tempfile.TemporaryDirectory(prefix="postroom-bench-") as scratch:
        trainer = train_shared if variant == "shared" else train_separate
        models = trainer(base_model, tasks, config, device, Path(scratch), reporter)
    embedded: dict[str, np.ndarray] = {}
    results: dict[bool, dict[str, dict[str, Any]]] = {}
    seconds: dict[bool, float] = {}
    pool = unlabeled_pool(len(ds.train), rows, config.self_train_pool_max, config.seed)
    for self_trained in (False, True) if config.self_train_rounds and pool else (False,):
        if self_trained:
            with tempfile.TemporaryDirectory(prefix="postroom-bench-") as scratch:
                unlabeled = [ds.train.texts[i] for i in pool]
                fit_heads(models, tasks, config, device, unlabeled)
                if self_train_bodies(models, tasks, config, device, Path(scratch), reporter, unlabeled):
                    embedded.clear()  # new bodies: the test texts are embedded again
        for label_set, (classes, y_test) in tests.items():
            key = models.body_of[label_set]
            if key not in embedded:
                embedded[key] = encode(models.bodies[key], ds.test.texts, config, device)
            proba = aligned_proba(models.heads[label_set], embedded[key], len(classes))
            results.setdefault(self_trained, {})[label_set] = scores(y_test, proba.argmax(axis=1))
        seconds[self_trained] = round(models.contrastive_seconds + models.head_seconds, 2)
    meta = {
        "train_seconds": seconds,  # by outcome: the self-trained one includes the supervised run
        "device": device.name,
        "device_type": device.type,
        "precision": device.precision,
        "steps": sum(r.steps for r in models.reports),
        "planned_steps": sum(r.planned_steps for r in models.reports),
        "capped": any(r.capped for r in models.reports),
    }
    return results, meta


def run_fewshot_benchmark(options: FewShotOptions, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run the protocol, merge into `<out_dir>/fewshot.json`, render `fewshot.md`; returns the merged data."""
    from postroom.machine import cpu_model
    from training.devices import machine_info, resolve_device
    from training.setfit_trainer import load_base

    reporter = reporter or NullReporter()
    out_path = options.out_dir / JSON_NAME
    merged = benchfiles.load_results(out_path)
    invocation = len(merged["invocations"])
    device = resolve_device(options.config)
    merged["invocations"].append(
        {
            "command": options.command,
            "started_at": utc_now(),
            "machine": machine_info(),
            "base_model": options.base_model,
            "setfit_config": options.config.to_dict(),
        }
    )
    baseline_methods = [m for m in options.methods if m in BASELINES]
    setfit_methods = [m for m in options.methods if m in SETFIT_METHODS]
    new_runs: list[dict[str, Any]] = []
    base = base_name(options.base_model)
    for name in options.datasets:
        ds = LOADERS[name](options.data_root)
        frozen = None
        if any(m.startswith("frozen") for m in baseline_methods):
            from training.contrastive import encode

            with reporter.task(f"{name}: frozen embeddings", total=1) as task:
                body = load_base(options.base_model, options.config, device)
                frozen = FrozenEmbeddings(
                    encode(body, ds.train.texts, options.config, device),
                    encode(body, ds.test.texts, options.config, device),
                    {
                        s: encode(body, [t for t, _ in ds.class_texts(s)], options.config, device)
                        for s in ds.label_sets
                    },
                )
                task.advance()
        for shots in options.shots:
            for seed in options.seeds:
                rows, short = sample_per_class(ds.train.labels[ds.label_sets[0]], shots, seed)
                for label_set, method, result, seconds in _baselines(
                    ds, rows, seed, baseline_methods, frozen, options.config.with_overrides(seed=seed)
                ):
                    new_runs.append(
                        _run_record(
                            name,
                            label_set,
                            shots,
                            seed,
                            method,
                            with_base(method, method, base),
                            result,
                            invocation,
                            train_seconds=round(seconds, 3),
                            device=f"cpu ({cpu_model()})",
                            short_classes=short,
                        )
                    )
            if options.setfit_shots and shots not in options.setfit_shots:
                continue
            for seed in options.setfit_seeds:
                rows, short = sample_per_class(ds.train.labels[ds.label_sets[0]], shots, seed)
                config = options.config.with_overrides(seed=seed)
                for method in setfit_methods:
                    variant = "shared" if method == "setfit_shared" else "separate"
                    if variant == "shared" and len(ds.label_sets) == 1:
                        continue  # one label set: the shared body is the separate one
                    reporter.info(f"{name} N={shots} seed={seed}: {method}")
                    outcomes, meta = _setfit(ds, rows, variant, config, options.base_model, reporter)
                    for self_trained, results in outcomes.items():
                        label = with_base(
                            setfit_label(method, config, meta["device_type"], self_trained), method, base
                        )
                        timing = {**meta, "train_seconds": meta["train_seconds"][self_trained]}
                        new_runs.extend(
                            _run_record(
                                name,
                                label_set,
                                shots,
                                seed,
                                method,
                                label,
                                result,
                                invocation,
                                short_classes=short,
                                self_trained=self_trained,
                                **timing,
                            )
                            for label_set, result in results.items()
                        )
                    save_results(merge_runs(merged, new_runs), options.out_dir)  # keep what is done
    merged = merge_runs(merged, new_runs)
    save_results(merged, options.out_dir)
    return merged


def _key(run: dict[str, Any]) -> tuple[Any, ...]:
    return (run["dataset"], run["label_set"], run["shots"], run["seed"], run["label"])


def _row_key(run: dict[str, Any]) -> tuple[Any, ...]:
    """The summary row a run (or a summary row itself) belongs to: `_key` without the seed."""
    return (run["dataset"], run["label_set"], run["shots"], run["label"])


def merge_runs(merged: dict[str, Any], new_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Earlier runs with the same key are replaced by the new ones."""
    return benchfiles.merge_runs(
        merged, new_runs, _key, lambda r: (r["dataset"], r["label_set"], r["shots"], r["label"], r["seed"])
    )


def _device_label(run: dict[str, Any]) -> str:
    device = str(run.get("device", "?"))
    kind = run.get("device_type")
    return f"{kind} ({device})" if kind and not device.startswith(str(kind)) else device


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per (dataset, label set, N, method label)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(_row_key(run), []).append(run)
    summary = []
    for (dataset, label_set, shots, label), members in sorted(groups.items()):
        f1 = [m["macro_f1"] for m in members]
        acc = [m["accuracy"] for m in members]
        summary.append(
            {
                "dataset": dataset,
                "label_set": label_set,
                "shots": shots,
                "label": label,
                "method": members[0]["method"],
                "seeds": sorted(m["seed"] for m in members),
                "macro_f1_mean": statistics.fmean(f1),
                "macro_f1_std": statistics.pstdev(f1) if len(f1) > 1 else 0.0,
                "accuracy_mean": statistics.fmean(acc),
                "accuracy_std": statistics.pstdev(acc) if len(acc) > 1 else 0.0,
                "train_seconds_mean": statistics.fmean(m.get("train_seconds", 0.0) for m in members),
                "devices": sorted({_device_label(m) for m in members}),
            }
        )
    return summary


def save_results(merged: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {**merged, "summary": summarize(merged["runs"]), "anchors": ANCHORS, "goal": GOAL}
    (out_dir / JSON_NAME).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (out_dir / MD_NAME).write_text(render_markdown(data), encoding="utf-8")


def _goal_line(summary: list[dict[str, Any]], runs: list[dict[str, Any]]) -> str:
    """The goal's verdict, from the rows with at least `GOAL["min_seeds"]` seeds (the protocol's five);
    a better row with fewer seeds is named but does not count."""
    on_goal = [s for s in summary if s["dataset"] == GOAL["dataset"] and s["shots"] == GOAL["shots"]]
    counted = [s for s in on_goal if len(s["seeds"]) >= GOAL["min_seeds"]]
    setfit = [s for s in counted if s["method"].startswith("setfit")]
    others = [s for s in counted if not s["method"].startswith("setfit")]
    head = f"Goal (SetFit 8-shot macro-F1 >= 0.87 on BANKING77, {GOAL['min_seeds']} seeds or more)"
    if not setfit:
        return f"{head}: no SetFit row with {GOAL['min_seeds']} seeds yet."
    best = max(setfit, key=lambda s: s["macro_f1_mean"])
    best_other = max(others, key=lambda s: s["macro_f1_mean"]) if others else None
    verdict = "reached" if best["macro_f1_mean"] >= GOAL["macro_f1"] else "NOT reached"
    line = (
        f"{head}: **{verdict}** — best SetFit "
        f"{best['macro_f1_mean']:.4f} ({best['label']}, seeds {best['seeds']})"
    )
    supervised = [s for s in setfit if "self-training" not in s["label"]]
    if "self-training" in best["label"] and supervised:
        top = max(supervised, key=lambda s: s["macro_f1_mean"])
        line += f"; without the unlabeled texts {top['macro_f1_mean']:.4f} ({top['label']})"
    if best_other:
        line += (
            f"; best baseline {best_other['macro_f1_mean']:.4f} ({best_other['label']}, "
            f"{len(best_other['seeds'])} seeds)"
        )
        gaps = paired_gaps(runs, best, best_other)
        if gaps:
            ahead = sum(g > 0 for g in gaps)
            per_seed = ", ".join(f"{g * 100:+.1f}" for g in gaps)
            line += (
                f"; on the seeds both ran the best SetFit is {statistics.fmean(gaps) * 100:+.1f} points "
                f"from it (ahead on {ahead} of {len(gaps)}, per seed {per_seed})"
            )
    fewer = [s for s in on_goal if s not in counted and s["method"].startswith("setfit")]
    top_few = max(fewer, key=lambda s: s["macro_f1_mean"], default=None)
    if top_few is not None and top_few["macro_f1_mean"] > best["macro_f1_mean"]:
        line += (
            f". Not counted yet, fewer seeds: {top_few['macro_f1_mean']:.4f} ({top_few['label']}, "
            f"seeds {top_few['seeds']})"
        )
    return line + "."


def paired_gaps(runs: list[dict[str, Any]], first: dict[str, Any], second: dict[str, Any]) -> list[float]:
    """Macro-F1 of `first` minus `second` (two summary rows of one dataset, label set and N) on every seed
    both ran, in seed order: same samples, so the difference is the methods', not the samples'."""

    def by_seed(row: dict[str, Any]) -> dict[int, float]:
        return {r["seed"]: r["macro_f1"] for r in runs if _row_key(r) == _row_key(row)}

    a, b = by_seed(first), by_seed(second)
    return [a[seed] - b[seed] for seed in sorted(a.keys() & b.keys())]


def render_markdown(data: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = [
        "# Few-shot benchmark",
        "",
        "Generated by `postroom bench fewshot` (training/fewshot_bench.py); do not edit by hand.",
        "",
        _goal_line(summary, data["runs"]),
        "",
        "Protocol: N examples per class sampled from the train split per seed (numpy PCG64, classes "
        "sorted; a class with fewer rows contributes all of them); every method trains on the same "
        "sample and is scored on the full test split. Macro-F1 over the classes of the test split. "
        "Logistic regressions (TF-IDF, frozen embeddings, SetFit head) use C=10; `frozen_lr_c1` is "
        "sklearn's default C=1, for reference. `frozen_lr_names` also learns from each class's name in "
        'words (`card_arrival` -> "card arrival"), one extra example per class, as a SetFit label with '
        "`+ class names` does (Postroom's head learns from the taxonomy's class names and descriptions). "
        "`+ self-training` (SetFit) and `frozen_lr_self` also use the rest of the train split as unlabeled "
        "texts (their labels unused; never the test split): the head pseudo-labels the most confident ones "
        "and is fitted again (training/selftrain.py), as Postroom does with the unlabeled messages of its "
        "store. "
        "Train time is seconds for all label sets of the dataset "
        "together (SetFit: contrastive phase + head), wall-clock, on the device named in the last column "
        "(a shared machine: see the invocations). A SetFit label says its loss and schedule; `cpu, <= N "
        "steps/label set` is a CPU-capped run, `full schedule` an uncapped one. Embedding methods use "
        "the packaged all-MiniLM-L6-v2 unless their label ends in `@ NAME`, the base model they used "
        "(a larger base: `scripts/models/install-mpnet.sh`, then `POSTROOM_BASE_MODEL=<dir>`).",
        "",
    ]
    datasets = sorted({(s["dataset"], s["label_set"]) for s in summary})
    for dataset, label_set in datasets:
        lines += [f"## {dataset} — {label_set}", ""]
        for anchor in data.get("anchors", {}).get(dataset, {}).get(label_set, []):
            lines.append(f"- published: {anchor}")
        lines += [
            "",
            "| N | method | seeds | macro-F1 | accuracy | train s | device |",
            "|---|---|---|---|---|---|---|",
        ]
        rows = [s for s in summary if s["dataset"] == dataset and s["label_set"] == label_set]
        for s in sorted(rows, key=lambda r: (r["shots"], -r["macro_f1_mean"])):
            lines.append(
                f"| {s['shots']} | {s['label']} | {len(s['seeds'])} | {s['macro_f1_mean']:.3f} ± "
                f"{s['macro_f1_std']:.3f} | {s['accuracy_mean']:.3f} ± {s['accuracy_std']:.3f} | "
                f"{s['train_seconds_mean']:.1f} | {'; '.join(s['devices'])} |"
            )
        lines.append("")
    lines += ["## Invocations", ""]
    for i, inv in enumerate(data["invocations"]):
        machine = inv.get("machine", {})
        gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU"
        cpu = (  # invocations before session 7 recorded the CPU's name and core count only
            one_line(machine)
            if "cores_usable" in machine
            else f"{machine.get('cpu', '?')}, {machine.get('cpu_cores', '?')} cores"
        )
        base = f"; base model `{inv['base_model']}`" if base_name(inv.get("base_model", "")) else ""
        lines.append(
            f"{i}. `{inv['command']}` — {inv['started_at']}; {cpu}{gpu}; torch {machine.get('torch', '?')}, "
            f"setfit {machine.get('setfit', '?')}, sentence-transformers "
            f"{machine.get('sentence_transformers', '?')}{base}"
        )
    lines.append("")
    return "\n".join(lines)
