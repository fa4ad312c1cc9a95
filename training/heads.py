"""The classification head: logistic regression on the body's embeddings (setfit's sklearn head), with its
probabilities calibrated by one temperature.

A logistic regression with C=10 fitted on 8 examples per class is badly under-confident (measured on
BANKING77: expected calibration error 0.25), and its confidence ranks messages worse than it could, which
is what per-class thresholds work with. `fit_head` therefore fits a temperature T on out-of-fold logits of
the labeled examples (stratified k-fold, class texts always in the training folds, T minimising the
negative log-likelihood) and folds it into the head: coef and intercept are divided by T, so
`predict_proba`, the saved arrays, the ONNX export and serving all give the calibrated probabilities, and
the predicted class (the argmax) does not change.

Its `predict_proba` columns follow the head's sorted `classes_`, not the class order of the taxonomy; every
probability matrix this package hands out is re-ordered to the taxonomy's class order (`aligned_proba`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from training.config import TrainConfig

log = logging.getLogger(__name__)
MAX_FOLDS = 5
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _logistic_regression(config: TrainConfig) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=config.head_c, max_iter=config.head_max_iter, random_state=config.seed)


def _fit_one(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> Any:
    """One fit on one thread: OpenBLAS's threads slow these shapes down (measured: a BANKING77 head took
    28 s with two BLAS threads, 12 s with one), so the cores go to fits side by side instead."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _logistic_regression(config).fit(x, y)


def head_jobs(config: TrainConfig, fits: int) -> int:
    """Processes that fit a head's regressions side by side: `config.head_jobs`, or every usable core,
    never more than there are fits."""
    from postroom.machine import usable_cores

    wanted = config.head_jobs or usable_cores()
    return max(1, min(wanted, fits))


def fit_all(jobs: list[tuple[np.ndarray, np.ndarray]], config: TrainConfig) -> list[Any]:
    """Fit one logistic regression per (x, y), in order, several side by side in worker processes
    (joblib's loky). Every fit runs on one thread wherever it runs, so the coefficients are the same
    whatever the number of processes. Where worker processes cannot run (no process may be started, a
    worker is killed), the fits run one after the other here instead, and the log says why."""
    n_jobs = head_jobs(config, len(jobs))
    if n_jobs > 1:
        from joblib import Parallel, delayed
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        try:
            return list(
                Parallel(n_jobs=n_jobs, backend="loky")(delayed(_fit_one)(x, y, config) for x, y in jobs)
            )
        except (OSError, TerminatedWorkerError) as exc:
            log.warning("head fits in %d processes failed (%s); fitting them one by one", n_jobs, exc)
    return [_fit_one(x, y, config) for x, y in jobs]


def fit_head(embeddings: np.ndarray, labels: list[int], config: TrainConfig, extra_rows: int = 0) -> Any:
    """A multinomial logistic regression fitted on `embeddings` with integer `labels`, its probabilities
    calibrated by a cross-validated temperature when `config.calibrate_head` (attribute `temperature_`).

    The last `extra_rows` rows (class texts, pseudo-labels) are always trained on and never used to fit
    the temperature: it is fitted on the labeled examples alone. The fit and the cross-validation fits are
    independent and run side by side (`fit_all`).
    """
    y = np.asarray(labels, dtype=int)
    n = len(y) - extra_rows
    x, x_always, y_always = embeddings[:n], embeddings[n:], y[n:]
    folds = temperature_folds(y[:n], config) if config.calibrate_head else []
    jobs = [(embeddings, y)] + [
        (np.vstack([x[train], x_always]), np.concatenate([y[train], y_always])) for train, _ in folds
    ]
    head, *fold_models = fit_all(jobs, config)
    head.temperature_ = 1.0
    if folds:
        temperature = cv_temperature(x, y[:n], folds, fold_models)
        head.coef_ = head.coef_ / temperature
        head.intercept_ = head.intercept_ / temperature
        head.temperature_ = temperature
    return head


def temperature_folds(y: np.ndarray, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (train, held-out) rows of the labeled examples for the temperature; none when too few for
    two folds (a class with a single example) or only one class."""
    from sklearn.model_selection import StratifiedKFold

    classes, counts = np.unique(y, return_counts=True)
    n_folds = min(MAX_FOLDS, int(counts.min()) if len(counts) else 0)
    if n_folds < 2 or len(classes) < 2:
        return []
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=config.seed)
    return list(splitter.split(np.zeros((len(y), 1)), y))


def cv_temperature(
    x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], models: list[Any]
) -> float:
    """The temperature minimising the log-loss of the out-of-fold logits: `models[i]` was fitted on
    `folds[i]`'s training rows (and the rows always trained on) and scores its held-out rows."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    classes = np.unique(y)
    logits = np.zeros((len(y), len(classes)))
    column = {c: i for i, c in enumerate(classes)}
    for (_, held), model in zip(folds, models, strict=True):
        scores = model.decision_function(x[held])
        if scores.ndim == 1:  # binary: one column, the log-odds of classes_[1]
            scores = np.column_stack([np.zeros_like(scores), scores])
        for j, c in enumerate(model.classes_):
            if c in column:
                logits[held, column[c]] = scores[:, j]
    truth = np.array([column[c] for c in y])

    def nll(t: float) -> float:  # two classes: log_softmax of (0, log-odds) is the logistic log-likelihood
        return -float(np.mean(log_softmax(logits / t, axis=1)[np.arange(len(truth)), truth]))

    result = minimize_scalar(nll, bounds=TEMPERATURE_BOUNDS, method="bounded")
    return float(result.x)


def aligned_proba(head: Any, embeddings: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities with one column per class index 0..n_classes-1 (a class the head never saw gets 0)."""
    raw = head.predict_proba(embeddings)
    out = np.zeros((embeddings.shape[0], n_classes), dtype=np.float64)
    out[:, np.asarray(head.classes_, dtype=int)] = raw
    return out


def head_arrays(head: Any, class_names: list[str]) -> dict[str, Any]:
    """The head as plain arrays for runtimes without sklearn: coef (k x d), intercept (k), classes in order.

    For two classes sklearn keeps one row: p(classes[1]) = sigmoid(x @ coef[0] + intercept[0]).
    """
    classes = [class_names[int(c)] for c in head.classes_]
    coef = np.asarray(head.coef_, dtype=np.float32)
    intercept = np.asarray(head.intercept_, dtype=np.float32)
    return {"coef": coef, "intercept": intercept, "classes": classes, "binary": coef.shape[0] == 1}
