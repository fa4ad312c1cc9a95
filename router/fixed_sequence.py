"""Fixed-sequence testing of precision along a grid of thresholds (Learn-Then-Test, Angelopoulos et al. 2021).

A grid of thresholds, fixed in advance, is walked from strict to loose; at each step the hypothesis "the
precision of the messages at or above this threshold is below the target" is tested with the exact binomial
tail, and the walk stops at the first step it cannot reject at level `1 - confidence`. The loosest rejected
step keeps the promise without a multiplicity penalty, provided the walk's start was chosen without the
certifying messages: `strongest_start` picks it on a separate fit share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router.bounds import binomial_cdf

SCORE_GRID = tuple(np.round(np.arange(0.999, 0.2995, -0.001), 4))


def precision_p_value(correct: int, selected: int, target: float) -> float:
    """P(X >= correct) for X ~ Binomial(selected, target): the p-value of "precision below target"."""
    return 1.0 - binomial_cdf(correct - 1, selected, target) if selected else 1.0


@dataclass(frozen=True)
class CertifiedThreshold:
    """One threshold on a score, certified by fixed-sequence testing (None: not even the first step)."""

    threshold: float | None
    selected: int  # certifying messages at or above the threshold
    correct: int
    size: int  # certifying messages
    steps_tested: int


def certify_threshold(
    scores: np.ndarray,
    correct: np.ndarray,
    target: float,
    confidence: float,
    start: float | None = None,
    grid: Sequence[float] = SCORE_GRID,
) -> CertifiedThreshold:
    """The loosest grid threshold, walking down from `start` (default: the grid's first step), before the
    first one whose precision is not shown to be at least `target` at level `1 - confidence`; raised to the
    strictest tested step that answers the same certifying messages."""
    if not 0.0 < target < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError("target and confidence must be in (0, 1)")
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    start = grid[0] if start is None else start
    chosen, selected, right, steps = None, 0, 0, 0
    for t in (g for g in grid if g <= start):
        steps += 1
        above = scores >= t
        n, k = int(above.sum()), int(correct[above].sum())
        if precision_p_value(k, n, target) > 1.0 - confidence:
            break
        chosen, selected, right = float(t), n, k
    if chosen is not None and selected:
        # Every rejected step is covered by the same promise: take the strictest that answers the same
        # certifying messages, so scores below any seen in calibration are not answered.
        lowest = float(scores[scores >= chosen].min())
        chosen = min(float(start), next(float(g) for g in grid if g <= lowest))
    return CertifiedThreshold(chosen, selected, right, len(scores), steps)


def strongest_start(
    scores: np.ndarray,
    correct: np.ndarray,
    target: float,
    min_selected: int = 30,
    grid: Sequence[float] = SCORE_GRID,
) -> float:
    """The grid step whose messages (at least `min_selected`) give the smallest p-value, the strictest on
    ties: where to start the walk. The grid's first step when none has enough messages."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    best, best_p = grid[0], np.inf
    for t in grid:
        above = scores >= t
        n = int(above.sum())
        if n < min_selected:
            continue
        p = precision_p_value(int(correct[above].sum()), n, target)
        if p < best_p:
            best, best_p = t, p
    return best
