"""The parity gate: every exported variant against the PyTorch model, on the model's held-out texts.

For each label set: label agreement (same predicted class) and the largest absolute probability difference;
per body the smallest cosine similarity of the sentence embeddings. A variant below `min_agreement` on any
label set is not published, and the report says which set and by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from training.export.bundle import ModelBundle


@dataclass(frozen=True)
class Reference:
    """The PyTorch model's embeddings (per body) and probabilities (per label set) for the gate's texts."""

    embeddings: dict[str, np.ndarray]
    probabilities: dict[str, np.ndarray]
    seconds: float


@dataclass(frozen=True)
class LabelSetParity:
    label_set: str
    n: int
    agreed: int
    max_abs_diff: float

    @property
    def agreement(self) -> float:
        return self.agreed / self.n if self.n else 0.0


@dataclass
class VariantParity:
    """One variant's comparison with the reference, and the gate's verdict."""

    variant: str
    label_sets: dict[str, LabelSetParity]
    cosine_min: dict[str, float]
    published: bool = False
    reason: str = ""
    seconds: float = 0.0
    disagreements: dict[str, list[int]] = field(default_factory=dict)
    fallback: dict[str, Any] = field(default_factory=dict)  # second-look variant, margin, share per body
    rows: dict[str, Any] = field(default_factory=dict)  # whether a row's outputs depend on its run's others

    @property
    def shares_runs(self) -> bool:
        """Whether serving may put the variant's rows in shared runs: unchecked (the float variants) or
        checked within `ROWS_TOLERANCE`."""
        if not self.rows:
            return True
        difference = self.rows["max_difference_alone"]
        return bool(np.isfinite(difference)) and difference <= ROWS_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "published": self.published,
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
            "cosine_min": {k: round(v, 6) for k, v in self.cosine_min.items()},
            "label_sets": {
                name: {**asdict(p), "agreement": round(p.agreement, 6)} for name, p in self.label_sets.items()
            },
            "disagreements": self.disagreements,
            **({"fallback": self.fallback} if self.fallback else {}),
            **({"rows": self.rows} if self.rows else {}),
        }


def reference_outputs(bundle: ModelBundle, texts: Sequence[str], batch_size: int = 32) -> Reference:
    """Embed `texts` with every body in PyTorch (CPU) and apply the heads as setfit's `predict_proba` does."""
    import time

    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    embeddings: dict[str, np.ndarray] = {}
    for key, spec in bundle.bodies.items():
        body = SentenceTransformer(str(spec.path), device="cpu")
        body.max_seq_length = spec.max_seq_length
        embeddings[key] = np.asarray(
            body.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False),
            dtype=np.float32,
        )
    probabilities = {name: head.probabilities(embeddings[head.body]) for name, head in bundle.heads.items()}
    return Reference(embeddings, probabilities, time.perf_counter() - started)


def _cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
    return float(cos.min()) if len(cos) else 1.0


def compare(
    variant: str,
    reference: Reference,
    embeddings: dict[str, np.ndarray],
    probabilities: dict[str, np.ndarray],
    min_agreement: float,
) -> VariantParity:
    """Compare one variant's outputs with the reference and decide whether it may be published."""
    sets: dict[str, LabelSetParity] = {}
    disagreements: dict[str, list[int]] = {}
    problems: list[str] = []
    for name, ref in reference.probabilities.items():
        got = probabilities[name]
        if got.shape != ref.shape or not np.isfinite(got).all():
            problems.append(f"{name}: output has shape {got.shape} or non-finite values")
            sets[name] = LabelSetParity(name, len(ref), 0, float("inf"))
            continue
        same = ref.argmax(axis=1) == got.argmax(axis=1)
        sets[name] = LabelSetParity(name, len(ref), int(same.sum()), float(np.abs(got - ref).max()))
        disagreements[name] = [int(i) for i in np.flatnonzero(~same)[:20]]
        if sets[name].agreement < min_agreement:
            p = sets[name]
            problems.append(
                f"label agreement on {name} is {100 * p.agreement:.2f}% ({p.agreed}/{p.n}), "
                f"below the {100 * min_agreement:.2f}% gate"
            )
    cosine = {key: _cosine_min(reference.embeddings[key], emb) for key, emb in embeddings.items()}
    result = VariantParity(variant, sets, cosine, disagreements=disagreements)
    result.published = not problems
    if problems:
        result.reason = "not published: " + "; ".join(problems)
    else:
        worst = min(sets.values(), key=lambda p: p.agreement)
        result.reason = (
            f"published: agreement >= {100 * min_agreement:.2f}% on every label set "
            f"(lowest {100 * worst.agreement:.2f}% on {worst.label_set})"
        )
    return result


# A row's outputs may differ between a run of its own and a run shared with others by float rounding (the
# kernels block a run's rows differently: about 1e-6 on the demo's bodies), never by more than this.
ROWS_TOLERANCE = 1e-4


def refused_label_sets(result: VariantParity, min_agreement: float) -> list[str]:
    """The label sets below the gate."""
    return [name for name, p in result.label_sets.items() if p.agreement < min_agreement]


def largest_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest absolute difference between the same-named arrays of `a` and `b`; NaN if any value of
    either is not finite (a row that breaks in one shape only must not look like no difference)."""
    largest = 0.0
    for name, left in a.items():
        difference = np.abs(np.asarray(left, np.float64) - np.asarray(b[name], np.float64))
        if not np.isfinite(difference).all():
            return float("nan")
        largest = max(largest, float(difference.max(initial=0.0)))
    return largest


def with_rows_checked(result: VariantParity, difference: float) -> VariantParity:
    """`result` with the largest difference of any output between the gate's texts run in served runs and each
    alone; a variant whose rows depend on the other rows of their run (more than `ROWS_TOLERANCE`) is not
    published: serving puts the rows of a call in shared runs, so a message would score differently with
    different neighbours than the thresholds were calibrated with."""
    result.rows = {"max_difference_alone": float(difference), "tolerance": ROWS_TOLERANCE}
    if result.shares_runs or not result.published:
        return result
    result.published = False
    result.reason = (
        f"not published: a row's outputs depend on the other rows of its run (they differ by up to "
        f"{difference:.3g} from the row run alone, more than {ROWS_TOLERANCE:g})"
    )
    return result
