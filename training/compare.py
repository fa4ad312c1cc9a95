"""Compare two model versions on the same messages, ones neither trained on (`postroom models compare`).

Each version's own held-out score is measured on its own held-out set, so two versions' scores in
`models list` are not comparable: the sets differ, and one version's held-out messages may be the other's
training messages. Here both versions classify the same messages: every labeled message in the store that
neither used for training (nor saw unlabeled for self-training), with its current label, so labels added or
corrected since both were trained count too. The difference in macro-F1 gets a paired bootstrap interval:
when it includes 0, the messages do not tell the two versions apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from training.dataset import LabeledMessage
from training.errors import RegistryError
from training.registry import DATASET_FILE, ModelVersion

BOOTSTRAP_SAMPLES = 2000
FEW_MESSAGES = 30  # below this many common messages a label set's comparison is flagged as too small

Predict = Callable[[ModelVersion, str, list[str]], list[str]]  # version, label set, texts -> classes


@dataclass(frozen=True)
class SetComparison:
    """One label set compared on `n` common held-out messages: `a` is the candidate, `b` the reference."""

    label_set: str
    n: int
    classes: int  # classes present in the common messages' labels (macro-F1 averages over them)
    a_macro_f1: float
    b_macro_f1: float
    a_accuracy: float
    b_accuracy: float
    delta_macro_f1: float  # a - b
    interval: tuple[float, float]  # 95 % paired bootstrap interval of the difference
    only_a_right: int
    only_b_right: int
    unknown_to: dict[str, list[str]] = field(default_factory=dict)  # version -> labels it cannot predict

    @property
    def verdict(self) -> str:
        low, high = self.interval
        if low > 0:
            return "candidate better"
        if high < 0:
            return "candidate worse"
        return "no clear difference"


@dataclass(frozen=True)
class Comparison:
    candidate: str
    reference: str
    messages: int  # labeled messages neither version trained on
    excluded: dict[str, int]  # why other labeled messages were left out
    sets: list[SetComparison]
    only_in: dict[str, list[str]]  # version -> label sets the other lacks (not compared)
    bootstrap: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for entry, result in zip(data["sets"], self.sets, strict=True):
            entry["verdict"] = result.verdict
        return data


def seen_ids(version: ModelVersion) -> set[str]:
    """Message IDs a version learned from: its training messages and its self-training pool.

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
    ids = set(record.get("train_message_ids") or [])
    for entry in (record.get("label_sets") or {}).values():
        ids.update(entry.get("train_message_ids") or [])
    ids.update(record.get("unlabeled_message_ids") or [])
    return {str(i) for i in ids}


def macro_f1_counts(weights: np.ndarray, truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 over classes `0..n_classes-1` (those of `truth`) for each row of `weights` (message counts).

    `weights` is (samples, messages); `pred` may hold -1 or indices >= n_classes (a class outside the
    average): such a prediction is a miss for the true class and a false positive for none of them.
    """
    classes = np.arange(n_classes)
    true_hot = (truth[:, None] == classes[None, :]).astype(float)
    pred_hot = (pred[:, None] == classes[None, :]).astype(float)
    tp = weights @ (true_hot * pred_hot)
    support = weights @ true_hot
    predicted = weights @ pred_hot
    denominator = support + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    present = support > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def compare_set(
    label_set: str,
    truth: list[str],
    a_pred: list[str],
    b_pred: list[str],
    bootstrap: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> SetComparison:
    """Macro-F1 and accuracy of both versions on the same messages, and the paired bootstrap interval of the
    macro-F1 difference (messages resampled with replacement, the same resample for both versions)."""
    classes = sorted(set(truth))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in truth])
    a = np.array([index.get(c, -1) for c in a_pred])
    b = np.array([index.get(c, -1) for c in b_pred])
    ones = np.ones((1, len(y)))
    a_f1 = float(macro_f1_counts(ones, y, a, len(classes))[0])
    b_f1 = float(macro_f1_counts(ones, y, b, len(classes))[0])
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y)), size=bootstrap).astype(float)
    deltas = macro_f1_counts(weights, y, a, len(classes)) - macro_f1_counts(weights, y, b, len(classes))
    low, high = np.percentile(deltas, [2.5, 97.5])
    a_right, b_right = a == y, b == y
    return SetComparison(
        label_set=label_set,
        n=len(y),
        classes=len(classes),
        a_macro_f1=a_f1,
        b_macro_f1=b_f1,
        a_accuracy=float(a_right.mean()),
        b_accuracy=float(b_right.mean()),
        delta_macro_f1=a_f1 - b_f1,
        interval=(float(low), float(high)),
        only_a_right=int((a_right & ~b_right).sum()),
        only_b_right=int((b_right & ~a_right).sum()),
    )


def compare_versions(
    candidate: ModelVersion,
    reference: ModelVersion,
    messages: list[LabeledMessage],
    predict: Predict,
    bootstrap: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> Comparison:
    """Compare `candidate` with `reference` on the labeled `messages` neither learned from.

    Raises:
        RegistryError: the same version twice, a version without a dataset record, no label set in common,
            or no labeled message that neither version trained on.
    """
    if candidate.version == reference.version:
        raise RegistryError(f"{candidate.version} compared with itself: name two different versions")
    for version in (candidate, reference):
        if problems := version.verify():
            raise RegistryError(f"version {version.version} is damaged: " + "; ".join(problems[:3]))
    seen_a, seen_b = seen_ids(candidate), seen_ids(reference)
    common = [m for m in messages if m.message_id not in seen_a and m.message_id not in seen_b]
    excluded = {
        "trained_on_by_both": sum(m.message_id in seen_a and m.message_id in seen_b for m in messages),
        f"trained_on_by_{candidate.version}_only": sum(
            m.message_id in seen_a and m.message_id not in seen_b for m in messages
        ),
        f"trained_on_by_{reference.version}_only": sum(
            m.message_id in seen_b and m.message_id not in seen_a for m in messages
        ),
    }
    shared = [s for s in candidate.label_sets if s in reference.label_sets]
    if not shared:
        raise RegistryError(
            f"{candidate.version} ({', '.join(candidate.label_sets)}) and {reference.version} "
            f"({', '.join(reference.label_sets)}) have no label set in common"
        )
    if not common:
        raise RegistryError(
            f"no labeled message is held out from both {candidate.version} and {reference.version} "
            f"({len(messages)} labeled: {excluded['trained_on_by_both']} trained on by both, the rest by "
            "one of them): label new messages (postroom label push / pull), then compare again"
        )
    results = []
    for name in shared:
        rows = [m for m in common if name in m.labels]
        if not rows:
            continue
        texts, truth = [m.text for m in rows], [m.labels[name] for m in rows]
        result = compare_set(
            name, truth, predict(candidate, name, texts), predict(reference, name, texts), bootstrap, seed
        )
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
        only_in={
            v.version: [s for s in v.label_sets if s not in shared] for v in (candidate, reference)
        },
        bootstrap=bootstrap,
        seed=seed,
    )


def torch_predict(version: ModelVersion, label_set: str, texts: list[str]) -> list[str]:
    """The version's PyTorch body and head (as its held-out evaluation): the predicted class per text."""
    from training.artifacts import load_predictor

    predictor = load_predictor(version, label_set)
    proba = predictor.predict_proba(texts)
    return [predictor.artifacts.classes[i] for i in proba.argmax(axis=1)]
