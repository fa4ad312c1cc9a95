"""Per-class thresholds with a guarantee on the precision of all automated replies together.

Certifying 0.95 for every class separately needs, per class, some 60 confident calibration predictions of
that class without an error (see docs/router.md); few-shot teams rarely have that for most classes. This
mode pools the evidence across classes and promises: with probability at least `confidence` over the
calibration sample, the precision of the automated replies, all classes together, is at least `target`.

Method (Learn-Then-Test with fixed-sequence testing, Angelopoulos et al. 2021, on a split):

1. Split the calibration messages at random into a *fit* half and a *test* half.
2. On the fit half, build a one-parameter family of per-class thresholds: for a strictness `g`, class `c`'s
   threshold is the lowest score at which its precision estimate reaches `g`. The estimate shrinks the
   class's own counts towards the precision of all classes at that score (empirical Bayes, `prior_strength`
   pseudo-messages): classes with little data borrow strength, well-separated classes get low thresholds.
3. On the test half, walk `g` from strict to loose along a grid fixed in advance, testing at each step the
   hypothesis "the pooled precision of automated replies is below `target`" with the exact binomial tail;
   stop at the first step that is not rejected at level `1 - confidence`. The loosest rejected step is chosen.
   The walk starts at the step where the *fit* half's own automated replies (at least `min_start` of them)
   give the strongest evidence (the smallest p-value of the same test; the strictest on ties): stricter
   steps have few messages, and one too small to certify even without an error (at 0.95 and 90 %
   confidence that takes 45) would end the walk at once.

Fixed-sequence testing controls the family-wise error at `1 - confidence` without a multiplicity penalty,
and the family is independent of the test half, so the promise holds (given exchangeable messages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from router.fixed_sequence import precision_p_value

STRICTNESS_GRID = tuple(np.round(np.arange(0.999, 0.7999, -0.0025), 4))


@dataclass
class PooledSuggestion:
    target_precision: float
    confidence: float
    strictness: float | None  # the chosen g; None: not even the strictest step could be certified
    thresholds: dict[str, float | None]
    fit_size: int
    test_size: int
    test_auto: int  # test-half messages answered automatically at the chosen step
    test_correct: int
    steps_tested: int
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)  # test-half counts per class

    @property
    def expected_coverage(self) -> float:
        return self.test_auto / self.test_size if self.test_size else 0.0

    @property
    def expected_precision(self) -> float | None:
        return self.test_correct / self.test_auto if self.test_auto else None


def _family(
    predicted: np.ndarray, scores: np.ndarray, correct: np.ndarray, n_classes: int, prior_strength: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per class: candidate thresholds (descending) and the shrunken precision estimate at each."""
    order = np.argsort(-scores, kind="stable")
    s_sorted, c_sorted = scores[order], correct[order]
    pooled_cum = np.cumsum(c_sorted) / np.arange(1, len(order) + 1)

    def pooled_at(t: np.ndarray) -> np.ndarray:  # pooled precision of all messages with score >= t
        idx = np.searchsorted(-s_sorted, -t, side="right") - 1
        return pooled_cum[np.clip(idx, 0, len(order) - 1)]

    family = []
    for c in range(n_classes):
        mask = predicted == c
        s = np.sort(scores[mask])[::-1]
        k = np.cumsum(correct[mask][np.argsort(-scores[mask], kind="stable")])
        n = np.arange(1, len(s) + 1)
        prior = pooled_at(s) if len(s) else np.zeros(0)
        estimate = (k + prior_strength * prior) / (n + prior_strength)
        family.append((s, estimate))
    return family


def _thresholds_at(family: list[tuple[np.ndarray, np.ndarray]], g: float) -> np.ndarray:
    """Per class, the lowest candidate threshold whose estimate reaches `g` (NaN: none)."""
    out = np.full(len(family), np.nan)
    for c, (s, estimate) in enumerate(family):
        ok = np.flatnonzero(estimate >= g)
        if len(ok):
            out[c] = s[ok[-1]]
    return out


def _auto(thresholds: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> np.ndarray:
    limit = thresholds[predicted]
    return ~np.isnan(limit) & (scores >= np.nan_to_num(limit, nan=np.inf))


def suggest_pooled(
    class_names: Sequence[str],
    predicted: Sequence[str],
    scores: np.ndarray,
    truth: Sequence[str],
    target_precision: float,
    confidence: float,
    seed: int = 0,
    prior_strength: float = 20.0,
    min_start: int = 30,
) -> PooledSuggestion:
    """Per-class thresholds whose automated replies, pooled, keep `target_precision` with `confidence`."""
    if not 0.0 < target_precision < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError("target_precision and confidence must be in (0, 1)")
    index = {c: i for i, c in enumerate(class_names)}
    pred = np.array([index.get(p, -1) for p in predicted])
    known = pred >= 0
    pred, score = pred[known], np.asarray(scores, dtype=float)[known]
    correct = np.asarray([p == t for p, t in zip(predicted, truth, strict=True)])[known]
    rng = np.random.default_rng(seed)
    is_fit = rng.permutation(len(pred)) < len(pred) // 2
    family = _family(pred[is_fit], score[is_fit], correct[is_fit], len(class_names), prior_strength)
    test_pred, test_score, test_correct = pred[~is_fit], score[~is_fit], correct[~is_fit]
    delta = 1.0 - confidence
    chosen: tuple[float, np.ndarray, np.ndarray] | None = None
    steps = 0
    # Start where the fit half's own automated replies are the strongest evidence: a step with too few
    # messages cannot be certified even without an error and would end the sequence at once. Chosen on the
    # fit half only, so the promise still holds.
    fit_pred, fit_score, fit_correct = pred[is_fit], score[is_fit], correct[is_fit]

    def fit_p_value(g: float) -> float:
        auto = _auto(_thresholds_at(family, g), fit_pred, fit_score)
        n, k = int(auto.sum()), int(fit_correct[auto].sum())
        return precision_p_value(k, n, target_precision) if n >= min_start else np.inf

    p_values = [fit_p_value(float(g)) for g in STRICTNESS_GRID]
    start = int(np.argmin(p_values)) if np.isfinite(min(p_values)) else len(STRICTNESS_GRID)
    for g in STRICTNESS_GRID[start:]:
        steps += 1
        thresholds = _thresholds_at(family, float(g))
        auto = _auto(thresholds, test_pred, test_score)
        n, k = int(auto.sum()), int(test_correct[auto].sum())
        if precision_p_value(k, n, target_precision) > delta:
            break
        chosen = (float(g), thresholds, auto)
    suggestion = PooledSuggestion(
        target_precision,
        confidence,
        None,
        dict.fromkeys(class_names),
        int(is_fit.sum()),
        int((~is_fit).sum()),
        0,
        0,
        steps,
    )
    if chosen is None:
        return suggestion
    g, thresholds, auto = chosen
    suggestion.strictness = g
    suggestion.thresholds = {
        c: (None if np.isnan(t) else float(t)) for c, t in zip(class_names, thresholds, strict=True)
    }
    suggestion.test_auto, suggestion.test_correct = int(auto.sum()), int(test_correct[auto].sum())
    for i, name in enumerate(class_names):
        mask = auto & (test_pred == i)
        suggestion.per_class[name] = {"auto": int(mask.sum()), "correct": int(test_correct[mask].sum())}
    return suggestion
