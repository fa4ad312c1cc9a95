"""Pooled guarantee: per-class thresholds whose automated replies, all together, keep the target precision."""

from __future__ import annotations

import numpy as np
import pytest

from router.pooled import suggest_pooled

CLASSES = [f"c{i}" for i in range(20)]


def traffic(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Calibrated scores: P(correct | score) = score; classes differ in how confident the model is."""
    cls = rng.integers(0, len(CLASSES), n)
    ease = np.linspace(0.0, 0.4, len(CLASSES))[cls]
    scores = np.clip(rng.uniform(0.4, 1.0, n) + ease * rng.uniform(0, 1, n), 0, 0.999)
    correct = rng.uniform(size=n) < scores
    predicted = [CLASSES[c] for c in cls]
    truth = [p if ok else "other" for p, ok in zip(predicted, correct, strict=True)]
    return predicted, scores, truth


def pooled_precision(
    thresholds: dict[str, float | None], predicted: list[str], scores: np.ndarray, truth: list[str]
) -> tuple[float, float]:
    limits = np.array([np.nan if thresholds[p] is None else thresholds[p] for p in predicted])
    auto = ~np.isnan(limits) & (scores >= np.nan_to_num(limits, nan=np.inf))
    right = np.array([p == t for p, t in zip(predicted, truth, strict=True)])
    return float(right[auto].mean()), float(auto.mean())


def test_pooled_guarantee_holds_and_thresholds_differ_per_class() -> None:
    rng = np.random.default_rng(3)
    runs, failures, coverages = 200, 0, []
    fresh = traffic(rng, 100_000)
    for seed in range(runs):
        suggestion = suggest_pooled(
            CLASSES, *traffic(rng, 3000), target_precision=0.9, confidence=0.9, seed=seed
        )
        assert suggestion.strictness is not None
        precision, coverage = pooled_precision(suggestion.thresholds, *fresh)
        failures += precision < 0.9
        coverages.append(coverage)
    # The promise: P(precision < target) <= 0.1. With 200 runs, 0.16 is its 99.9 % binomial upper quantile.
    assert failures / runs <= 0.16
    assert np.mean(coverages) > 0.4
    values = [v for v in suggestion.thresholds.values() if v is not None]
    assert max(values) - min(values) > 0.1  # easy classes get lower thresholds than hard ones


def test_too_little_calibration_data_certifies_nothing() -> None:
    rng = np.random.default_rng(0)
    suggestion = suggest_pooled(CLASSES, *traffic(rng, 40), target_precision=0.95, confidence=0.9)
    assert suggestion.strictness is None and all(v is None for v in suggestion.thresholds.values())
    assert suggestion.expected_precision is None and suggestion.expected_coverage == 0.0


def test_invalid_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="must be in"):
        suggest_pooled(CLASSES, ["c0"], np.array([0.9]), ["c0"], target_precision=1.0, confidence=0.9)


def test_a_small_perfect_top_group_does_not_end_the_walk() -> None:
    """A self-trained head is very sure of a few dozen messages: 70 at the top, all right, then the usual mix.
    Starting the walk there (about 35 per half, too few to certify even without an error) certified nothing;
    the walk must start where the fit half itself has enough evidence."""
    rng = np.random.default_rng(3)
    n = 1500
    scores = np.concatenate([np.full(70, 0.9999), [0.995], np.sort(rng.uniform(0.5, 0.99, n))[::-1]])
    right = np.concatenate([np.ones(70, bool), [False], rng.random(n) < np.linspace(0.99, 0.85, n)])
    truth = ["a" if r else "b" for r in right]
    suggestion = suggest_pooled(["a", "b"], ["a"] * len(scores), scores, truth, 0.95, 0.9)
    assert suggestion.strictness is not None
    assert suggestion.expected_coverage > 0.1 and suggestion.expected_precision >= 0.95
