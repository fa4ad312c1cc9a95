"""The statistics behind the thresholds: exact bounds, and the promise kept on simulated traffic."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.bounds import binomial_cdf, error_rate_upper_bound, examples_needed
from router.calibration import class_threshold, precision_curve

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from postroom.taxonomy import Taxonomy


def test_binomial_cdf_matches_the_exact_sum() -> None:
    n, p = 12, 0.3
    exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(4))
    assert binomial_cdf(3, n, p) == pytest.approx(exact, rel=1e-12)
    assert binomial_cdf(-1, n, p) == 0.0 and binomial_cdf(12, n, p) == 1.0


def test_zero_error_bound_has_the_closed_form() -> None:
    # P(no error in n | rate p) = (1-p)^n = delta  =>  p = 1 - delta^(1/n)
    for n in (5, 45, 300):
        assert error_rate_upper_bound(0, n, 0.1) == pytest.approx(1 - 0.1 ** (1 / n), abs=1e-9)
    assert error_rate_upper_bound(0, 0, 0.1) == 1.0


def test_examples_needed_for_a_perfect_class() -> None:
    assert examples_needed(0.0, 0.95, 0.1) == 45  # the smallest: 0.95^45 <= 0.1 < 0.95^44
    assert examples_needed(0.0, 0.99, 0.05) == 299  # 0.99^299 <= 0.05 < 0.99^298
    assert examples_needed(0.10, 0.95, 0.1) is None


def test_curve_groups_ties_and_orders_from_the_top() -> None:
    curve = precision_curve(np.array([0.9, 0.5, 0.9, 0.7]), np.array([1, 0, 1, 1]), total=10)
    assert [(p.threshold, p.selected, p.correct) for p in curve] == [(0.9, 2, 2), (0.7, 3, 3), (0.5, 4, 3)]
    assert curve[-1].coverage == pytest.approx(0.4) and curve[-1].class_coverage == 1.0


def test_perfect_class_with_enough_data_gets_the_lowest_threshold() -> None:
    scores = np.linspace(0.5, 1.0, 200)
    result = class_threshold(
        "a", scores, np.ones(200, bool), total=1000, target_precision=0.95, confidence=0.9
    )
    # Every message is answered, and the threshold is not below the lowest score calibration has seen.
    assert 0.49 <= result.threshold <= 0.503 and result.expected_precision == 1.0
    assert result.expected_coverage == pytest.approx(0.2, abs=0.002)


def test_too_few_examples_disable_the_class_and_say_how_many_are_needed() -> None:
    result = class_threshold(
        "a", np.array([0.99] * 8), np.ones(8, bool), total=100, target_precision=0.95, confidence=0.9
    )
    assert result.threshold is None and result.examples_needed == 60  # 45 certifying are three quarters
    assert "cannot certify 0.95" in result.reason


def test_no_prediction_in_the_class() -> None:
    result = class_threshold("a", np.array([]), np.array([], bool), 50, 0.95, 0.9)
    assert result.threshold is None and result.predicted == 0 and result.examples_needed


@pytest.mark.parametrize("bad", [(0.0, 0.9), (1.0, 0.9), (0.95, 1.0)])
def test_invalid_targets_are_refused(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        class_threshold("a", np.array([0.9]), np.array([True]), 1, *bad)


def test_the_guarantee_holds_on_simulated_traffic() -> None:
    """Calibrated scores (P(correct | s) = s): true precision at the threshold >= target in 90 % of runs."""
    rng = np.random.default_rng(7)
    target, confidence, runs, failures, chosen = 0.85, 0.9, 200, 0, 0

    def true_precision(t: float) -> float:  # scores uniform on [0.5, 1]: mean of s over [t, 1]
        return (1 + t) / 2

    for _ in range(runs):
        scores = rng.uniform(0.5, 1.0, 2000)
        correct = rng.uniform(size=2000) < scores
        result = class_threshold("a", scores, correct, 2000, target, confidence)
        if result.threshold is not None:
            chosen += 1
            failures += true_precision(result.threshold) < target
            assert result.threshold < 0.85  # not needlessly strict: t = 0.7 is the exact answer
    assert chosen == runs  # the target is reachable with this much data
    assert failures / runs <= 1 - confidence


def test_a_class_with_about_a_hundred_predictions_can_be_certified() -> None:
    """70 error-free confident predictions and 30 doubtful ones: the confident ones are certified.

    (The union-bounded binary search this replaced needed some 85 error-free predictions above the threshold.)
    """
    scores = np.r_[np.linspace(0.80, 0.99, 70), np.linspace(0.20, 0.60, 30)]
    correct = np.r_[np.ones(70, bool), np.arange(30) % 2 == 0]
    result = class_threshold("a", scores, correct, 1000, 0.95, 0.9)
    assert result.threshold is not None and 0.6 < result.threshold <= 0.8
    assert result.expected_precision == 1.0 and result.expected_coverage == pytest.approx(0.07)


def test_the_split_is_seeded() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.5, 1.0, 2000)
    correct = rng.uniform(size=2000) < scores
    runs = [class_threshold("a", scores, correct, 2000, 0.85, 0.9, seed=s).threshold for s in (0, 0, 1, 2)]
    assert runs[0] == runs[1]
    assert all(t is not None for t in runs)


def test_calibration_counts_a_message_no_threshold_would_answer_as_never_answered(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """The promise is about the replies actually sent: a templated topic predicted for a business client
    (vetoed), or in a language without its template, or without a language, is never answered, so it must
    not count as a certifying answer; a retail client's in English is."""
    from postroom.ingest.records import IncomingMessage
    from postroom.ingest.service import ingest_one
    from postroom.store.models import Prediction
    from router.calibration_data import NEVER_ANSWERED, load_calibration

    cases = {  # message ID -> (line of business, language as stored)
        "retail-en": ("retail", "en"),
        "business-en": ("business", "en"),
        "retail-fi": ("retail", "fi"),
        "retail-none": ("retail", None),
    }
    with sessions() as session:
        for message_id, (lob, language) in cases.items():
            message = ingest_one(
                session,
                IncomingMessage(message_id, "Please send me my statement.", "text", "t",
                                labels={"topic": "account_statement", "line_of_business": lob}),
            ).message
            message.language = language
            session.flush()
            results = {
                "topic": {"class": "account_statement", "probability": 0.99},
                "line_of_business": {"class": lob, "probability": 0.9},
            }
            session.add(Prediction(message_pk=message.id, model_version="v1", variant="onnx-int8",
                                   purpose="calibration", results=results))
        session.commit()
        calibration = load_calibration(session, taxonomy, "v1")
    topic = calibration["topic"]
    assert sorted(topic.predicted) == sorted(["account_statement", *[NEVER_ANSWERED] * 3])
    assert list(calibration["line_of_business"].predicted).count("business") == 1  # other sets as predicted
    assert len(topic.truth) == 4  # still calibration messages: the share answered counts them


def test_the_monitors_evidence_is_a_martingale_at_the_allowed_error_rate() -> None:
    """What keeps the feedback monitor's false suspensions at alpha although it asks after every reply: at
    the allowed error rate the evidence's expected next value is its value now (below it, smaller), so by
    Ville's inequality it ever reaches 1/alpha with probability at most alpha. Checked exactly, and the
    closed form against a numerical integral."""
    from router.bounds import excess_error_evidence as evidence

    allowed = 0.05
    for n in range(0, 60, 7):
        for errors in range(0, n + 1, 3):
            now = evidence(errors, n, allowed)
            for rate in (allowed, 0.02):
                wrong, right = evidence(errors + 1, n + 1, allowed), evidence(errors, n + 1, allowed)
                ahead = rate * wrong + (1 - rate) * right
                assert ahead <= now * (1 + 1e-9) and (rate < allowed or ahead == pytest.approx(now, rel=1e-9))
    grid = np.linspace(allowed, 1.0, 200_001)
    for errors, n in ((2, 2), (5, 15), (10, 40)):
        ratio = (grid / allowed) ** errors * ((1 - grid) / (1 - allowed)) ** (n - errors)
        integral = float(np.sum((ratio[1:] + ratio[:-1]) / 2 * np.diff(grid))) / (1 - allowed)
        assert evidence(errors, n, allowed) == pytest.approx(integral, rel=1e-4)
    assert evidence(1, 1, allowed) < 20 <= evidence(2, 2, allowed)  # one wrong of one is no evidence
