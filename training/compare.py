"""Compare two model versions on the same messages, ones neither learned from (`postroom models compare`).

Each version's own held-out score is measured on its own held-out set, so two versions' scores in
`models list` are not comparable: the sets differ, and one version's held-out messages may be the other's
training messages. Here both versions classify the same messages: every labeled message in the store that
neither trained on nor learned from as a self-training pseudo-label, and that is no near-copy of a message
either trained on, with its current label; labels added or corrected since both were trained count too. The
difference in macro-F1 gets a paired bootstrap interval: when it includes 0, the messages do not tell the two
versions apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from training.dataset import LabeledMessage
from training.errors import RegistryError
from training.registry import DATASET_FILE, ModelVersion
from training.split import near_duplicate_groups

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_MAX = 100_000
BOOTSTRAP_CHUNK = 250  # resamples computed at once (memory: chunk x messages floats)
FEW_MESSAGES = 30  # below this many common messages a label set's comparison is flagged as too small
SOLID_SUPPORT = 5  # classes with this many common messages come first among the largest F1 changes
NEAR_COPY_COSINE = 0.8  # a common message this close to a training message is left out (training.split)

Predict = Callable[[ModelVersion, str, list[str]], list[str]]  # version, label set, texts -> classes


@dataclass(frozen=True)
class Seen:
    """The messages a version learned from, from its `dataset.json`."""

    trained: frozenset[str]  # its training messages (every label set's)
    pseudo_labeled: frozenset[str]  # unlabeled then, learned from with a predicted label (self-training)
    pool_only: bool  # older versions recorded only the self-training pool: all of it counts as seen


@dataclass(frozen=True)
class ClassResult:
    """One class on the common messages: its support and each version's F1."""

    name: str
    support: int
    candidate_f1: float
    reference_f1: float

    @property
    def delta(self) -> float:
        return self.candidate_f1 - self.reference_f1


@dataclass(frozen=True)
class SetComparison:
    """One label set compared on `n` common messages."""

    label_set: str
    n: int
    classes: int  # classes present in the common messages' labels (macro-F1 averages over them)
    candidate_macro_f1: float
    reference_macro_f1: float
    candidate_accuracy: float
    reference_accuracy: float
    delta_macro_f1: float  # candidate - reference
    interval: tuple[float, float]  # 95 % paired bootstrap percentile interval of the difference
    only_candidate_right: int
    only_reference_right: int
    per_class: list[ClassResult] = field(default_factory=list)
    disagreements: list[dict[str, str]] = field(default_factory=list)  # message ID, label, both predictions
    unknown_to: dict[str, list[str]] = field(default_factory=dict)  # version -> labels it cannot predict

    @property
    def verdict(self) -> str:
        low, high = self.interval
        if low > 0:
            return "candidate better"
        if high < 0:
            return "candidate worse"
        return "no clear difference"

    def largest_changes(self, count: int = 3) -> list[ClassResult]:
        """The classes whose F1 moved most, either way: those with `SOLID_SUPPORT` messages or more first
        (one message of a class of two moves its F1 by a third), ties by more support."""
        moved = [c for c in self.per_class if abs(c.delta) >= 0.0005]
        return sorted(moved, key=lambda c: (c.support < SOLID_SUPPORT, -abs(c.delta), -c.support, c.name))[
            :count
        ]


@dataclass(frozen=True)
class Comparison:
    candidate: str
    reference: str
    messages: int  # labeled messages compared on
    excluded: dict[str, int]  # why the other labeled messages were left out
    sets: list[SetComparison]
    only_in: dict[str, list[str]]  # version -> label sets the other lacks (not compared)
    bootstrap: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for entry, result in zip(data["sets"], self.sets, strict=True):
            entry["verdict"] = result.verdict
        return data


def seen_ids(version: ModelVersion) -> Seen:
    """The messages a version learned from.

    Raises:
        RegistryError: the version has no readable dataset record.
    """
    path = version.path / DATASET_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistryError(
            f"version {version.version} has no readable {DATASET_FILE} ({exc.__class__.__name__}): "
            "which messages it trained on is unknown, so it cannot be compared"
        ) from exc
    trained = set(record.get("train_message_ids") or [])
    for entry in (record.get("label_sets") or {}).values():
        trained.update(entry.get("train_message_ids") or [])
    pool_only = "pseudo_labeled_message_ids" not in record
    pseudo = record.get("unlabeled_message_ids" if pool_only else "pseudo_labeled_message_ids") or []
    return Seen(frozenset(map(str, trained)), frozenset(map(str, pseudo)), pool_only)


def macro_f1_counts(weights: np.ndarray, truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 over classes `0..n_classes-1` (those of `truth`) for each row of `weights` (message counts).

    `weights` is (samples, messages); `pred` may hold -1 or indices >= n_classes (a class outside the
    average): such a prediction is a miss for the true class and a false positive for none of them.
    """
    return per_class_f1(weights, truth, pred, n_classes)[1]


def per_class_f1(
    weights: np.ndarray, truth: np.ndarray, pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(F1 per class, macro-F1 over the classes with support) for each row of `weights`."""
    classes = np.arange(n_classes)
    true_hot = (truth[:, None] == classes[None, :]).astype(float)
    pred_hot = (pred[:, None] == classes[None, :]).astype(float)
    tp = weights @ (true_hot * pred_hot)
    support = weights @ true_hot
    denominator = support + weights @ pred_hot
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    present = support > 0
    return f1, (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def bootstrap_deltas(
    truth: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int, samples: int, seed: int
) -> np.ndarray:
    """Macro-F1(a) - macro-F1(b) on `samples` resamples of the messages (the same resample for both)."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    deltas = []
    for start in range(0, samples, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, samples - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
        deltas.append(
            macro_f1_counts(weights, truth, a, n_classes) - macro_f1_counts(weights, truth, b, n_classes)
        )
    return np.concatenate(deltas)


def compare_set(
    label_set: str,
    truth: list[str],
    a_pred: list[str],
    b_pred: list[str],
    bootstrap: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    message_ids: list[str] | None = None,
) -> SetComparison:
    """Macro-F1, accuracy and per-class F1 of both versions (`a` the candidate) on the same messages, and
    the 95 % paired bootstrap interval of the macro-F1 difference."""
    classes = sorted(set(truth))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in truth])
    a = np.array([index.get(c, -1) for c in a_pred])
    b = np.array([index.get(c, -1) for c in b_pred])
    ones = np.ones((1, len(y)))
    a_class, a_macro = per_class_f1(ones, y, a, len(classes))
    b_class, b_macro = per_class_f1(ones, y, b, len(classes))
    low, high = np.percentile(bootstrap_deltas(y, a, b, len(classes), bootstrap, seed), [2.5, 97.5])
    a_right, b_right = a == y, b == y
    ids = message_ids or [str(i) for i in range(len(y))]
    return SetComparison(
        label_set=label_set,
        n=len(y),
        classes=len(classes),
        candidate_macro_f1=float(a_macro[0]),
        reference_macro_f1=float(b_macro[0]),
        candidate_accuracy=float(a_right.mean()),
        reference_accuracy=float(b_right.mean()),
        delta_macro_f1=float(a_macro[0] - b_macro[0]),
        interval=(float(low), float(high)),
        only_candidate_right=int((a_right & ~b_right).sum()),
        only_reference_right=int((b_right & ~a_right).sum()),
        per_class=[
            ClassResult(c, int((y == i).sum()), float(a_class[0, i]), float(b_class[0, i]))
            for i, c in enumerate(classes)
        ],
        disagreements=[
            {"message_id": ids[k], "label": truth[k], "candidate": a_pred[k], "reference": b_pred[k]}
            for k in range(len(y))
            if a_pred[k] != b_pred[k]
        ],
    )


def _held_out_from_both(
    messages: list[LabeledMessage], a: Seen, b: Seen, cosine: float | None
) -> tuple[list[LabeledMessage], dict[str, int]]:
    """The messages neither version learned from, none a near-copy of a training message; why the others
    were left out."""
    excluded = dict.fromkeys(
        (
            "trained_on_by_both",
            "trained_on_by_candidate_only",
            "trained_on_by_reference_only",
            "pseudo_labeled_in_self_training",
            "near_copy_of_a_training_message",
        ),
        0,
    )
    candidates, trained = [], []
    for m in messages:
        in_a, in_b = m.message_id in a.trained, m.message_id in b.trained
        if in_a or in_b:
            key = "both" if in_a and in_b else "candidate_only" if in_a else "reference_only"
            excluded[f"trained_on_by_{key}"] += 1
            trained.append(m)
        elif m.message_id in a.pseudo_labeled or m.message_id in b.pseudo_labeled:
            excluded["pseudo_labeled_in_self_training"] += 1
        else:
            candidates.append(m)
    groups = near_duplicate_groups([m.text for m in candidates + trained], cosine)
    taught = set(groups[len(candidates) :])
    common = [m for m, g in zip(candidates, groups[: len(candidates)], strict=True) if g not in taught]
    excluded["near_copy_of_a_training_message"] = len(candidates) - len(common)
    return common, excluded


def compare_versions(
    candidate: ModelVersion,
    reference: ModelVersion,
    messages: list[LabeledMessage],
    predict: Predict,
    bootstrap: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    near_copy_cosine: float | None = NEAR_COPY_COSINE,
) -> Comparison:
    """Compare `candidate` with `reference` on the labeled `messages` neither learned from.

    Raises:
        RegistryError: the same version twice, a damaged version or one without a dataset record, no label
            set in common, or no labeled message that neither version learned from.
    """
    if candidate.version == reference.version:
        raise RegistryError(f"{candidate.version} compared with itself: name two different versions")
    for version in (candidate, reference):
        if problems := version.verify():
            raise RegistryError(f"version {version.version} is damaged: " + "; ".join(problems[:3]))
    shared = [s for s in candidate.label_sets if s in reference.label_sets]
    if not shared:
        raise RegistryError(
            f"{candidate.version} ({', '.join(candidate.label_sets)}) and {reference.version} "
            f"({', '.join(reference.label_sets)}) have no label set in common"
        )
    common, excluded = _held_out_from_both(
        messages, seen_ids(candidate), seen_ids(reference), near_copy_cosine
    )
    if not common:
        left_out = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in excluded.items() if v)
        raise RegistryError(
            f"no labeled message is held out from both {candidate.version} and {reference.version} "
            f"({len(messages)} labeled: {left_out}): label new messages (postroom label push / pull), then "
            "compare again"
        )
    results = []
    for name in shared:
        rows = [m for m in common if name in m.labels]
        if not rows:
            continue
        texts, truth = [m.text for m in rows], [m.labels[name] for m in rows]
        a_pred, b_pred = predict(candidate, name, texts), predict(reference, name, texts)
        result = compare_set(name, truth, a_pred, b_pred, bootstrap, seed, [m.message_id for m in rows])
        unknown = {
            v.version: sorted(set(truth) - set(v.manifest["label_sets"][name]["classes"]))
            for v in (candidate, reference)
        }
        results.append(replace(result, unknown_to={k: v for k, v in unknown.items() if v}))
    return Comparison(
        candidate=candidate.version,
        reference=reference.version,
        messages=len(common),
        excluded=excluded,
        sets=results,
        only_in={v.version: [s for s in v.label_sets if s not in shared] for v in (candidate, reference)},
        bootstrap=bootstrap,
        seed=seed,
    )


class TorchPredict:
    """A version's PyTorch bodies and heads (as its held-out evaluation), on the GPU when there is one;
    each body is loaded once and embeds a list of texts once, however many label sets share it."""

    def __init__(self) -> None:
        from training.config import TrainConfig
        from training.devices import resolve_device

        self.config = TrainConfig(device="auto")
        self.device = resolve_device(self.config)
        self._bodies: dict[Path, Any] = {}
        self._embeddings: dict[tuple[Path, int], np.ndarray] = {}

    def __call__(self, version: ModelVersion, label_set: str, texts: list[str]) -> list[str]:
        import joblib
        from sentence_transformers import SentenceTransformer

        from training.contrastive import encode
        from training.heads import aligned_proba

        artifacts = version.artifacts(label_set)
        body = self._bodies.get(artifacts.body_dir)
        if body is None:
            body = SentenceTransformer(str(artifacts.body_dir), device=self.device.torch_device)
            body.max_seq_length = artifacts.max_seq_length
            self._bodies[artifacts.body_dir] = body
        key = (artifacts.body_dir, hash(tuple(texts)))
        if key not in self._embeddings:
            self._embeddings[key] = encode(body, texts, self.config, self.device)
        head = joblib.load(artifacts.pickle_path)
        proba = aligned_proba(head, self._embeddings[key], len(artifacts.classes))
        return [artifacts.classes[i] for i in proba.argmax(axis=1)]
