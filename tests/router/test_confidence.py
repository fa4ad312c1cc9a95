"""Learned confidence: features, the fitted score, and one threshold certified on unseen messages."""

from __future__ import annotations

import numpy as np
import pytest

from router.confidence import (
    FEATURES,
    ConfidenceModel,
    LabeledReference,
    Signals,
    class_prior,
    feature_matrix,
    fit_confidence,
    normalised,
    suggest_learned,
)
from router.fixed_sequence import SCORE_GRID, certify_threshold

K, D = 6, 16


_SHAPE = np.random.default_rng(12345)
PROTOTYPES = normalised(_SHAPE.normal(size=(K, D)))
_EXAMPLES = np.repeat(np.arange(K), 8)
REFERENCE = LabeledReference.build(
    normalised(PROTOTYPES[_EXAMPLES] + 0.1 * _SHAPE.normal(size=(len(_EXAMPLES), D))), _EXAMPLES, K
)


def world(rng: np.random.Generator, n: int) -> tuple[Signals, np.ndarray, LabeledReference]:
    """Messages scattered around their class prototype, some far; the head's probability is blind to how
    far (flat noise), so only the similarity features tell right predictions from wrong ones."""
    truth = rng.integers(0, K, n)
    spread = rng.uniform(0.1, 1.5, (n, 1))
    embeddings = normalised(PROTOTYPES[truth] + spread * rng.normal(size=(n, D)) / np.sqrt(D) * 2)
    predicted = (embeddings @ PROTOTYPES.T).argmax(axis=1)
    proba = np.full((n, K), 0.02)
    proba[np.arange(n), predicted] = rng.uniform(0.5, 0.9, n)
    proba /= proba.sum(axis=1, keepdims=True)
    return Signals(proba, embeddings), truth, REFERENCE


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(score)) + 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_features_have_one_column_each_and_a_missing_second_head_is_constant() -> None:
    signals, truth, reference = world(np.random.default_rng(0), 200)
    prior = class_prior(signals.predicted, signals.predicted == truth, K)
    x = feature_matrix(signals, reference, prior)
    assert x.shape == (200, len(FEATURES))
    assert np.all(x[:, FEATURES.index("second_agrees")] == 1.0)
    assert np.allclose(x[:, FEATURES.index("second_probability")], signals.proba.max(axis=1))
    disagreeing = np.roll(signals.proba, 1, axis=1)  # a second head that always predicts another class
    x2 = feature_matrix(Signals(signals.proba, signals.embeddings, disagreeing), reference, prior)
    assert np.all(x2[:, FEATURES.index("second_agrees")] == 0.0)


def test_class_prior_is_shrunk_towards_the_overall_share() -> None:
    predicted = np.array([0] * 10 + [1] * 2)
    correct = np.array([True] * 10 + [False] * 2)
    prior = class_prior(predicted, correct, 3)
    overall = 10 / 12
    assert prior[0] == pytest.approx((10 + 10 * overall) / 20)
    assert prior[1] == pytest.approx((0 + 10 * overall) / 12)
    assert prior[2] == pytest.approx(overall)  # never predicted: the overall share


def test_the_learned_score_ranks_by_what_the_probability_misses() -> None:
    rng = np.random.default_rng(1)
    signals, truth, reference = world(rng, 3000)
    correct = signals.predicted == truth
    assert 0.6 < correct.mean() < 0.97
    model = fit_confidence(signals, correct, reference)
    fresh, fresh_truth, _ = world(np.random.default_rng(7), 3000)
    right = fresh.predicted == fresh_truth
    assert auc(model.score(fresh, reference), right) > auc(fresh.proba.max(axis=1), right) + 0.15


def test_fitting_needs_right_and_wrong_predictions() -> None:
    signals, _, reference = world(np.random.default_rng(2), 50)
    with pytest.raises(ValueError, match="both right and wrong"):
        fit_confidence(signals, np.ones(50, dtype=bool), reference)


def test_certify_walks_down_until_the_first_failure() -> None:
    scores = np.concatenate([np.full(400, 0.995), np.full(400, 0.9), np.full(400, 0.5)])
    correct = np.concatenate([np.ones(400), np.r_[np.ones(392), np.zeros(8)], np.zeros(400)]).astype(bool)
    # From the top of the grid the first step has no message: nothing is certified (why the walk starts
    # where the fit share shows evidence).
    assert certify_threshold(scores, correct, 0.95, 0.9).threshold is None
    certified = certify_threshold(scores, correct, 0.95, 0.9, start=0.995)
    # 0.995 and 0.9 are certified (800 messages, 8 wrong); at 0.5 precision falls to 66 %: stop there.
    # The loosest step before the failure is 0.501; no certifying score lies between it and 0.9, so the
    # threshold is raised to 0.9: the same messages answered, nothing below what calibration has seen.
    assert certified.threshold == pytest.approx(0.9)
    assert certified.selected == 800 and certified.correct == 792 and certified.size == 1200
    assert certified.steps_tested == len([g for g in SCORE_GRID if 0.5 <= g <= 0.995])


def test_too_few_messages_certify_nothing_and_bad_targets_are_refused() -> None:
    certified = certify_threshold(np.full(20, 0.999), np.ones(20, dtype=bool), 0.95, 0.9)
    assert certified.threshold is None and certified.selected == 0  # 20 right of 20 cannot show 0.95
    with pytest.raises(ValueError, match="must be in"):
        certify_threshold(np.ones(3), np.ones(3, dtype=bool), 1.0, 0.9)
    signals, truth, reference = world(np.random.default_rng(0), 100)
    with pytest.raises(ValueError, match="fit_share"):
        suggest_learned(signals, truth, reference, 0.95, 0.9, fit_share=1.0)


def test_the_promise_holds_over_calibration_samples() -> None:
    """P(precision of the automated replies on new messages < target) <= 1 - confidence."""
    target, runs, failures, coverages = 0.9, 100, 0, []
    fresh, fresh_truth, reference = world(np.random.default_rng(99), 50_000)
    fresh_right = fresh.predicted == fresh_truth
    for seed in range(runs):
        signals, truth, _ = world(np.random.default_rng(1000 + seed), 2000)
        suggestion = suggest_learned(signals, truth, reference, target, 0.9, seed=seed)
        threshold = suggestion.certified.threshold
        assert threshold is not None and threshold in SCORE_GRID
        auto = suggestion.model.score(fresh, reference) >= threshold
        failures += fresh_right[auto].mean() < target
        coverages.append(auto.mean())
    # With 100 runs, 0.19 is the 99.9 % binomial upper quantile of a 0.1 failure rate.
    assert failures / runs <= 0.19
    assert np.mean(coverages) > 0.3


def test_the_model_round_trips_through_json_and_malformed_ones_are_refused() -> None:
    signals, truth, reference = world(np.random.default_rng(4), 1500)
    model = fit_confidence(signals, signals.predicted == truth, reference)
    names = [f"c{i}" for i in range(K)]
    again = ConfidenceModel.from_dict(model.to_dict(names), names)
    assert np.allclose(again.score(signals, reference), model.score(signals, reference))
    renamed = ConfidenceModel.from_dict(model.to_dict(names), [*names[:-1], "new_class"])
    assert renamed.class_prior[-1] == pytest.approx(np.mean(model.class_prior))  # unknown class: the mean
    for broken, message in (
        ({**model.to_dict(names), "features": ["probability"]}, "other features"),
        ({**model.to_dict(names), "weights": [1.0, 2.0]}, "must hold"),
        ({**model.to_dict(names), "scale": [0.0] * len(FEATURES)}, "scale > 0"),
    ):
        with pytest.raises(ValueError, match=message):
            ConfidenceModel.from_dict(broken, names)
