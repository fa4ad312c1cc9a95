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

from typing import Any

import numpy as np

from training.config import TrainConfig

MAX_FOLDS = 5
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _logistic_regression(config: TrainConfig) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=config.head_c, max_iter=config.head_max_iter, random_state=config.seed)


def fit_head(embeddings: np.ndarray, labels: list[int], config: TrainConfig, extra_rows: int = 0) -> Any:
    """A multinomial logistic regression fitted on `embeddings` with integer `labels`, its probabilities
    calibrated by a cross-validated temperature when `config.calibrate_head` (attribute `temperature_`).

    The last `extra_rows` rows (class texts, pseudo-labels) are always trained on and never used to fit
    the temperature: it is fitted on the labeled examples alone.
    """
    y = np.asarray(labels, dtype=int)
    head = _logistic_regression(config).fit(embeddings, y)
    head.temperature_ = 1.0
    if config.calibrate_head:
        n = len(y) - extra_rows
        temperature = cv_temperature(embeddings[:n], y[:n], embeddings[n:], y[n:], config)
        if temperature is not None:
            head.coef_ = head.coef_ / temperature
            head.intercept_ = head.intercept_ / temperature
            head.temperature_ = temperature
    return head


def cv_temperature(
    x: np.ndarray, y: np.ndarray, x_always: np.ndarray, y_always: np.ndarray, config: TrainConfig
) -> float | None:
    """The temperature minimising the log-loss of out-of-fold logits; None when too few examples for
    two folds (a class with a single example) or only one class."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax
    from sklearn.model_selection import StratifiedKFold

    classes, counts = np.unique(y, return_counts=True)
    folds = min(MAX_FOLDS, int(counts.min()) if len(counts) else 0)
    if folds < 2 or len(classes) < 2:
        return None
    logits = np.zeros((len(y), len(classes)))
    column = {c: i for i, c in enumerate(classes)}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=config.seed)
    for train, held in splitter.split(x, y):
        model = _logistic_regression(config).fit(
            np.vstack([x[train], x_always]), np.concatenate([y[train], y_always])
        )
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
