"""Per-class thresholds with a statistical precision guarantee, from calibration data unseen in training.

For one class we look at the calibration messages the model *predicted* in that class, with their scores
(the predicted probability) and whether the prediction was right. A threshold `t` auto-answers the ones with
score >= t. We want the lowest `t` whose precision is at least `target` with confidence `1 - delta`.

Method (selective classification with guaranteed risk, Geifman & El-Yaniv 2017): binary search over the
sorted scores; at each step, the one-sided Clopper–Pearson upper bound on the error rate of the messages
above the candidate threshold, at level `delta / ceil(log2 n)`, is compared with `1 - target`. The union
bound over the at most `ceil(log2 n)` tests of the search gives: with probability at least `1 - delta` over
the calibration sample, the chosen threshold's precision on new messages from the same distribution is at
least `target`. docs/router.md explains the assumption (exchangeability) and what it does not cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from router.bounds import error_rate_upper_bound, examples_needed


@dataclass(frozen=True)
class CurvePoint:
    """Precision and coverage of one candidate threshold on the calibration data."""

    threshold: float
    selected: int  # calibration messages predicted in the class with score >= threshold
    correct: int
    coverage: float  # selected / all calibration messages (share of traffic auto-answered)
    class_coverage: float  # selected / messages predicted in the class

    @property
    def precision(self) -> float:
        return self.correct / self.selected


@dataclass(frozen=True)
class ClassThreshold:
    """The outcome for one class: a threshold, or why there is none."""

    class_name: str
    threshold: float | None  # None: the class cannot reach the target, auto-reply stays off
    predicted: int  # calibration messages predicted in this class
    expected_precision: float | None
    expected_coverage: float  # share of all messages auto-answered at the threshold
    curve: list[CurvePoint] = field(default_factory=list)
    examples_needed: int | None = None  # when no threshold: calibration examples that would be needed
    reason: str = ""


def precision_curve(scores: np.ndarray, correct: np.ndarray, total: int) -> list[CurvePoint]:
    """One point per distinct score, from the highest threshold to the lowest (ties are selected together)."""
    order = np.argsort(-scores, kind="stable")
    s, c = scores[order], correct[order].astype(bool)
    cum_correct = np.cumsum(c)
    n = len(s)
    last_of_tie = np.append(s[1:] != s[:-1], True)
    return [
        CurvePoint(float(s[i]), i + 1, int(cum_correct[i]), (i + 1) / total, (i + 1) / n)
        for i in map(int, np.flatnonzero(last_of_tie))
    ]


def _certified(point: CurvePoint, allowed_error: float, level: float) -> bool:
    return error_rate_upper_bound(point.selected - point.correct, point.selected, level) < allowed_error


def class_threshold(
    class_name: str,
    scores: np.ndarray,
    correct: np.ndarray,
    total: int,
    target_precision: float,
    confidence: float,
) -> ClassThreshold:
    """The lowest threshold certified at `target_precision` with `confidence`, by guarded binary search."""
    if not 0.0 < target_precision < 1.0:
        raise ValueError(f"target_precision must be in (0, 1), got {target_precision}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    delta = 1.0 - confidence
    n = len(scores)
    if n == 0:
        return ClassThreshold(
            class_name,
            None,
            0,
            None,
            0.0,
            [],
            examples_needed(0.0, target_precision, delta),
            "no calibration message was predicted in this class",
        )
    curve = precision_curve(np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool), total)
    steps = max(1, math.ceil(math.log2(len(curve) + 1)))
    level = delta / steps
    allowed_error = 1.0 - target_precision
    # Binary search over the curve (highest threshold first): at most `steps` tests, each at delta / steps.
    low, high, best = 0, len(curve) - 1, None
    for _ in range(steps):
        if low > high:
            break
        mid = (low + high) // 2
        if _certified(curve[mid], allowed_error, level):
            best, low = mid, mid + 1
        else:
            high = mid - 1
    if best is None:
        basis = next(p for p in curve if p.selected >= min(n, 20))  # the most confident ~20 predictions
        needed = examples_needed(1.0 - basis.precision, target_precision, level)
        why = (
            f"precision {basis.precision:.3f} on the {basis.selected} most confident prediction(s) cannot "
            f"certify {target_precision:.2f} at confidence {confidence:.2f}"
        )
        return ClassThreshold(class_name, None, n, None, 0.0, curve, needed, why)
    point = curve[best]
    return ClassThreshold(class_name, point.threshold, n, point.precision, point.coverage, curve)
