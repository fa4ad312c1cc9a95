"""Simulated-expert benchmark of the selection on BANKING77: random vs Postroom's selection.

The oracle reveals the true intent of whatever is selected. After each batch, the learner (frozen MiniLM
embeddings + logistic regression, fast on CPU) is trained on what was labeled and scored on the test set:
macro-F1 over all 77 intents (an intent with no labeled example scores 0). Budgets are 2, 4 and 8 labels
per class on average, i.e. 154, 308 and 616 labels.

Postroom's arm is what `postroom label push` does: a cold-start batch from clusters, then batches chosen by
uncertainty + diversity + per-class balance with the same logistic regression as its model.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from labeling.select import (
    EmbeddingProxy,
    SelectionConfig,
    cold_start,
    embed_texts,
    normalize,
    select_random,
    select_uncertain,
)
from postroom.machine import describe, one_line

STRATEGIES = ("random", "postroom", "stratified")
# `stratified` draws exactly N per class at random: it needs the labels before labeling, so it is no option in
# practice, only the reference a selection strategy would like to reach.


@dataclass
class BenchConfig:
    """What the benchmark runs; validated on creation."""

    budgets_per_class: tuple[int, ...] = (2, 4, 8)
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_per_class: float = 1.0  # one selection round labels this many per class on average
    target: int = 8  # N of the per-class balance
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    learner_c: float = 10.0

    def __post_init__(self) -> None:
        if not self.budgets_per_class or min(self.budgets_per_class) < 1:
            raise ValueError(f"`budgets_per_class` must be positive, got {self.budgets_per_class}")
        if len(self.seeds) < 1:
            raise ValueError("`seeds` needs at least one seed")
        if self.batch_per_class <= 0:
            raise ValueError(f"`batch_per_class` must be > 0, got {self.batch_per_class}")


@dataclass
class Dataset:
    train_x: np.ndarray
    train_y: list[str]
    test_x: np.ndarray
    test_y: list[str]
    classes: list[str]


def read_jsonl(path: Path, label_field: str = "intent") -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                labels.append(row[label_field])
    return texts, labels


def cached_embeddings(texts: Sequence[str], cache_dir: Path | None, model: str | None = None) -> np.ndarray:
    """Embeddings of `texts`, cached as .npy under `cache_dir` by a hash of the texts and the model."""
    from postroom.settings import get_settings

    model = model or get_settings().resolved_base_model()
    key = hashlib.sha256(("\x00".join(texts) + "\x01" + Path(model).name).encode()).hexdigest()[:20]
    path = cache_dir / f"emb-{key}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path)
    vectors = embed_texts(texts, model)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def load_banking77(data_dir: Path, cache_dir: Path | None) -> Dataset:
    train_texts, train_y = read_jsonl(data_dir / "banking77_train.jsonl")
    test_texts, test_y = read_jsonl(data_dir / "banking77_test.jsonl")
    return Dataset(
        cached_embeddings(train_texts, cache_dir),
        train_y,
        cached_embeddings(test_texts, cache_dir),
        test_y,
        sorted(set(train_y) | set(test_y)),
    )


def evaluate(data: Dataset, picked: Sequence[int], c: float) -> float:
    """Macro-F1 on the test set of a logistic regression trained on the picked training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    y = [data.train_y[i] for i in picked]
    if len(set(y)) < 2:
        predicted = [y[0]] * len(data.test_y) if y else ["?"] * len(data.test_y)
    else:
        with warnings.catch_warnings():  # "more classes than half the samples": expected when few-shot
            warnings.simplefilter("ignore", UserWarning)
            model = LogisticRegression(C=c, max_iter=2000).fit(data.train_x[list(picked)], y)
        predicted = list(model.predict(data.test_x))
    return float(f1_score(data.test_y, predicted, labels=data.classes, average="macro", zero_division=0))


def run_strategy(data: Dataset, strategy: str, seed: int, config: BenchConfig) -> dict[int, dict[str, float]]:
    """Budget (labels per class) -> macro-F1 and coverage, for one strategy and seed."""
    n_classes = len(data.classes)
    budgets = [b * n_classes for b in sorted(config.budgets_per_class)]
    batch = max(1, round(config.batch_per_class * n_classes))
    x = normalize(data.train_x)
    picked: list[int] = []
    results: dict[int, dict[str, float]] = {}
    if strategy == "random":
        order = select_random(len(x), budgets[-1], seed)
    if strategy == "stratified":
        rng = np.random.default_rng(seed)
        by_class = {
            c: rng.permutation([i for i, y in enumerate(data.train_y) if y == c]) for c in data.classes
        }
    for per_class, budget in zip(sorted(config.budgets_per_class), budgets, strict=True):
        if strategy == "stratified":
            picked = [int(i) for c in data.classes for i in by_class[c][:per_class]]
        while len(picked) < budget:
            k = min(batch, budget - len(picked))
            if strategy == "random":
                picked = order[: len(picked) + k]
                continue
            remaining = np.setdiff1d(np.arange(len(x)), picked)
            if not picked:
                new = cold_start(x[remaining], k, config=config.selection, seed=seed)
            else:
                y = [data.train_y[i] for i in picked]
                proxy = EmbeddingProxy(x[picked], {"intent": y}, c=config.learner_c)
                counts = {"intent": {c: float(y.count(c)) for c in set(y)}}
                new = select_uncertain(
                    x[remaining],
                    proxy.predict_embeddings(x[remaining]),
                    counts,
                    k,
                    config.target,
                    avoid=x[picked],
                    config=config.selection,
                )
            picked += [int(remaining[i]) for i in new]
        labels = [data.train_y[i] for i in picked]
        per = [labels.count(c) for c in data.classes]
        results[per_class] = {
            "labels": float(len(picked)),
            "macro_f1": evaluate(data, picked, config.learner_c),
            "classes_covered": float(sum(1 for n in per if n)),
            "min_per_class": float(min(per)),
        }
    return results


def run_benchmark(
    data: Dataset,
    config: BenchConfig,
    *,
    strategies: Sequence[str] = STRATEGIES,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Every strategy × seed × budget; means and standard deviations over seeds."""
    started = time.perf_counter()
    per_seed: dict[str, dict[int, list[dict[str, float]]]] = {s: {} for s in strategies}
    for strategy in strategies:
        for seed in config.seeds:
            progress(f"{strategy} seed {seed}")
            for per_class, values in run_strategy(data, strategy, seed, config).items():
                per_seed[strategy].setdefault(per_class, []).append(values)
    summary: dict[str, Any] = {}
    for strategy, by_budget in per_seed.items():
        summary[strategy] = {}
        for per_class, runs in sorted(by_budget.items()):
            f1 = [r["macro_f1"] for r in runs]
            summary[strategy][str(per_class)] = {
                "labels": runs[0]["labels"],
                "macro_f1_mean": round(float(np.mean(f1)), 4),
                "macro_f1_std": round(float(np.std(f1)), 4),
                "macro_f1_per_seed": [round(v, 4) for v in f1],
                "classes_covered_mean": round(float(np.mean([r["classes_covered"] for r in runs])), 2),
                "min_per_class_mean": round(float(np.mean([r["min_per_class"] for r in runs])), 2),
            }
    config_dict = asdict(config)
    return {
        "config": config_dict,
        "classes": len(data.classes),
        "pool": len(data.train_y),
        "test": len(data.test_y),
        "results": summary,
        "runtime_s": round(time.perf_counter() - started, 1),
    }


def write_report(
    result: dict[str, Any], out_dir: Path, command: str, extra: dict[str, Any]
) -> tuple[Path, Path]:
    """docs/benchmarks/labeling.json and .md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "labeling",
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(),
        **extra,
        **result,
    }
    json_path = out_dir / "labeling.json"
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    budgets = sorted(result["results"][next(iter(result["results"]))], key=int)
    lines = [
        "# Labeling benchmark: which emails to label next",
        "",
        f"Command: `{command}`  ",
        f"Date: {payload['date']}  ",
        f"Machine: {one_line(payload['machine'])}, Python {payload['machine']['python']}  ",
        f"Data: {extra.get('dataset', '?')}; pool {result['pool']} training queries, "
        f"test {result['test']}, {result['classes']} classes  ",
        f"Learner: {extra.get('learner', '?')}  ",
        f"Seeds: {', '.join(map(str, result['config']['seeds']))}; runtime {result['runtime_s']} s",
        "",
        "A simulated expert (the oracle) reveals the true intent of each selected query. Macro-F1 on the "
        "test set after the given number of labels per class on average (mean ± std over seeds):",
        "",
        "| strategy | "
        + " | ".join(
            f"{b}/class ({int(result['results'][next(iter(result['results']))][b]['labels'])} labels)"
            for b in budgets
        )
        + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for strategy, by_budget in result["results"].items():
        cells = [f"{by_budget[b]['macro_f1_mean']:.3f} ± {by_budget[b]['macro_f1_std']:.3f}" for b in budgets]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`stratified` (exactly N random queries per class) needs the labels before anyone labels: it is no "
        "option in practice, only the balanced reference.",
        "",
        "Classes with at least one label (mean over seeds), and the smallest class count:",
        "",
        "| strategy | " + " | ".join(f"{b}/class" for b in budgets) + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for strategy, by_budget in result["results"].items():
        cells = [
            f"{by_budget[b]['classes_covered_mean']:.1f} covered, "
            f"min {by_budget[b]['min_per_class_mean']:.1f}"
            for b in budgets
        ]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    sel = result["config"]["selection"]
    lines += [
        "",
        f"Postroom's selection: cold start of {result['config']['batch_per_class']:g} label/class from "
        "k-means "
        f"clusters ({sel['per_cluster']} per cluster), then rounds of the same size by "
        f"{sel['uncertainty']} uncertainty + balance (weight {sel['balance_weight']}, target "
        f"{result['config']['target']}) − diversity (weight {sel['diversity_weight']}), skipping "
        f"near-duplicates (cosine > {sel['dedup_threshold']}).",
        "",
    ]
    md_path = out_dir / "labeling.md"
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return json_path, md_path
