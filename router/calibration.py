"""Per-class thresholds with a statistical precision guarantee, from calibration data unseen in training.

For one class we look at the calibration messages the model *predicted* in that class, with their scores
(the predicted probability) and whether the prediction was right. A threshold `t` auto-answers the ones with
score >= t. We want the lowest `t` whose precision is at least `target` with confidence `1 - delta`.

Method (Learn-Then-Test with fixed-sequence testing, Angelopoulos et al. 2021, on a split of the class):

1. Split the class's messages at random (seeded) into a *fit* quarter and a *certifying* three quarters.
2. On the fit quarter, pick where to start: the step of a grid fixed in advance (0.999 down to 0.050) whose
   messages give the strongest evidence that precision >= target (smallest exact binomial p-value).
3. On the certifying share, walk the grid down from that start, testing at each step "precision < target"
   with the exact binomial tail at level `delta`; stop at the first step not rejected. The loosest rejected
   step, raised to the strictest rejected step that answers the same certifying messages, is the threshold.

Fixed-sequence testing controls the error at `delta` without a multiplicity penalty, and the start is chosen
without the certifying messages, so: with probability at least `1 - delta` over the calibration sample, the
chosen threshold's precision on new messages from the same distribution is at least `target`
(exchangeable messages). docs/router.md explains why this replaced a binary search with a union bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from router.bounds import examples_needed
from router.fixed_sequence import certify_threshold, strongest_start

CLASS_GRID = tuple(np.round(np.arange(0.999, 0.0495, -0.001), 4))
FIT_SHARE = 0.25


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


def class_threshold(
    class_name: str,
    scores: np.ndarray,
    correct: np.ndarray,
    total: int,
    target_precision: float,
    confidence: float,
    seed: int = 0,
) -> ClassThreshold:
    """The loosest threshold certified at `target_precision` with `confidence` (split fixed-sequence test)."""
    if not 0.0 < target_precision < 1.0:
        raise ValueError(f"target_precision must be in (0, 1), got {target_precision}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    delta = 1.0 - confidence

    def needed(error_rate: float) -> int | None:
        """Messages predicted in the class (fit share included) that would certify at this error rate."""
        certifying = examples_needed(error_rate, target_precision, delta)
        return math.ceil(certifying / (1.0 - FIT_SHARE)) if certifying else None

    n = len(scores)
    if n == 0:
        why = "no calibration message was predicted in this class"
        return ClassThreshold(class_name, None, 0, None, 0.0, [], needed(0.0), why)
    scores = np.asarray(scores, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    curve = precision_curve(scores, correct, total)
    fit = np.zeros(n, dtype=bool)
    fit[np.random.default_rng(seed).permutation(n)[: round(n * FIT_SHARE)]] = True
    start = strongest_start(scores[fit], correct[fit], target_precision, min_selected=1, grid=CLASS_GRID)
    certified = certify_threshold(
        scores[~fit], correct[~fit], target_precision, confidence, start, CLASS_GRID
    )
    if certified.threshold is None:
        basis = next(p for p in curve if p.selected >= min(n, 20))  # the most confident ~20 predictions
        why = (
            f"precision {basis.precision:.3f} on the {basis.selected} most confident prediction(s) cannot "
            f"certify {target_precision:.2f} at confidence {confidence:.2f}"
        )
        return ClassThreshold(class_name, None, n, None, 0.0, curve, needed(1.0 - basis.precision), why)
    threshold = certified.threshold
    above = scores >= threshold
    selected, right = int(above.sum()), int(correct[above].sum())
    return ClassThreshold(class_name, threshold, n, right / selected, selected / total, curve)
