"""Head probability columns follow the taxonomy's class order; metrics and plots of the evaluation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from training.config import TrainConfig
from training.evaluate import calibration_bins, evaluate_label_set
from training.heads import aligned_proba, fit_head, head_arrays, head_jobs
from training.registry import head_probabilities


def _points(labels: list[int]) -> np.ndarray:
    centers = {0: [5.0, 0.0], 1: [0.0, 5.0], 2: [-5.0, -5.0], 3: [5.0, 5.0]}
    rng = np.random.default_rng(0)
    return np.asarray([centers[y] for y in labels]) + rng.normal(scale=0.3, size=(len(labels), 2))


def test_aligned_proba_reorders_columns_to_class_indices() -> None:
    labels = [3, 3, 1, 1, 3, 1]  # the head sees classes 1 and 3 only, first 3 then 1
    head = fit_head(_points(labels), labels, TrainConfig())
    assert list(head.classes_) == [1, 3]  # sklearn sorts: raw predict_proba columns are (1, 3)
    proba = aligned_proba(head, _points([1, 3]), n_classes=4)
    assert proba.shape == (2, 4)
    assert np.all(proba[:, [0, 2]] == 0.0)
    assert proba[0].argmax() == 1 and proba[1].argmax() == 3


def test_setfit_predict_proba_follows_sorted_classes_not_the_given_label_order() -> None:
    """The trap: SetFitModel(labels=[...]) does not reorder predict_proba columns."""
    from setfit import SetFitModel
    from sklearn.linear_model import LogisticRegression

    class _Body:
        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            return _points([0 if t.startswith("z") else 1 for t in texts])

    model = SetFitModel(model_body=_Body(), model_head=LogisticRegression(), labels=["zeta", "alpha"])  # type: ignore[arg-type]
    model.model_head.fit(_points([0, 0, 1, 1]), ["zeta", "zeta", "alpha", "alpha"])
    proba = model.predict_proba(["z text"], as_numpy=True)
    assert list(model.model_head.classes_) == ["alpha", "zeta"]
    assert proba[0].argmax() == 1  # column 1 is "zeta", although labels[0] == "zeta"


def test_head_arrays_reproduce_predict_proba() -> None:
    labels = [0, 1, 2] * 5
    head = fit_head(_points(labels), labels, TrainConfig())
    arrays = head_arrays(head, ["a", "b", "c"])
    x = _points([2, 0, 1]).astype(np.float32)
    assert arrays["classes"] == ["a", "b", "c"] and not arrays["binary"]
    assert np.allclose(
        head_probabilities(x, arrays["coef"], arrays["intercept"]), head.predict_proba(x), atol=1e-5
    )


def _noisy(labels: list[int], seed: int) -> np.ndarray:
    """Overlapping classes: a head cannot be sure, and a strongly regularized one is far too unsure."""
    centers = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    return centers[labels] + np.random.default_rng(seed).normal(scale=0.6, size=(len(labels), 2))


@pytest.mark.parametrize("n_classes", [3, 2])
def test_the_temperature_calibrates_an_underconfident_head(n_classes: int) -> None:
    from sklearn.metrics import log_loss

    labels = [i % n_classes for i in range(60)]
    held = [i % n_classes for i in range(300)]
    x, x_held = _noisy(labels, seed=0), _noisy(held, seed=1)
    config = TrainConfig(head_c=0.05)  # under-confident on purpose
    plain = fit_head(x, labels, replace(config, calibrate_head=False))
    calibrated = fit_head(x, labels, config)
    assert plain.temperature_ == 1.0 and calibrated.temperature_ < 0.5
    assert (calibrated.predict(x_held) == plain.predict(x_held)).all()  # the class never changes
    assert log_loss(held, calibrated.predict_proba(x_held)) < log_loss(held, plain.predict_proba(x_held))
    arrays = head_arrays(calibrated, ["a", "b", "c"][:n_classes])  # what export and serving compute
    assert arrays["binary"] == (n_classes == 2)
    from_arrays = head_probabilities(x_held.astype(np.float32), arrays["coef"], arrays["intercept"])
    assert np.allclose(from_arrays, calibrated.predict_proba(x_held), atol=1e-5)


def test_no_temperature_without_two_examples_of_every_class() -> None:
    labels = [0, 1, 2, 0, 1]  # class 2 once: no two folds
    class_texts = [2]  # a class text is never held out, so it does not count
    x = _noisy([*labels, *class_texts], seed=0)
    head = fit_head(x, [*labels, *class_texts], TrainConfig(), extra_rows=1)
    assert head.temperature_ == 1.0 and list(head.classes_) == [0, 1, 2]


def test_calibration_of_a_perfectly_confident_right_model_is_zero() -> None:
    proba = np.eye(3)[[0, 1, 2, 0]]
    result = calibration_bins(proba, np.array([0, 1, 2, 0]))
    assert result["ece"] == 0.0
    assert result["bins"][-1]["count"] == 4
    # the other bins are empty: no accuracy or confidence, written as null (strict JSON has no NaN)
    assert all(b["accuracy"] is None and b["confidence"] is None for b in result["bins"][:-1])
    json.dumps(result, allow_nan=False)


def test_evaluate_writes_report_and_plots(tmp_path: Path) -> None:
    y_true = [0, 0, 1, 1, 2, 2]
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]]
    )
    metrics = evaluate_label_set("topic", ["a", "b", "c"], y_true, proba, tmp_path)
    assert metrics["accuracy"] == 4 / 6
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics["per_class"]["b"]["recall"] == 1.0
    assert 0.0 < metrics["ece"] < 1.0
    for name in metrics["plots"].values():
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_head_is_the_same_whether_its_fits_run_side_by_side_or_one_after_the_other() -> None:
    labels = [0, 1, 2] * 8
    x = _noisy(labels, seed=3)
    alone = fit_head(x, labels, replace(TrainConfig(), head_jobs=1))
    side_by_side = fit_head(x, labels, replace(TrainConfig(), head_jobs=3))  # real worker processes
    assert alone.temperature_ != 1.0  # calibrated: five fold fits ran beside the full one
    assert np.array_equal(alone.coef_, side_by_side.coef_)
    assert np.array_equal(alone.intercept_, side_by_side.intercept_)
    assert alone.temperature_ == side_by_side.temperature_


def test_head_jobs_default_to_the_cores_and_never_exceed_the_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    import postroom.machine

    monkeypatch.setattr(postroom.machine, "usable_cores", lambda: 16)
    assert head_jobs(TrainConfig(), fits=6) == 6
    assert head_jobs(TrainConfig(), fits=1) == 1
    assert head_jobs(replace(TrainConfig(), head_jobs=2), fits=6) == 2
    monkeypatch.setattr(postroom.machine, "usable_cores", lambda: 1)
    assert head_jobs(TrainConfig(), fits=6) == 1


def test_fits_run_one_after_the_other_where_worker_processes_cannot_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import joblib

    labels = [0, 1, 2] * 8
    x = _noisy(labels, seed=3)
    expected = fit_head(x, labels, replace(TrainConfig(), head_jobs=1))

    class _NoProcesses:
        def __init__(self, *_: object, **__: object) -> None:
            raise OSError("[Errno 38] Function not implemented: no semaphores here")

    monkeypatch.setattr(joblib, "Parallel", _NoProcesses)
    with caplog.at_level("WARNING", logger="training.heads"):
        head = fit_head(x, labels, replace(TrainConfig(), head_jobs=3))
    assert np.array_equal(head.coef_, expected.coef_) and head.temperature_ == expected.temperature_
    assert "head fits in 3 processes failed ([Errno 38]" in caplog.text and "one by one" in caplog.text
