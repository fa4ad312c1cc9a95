"""Public benchmark data (`../shared/data/`): loading JSONL splits and few-shot sampling.

Every file is JSONL with `id`, `text`, `language` and one field per label set (`intent`, `scenario`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from postroom.taxonomy import name_in_words
from training.errors import TrainingError


@dataclass(frozen=True)
class BenchSplit:
    """One split: texts, ids, and for each label set the class name of every row."""

    ids: list[str]
    texts: list[str]
    labels: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: list[int]) -> BenchSplit:
        return BenchSplit(
            [self.ids[i] for i in rows],
            [self.texts[i] for i in rows],
            {name: [values[i] for i in rows] for name, values in self.labels.items()},
        )


@dataclass(frozen=True)
class BenchDataset:
    """A train and a test split with named label sets (the first one is sampled on)."""

    name: str
    train: BenchSplit
    test: BenchSplit
    label_sets: list[str]

    def classes(self, label_set: str) -> list[str]:
        return sorted(set(self.train.labels[label_set]) | set(self.test.labels[label_set]))

    def class_texts(self, label_set: str) -> tuple[tuple[str, int], ...]:
        """Each class's name in words, with its index: all a taxonomy would say about these classes."""
        return tuple((name_in_words(c), i) for i, c in enumerate(self.classes(label_set)))


def read_split(path: Path, label_sets: list[str]) -> BenchSplit:
    """Read one JSONL split; a missing file or field is a `TrainingError` naming it."""
    if not path.is_file():
        raise TrainingError(f"benchmark data not found: {path} (see ../shared/data/README.md)")
    ids: list[str] = []
    texts: list[str] = []
    labels: dict[str, list[str]] = {name: [] for name in label_sets}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = [k for k in ("id", "text", *label_sets) if k not in row]
            if missing:
                raise TrainingError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
            ids.append(str(row["id"]))
            texts.append(str(row["text"]))
            for name in label_sets:
                labels[name].append(str(row[name]))
    return BenchSplit(ids, texts, labels)


def load_banking77(root: Path) -> BenchDataset:
    folder = root / "banking77"
    sets = ["intent"]
    return BenchDataset(
        "banking77",
        read_split(folder / "banking77_train.jsonl", sets),
        read_split(folder / "banking77_test.jsonl", sets),
        sets,
    )


def load_massive(root: Path, language: str) -> BenchDataset:
    folder = root / "massive"
    sets = ["intent", "scenario"]
    return BenchDataset(
        f"massive-{language}",
        read_split(folder / f"massive_{language}_train.jsonl", sets),
        read_split(folder / f"massive_{language}_test.jsonl", sets),
        sets,
    )


def sample_per_class(labels: list[str], shots: int, seed: int) -> tuple[list[int], dict[str, int]]:
    """Row indices with `shots` rows of every class (all rows of a class that has fewer), and those classes.

    Deterministic for a seed: classes in sorted order, rows drawn without replacement by numpy's PCG64.
    """
    rng = np.random.default_rng(seed)
    values = np.asarray(labels)
    rows: list[int] = []
    short: dict[str, int] = {}
    for name in sorted(set(labels)):
        candidates = np.flatnonzero(values == name)
        if len(candidates) < shots:
            short[name] = len(candidates)
            rows.extend(int(i) for i in candidates)
        else:
            rows.extend(int(i) for i in rng.choice(candidates, shots, replace=False))
    return rows, short


def unlabeled_pool(n_train: int, sample: list[int], limit: int, seed: int) -> list[int]:
    """The self-training pool: train rows outside the sample (their labels unused), a seeded sample of at
    most `limit`, in row order. The test split is never in it."""
    rest = np.setdiff1d(np.arange(n_train), sample)
    if len(rest) > limit:
        rest = np.sort(np.random.default_rng(seed).choice(rest, limit, replace=False))
    return [int(i) for i in rest]
