"""A learned confidence score for automated replies, and one threshold on it certified on unseen messages.

The head's probability is not the best ranking of "this prediction is right": measured on BANKING77
(docs/router.md), a small logistic regression over a few signals ranks the predictions better, and with the
same guarantee answers more messages. The signals of one message, for its predicted class `c`:

- the head's probability of `c`, and the log-ratio of the two highest probabilities;
- a second head on the same body (the head before self-training): its probability of `c`, and whether its
  own prediction is `c` too;
- the labeled examples: the mean cosine similarity to the three closest examples of `c`, the highest to any
  example of another class, and their difference; the same two for the class centroids;
- how often predictions of `c` were right on the fit share (shrunk towards all classes, as a logit).

Method, with the promise of `router.pooled` (the precision of all automated replies together is at least
`target` with probability at least `confidence` over the calibration sample, exchangeable messages):

1. A random `fit_share` of the calibration messages fits the class prior and the logistic regression
   (standardised features) that predicts whether the prediction is right.
2. On the other messages, one threshold on that score is certified by fixed-sequence testing along a grid
   fixed in advance, from strict to loose, each step tested with the exact binomial tail at level
   `1 - confidence`; the loosest step before the first failure is chosen. The walk starts at the step where
   the fit share gives the strongest evidence (as `router.pooled` does): chosen without the certifying
   messages, so the promise holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.fixed_sequence import CertifiedThreshold, certify_threshold, strongest_start

FEATURES = (
    "probability",
    "log_margin",
    "second_probability",
    "second_agrees",
    "examples_own",
    "examples_other",
    "examples_difference",
    "centroid_own",
    "centroid_difference",
    "class_prior",
)
PRIOR_STRENGTH = 10.0  # pseudo-messages of the overall accuracy in each class prior
_EPS = 1e-9


@dataclass(frozen=True)
class LabeledReference:
    """The labeled examples' embeddings (L2-normalised) and classes, and the class centroids."""

    embeddings: np.ndarray  # (m, d)
    labels: np.ndarray  # (m,) class indices
    centroids: np.ndarray  # (k, d), normalised

    @classmethod
    def build(cls, embeddings: np.ndarray, labels: np.ndarray, n_classes: int) -> LabeledReference:
        """From labeled embeddings; a class without examples gets a zero centroid (similarity 0)."""
        labels = np.asarray(labels, dtype=int)
        centroids = np.zeros((n_classes, embeddings.shape[1]), dtype=np.float64)
        for c in np.unique(labels):
            centroids[c] = embeddings[labels == c].mean(axis=0)
        return cls(embeddings, labels, normalised(centroids))


@dataclass(frozen=True)
class Signals:
    """What the served model gives for messages: the head's probabilities, a second head's, embeddings."""

    proba: np.ndarray  # (n, k)
    embeddings: np.ndarray  # (n, d), L2-normalised
    second: np.ndarray | None = None  # (n, k); None: the second-head features are constant

    @property
    def predicted(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _nearest_mean(similarities: np.ndarray, mask: np.ndarray, top: int) -> np.ndarray:
    masked = np.where(mask, similarities, -np.inf)
    best = -np.sort(-masked, axis=1)[:, :top]
    counted = np.isfinite(best)
    return np.where(counted, best, 0.0).sum(axis=1) / np.maximum(counted.sum(axis=1), 1)


def raw_signals(signals: Signals, reference: LabeledReference) -> np.ndarray:
    """One row per message: every feature but the class record (`FEATURES[:-1]`), as serving stores them."""
    rows = np.arange(len(signals.proba))
    predicted = signals.predicted
    ordered = np.sort(signals.proba, axis=1)
    top = ordered[:, -1]
    runner_up = ordered[:, -2] if ordered.shape[1] > 1 else np.zeros(len(rows))
    if signals.second is None:
        second, agrees = top, np.ones(len(rows))
    else:
        second = signals.second[rows, predicted]
        agrees = (signals.second.argmax(axis=1) == predicted).astype(float)
    similarities = signals.embeddings @ reference.embeddings.T
    same = reference.labels[None, :] == predicted[:, None]
    own = _nearest_mean(similarities, same, 3)
    other = np.where(~same, similarities, -1.0).max(axis=1) if (~same).any() else np.zeros(len(rows))
    to_centroids = signals.embeddings @ reference.centroids.T
    centroid_own = to_centroids[rows, predicted]
    to_centroids[rows, predicted] = -np.inf
    centroid_other = to_centroids.max(axis=1) if to_centroids.shape[1] > 1 else np.zeros(len(rows))
    return np.column_stack(
        [
            top,
            np.log(top + _EPS) - np.log(runner_up + _EPS),
            second,
            agrees,
            own,
            other,
            own - other,
            centroid_own,
            centroid_own - centroid_other,
        ]
    )


def with_class_record(raw: np.ndarray, predicted: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """`raw_signals` plus the last feature: the predicted class's record, as a logit."""
    return np.column_stack([raw, _logit(class_prior[predicted])])


def feature_matrix(signals: Signals, reference: LabeledReference, class_prior: np.ndarray) -> np.ndarray:
    """One row per message, columns in the order of `FEATURES`."""
    return with_class_record(raw_signals(signals, reference), signals.predicted, class_prior)


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic regression over standardised features: P(the prediction is right)."""

    weights: np.ndarray  # (len(FEATURES),)
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    class_prior: np.ndarray  # (k,) shrunk share of right predictions per predicted class

    def score(self, signals: Signals, reference: LabeledReference) -> np.ndarray:
        return self.score_raw(raw_signals(signals, reference), signals.predicted)

    def score_raw(self, raw: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """The score from stored raw signals and the predicted class indices."""
        x = (with_class_record(raw, predicted, self.class_prior) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    def to_dict(self, class_names: list[str]) -> dict[str, Any]:
        """JSON for a thresholds version (the class record by class name)."""
        return {
            "features": list(FEATURES),
            "weights": [float(w) for w in self.weights],
            "bias": self.bias,
            "mean": [float(m) for m in self.mean],
            "scale": [float(v) for v in self.scale],
            "class_prior": {c: float(p) for c, p in zip(class_names, self.class_prior, strict=True)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], class_names: list[str]) -> ConfidenceModel:
        """Back from `to_dict`; a class the record lacks gets the mean record. ValueError when malformed."""
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError("the confidence model was fitted on other features")
        prior = data["class_prior"]
        default = float(np.mean(list(prior.values()))) if prior else 0.5
        vectors = [np.asarray(data[key], dtype=float) for key in ("weights", "mean", "scale")]
        if any(v.shape != (len(FEATURES),) for v in vectors) or not np.all(vectors[2] > 0):
            raise ValueError(f"weights, mean and scale must hold {len(FEATURES)} numbers (scale > 0)")
        return cls(
            vectors[0],
            float(data["bias"]),
            vectors[1],
            vectors[2],
            np.clip([float(prior.get(c, default)) for c in class_names], 1e-6, 1 - 1e-6),
        )


def class_prior(predicted: np.ndarray, correct: np.ndarray, n_classes: int) -> np.ndarray:
    """Per predicted class, the share of right predictions shrunk towards the overall share."""
    overall = float(correct.mean()) if len(correct) else 0.5
    right = np.bincount(predicted, weights=correct.astype(float), minlength=n_classes)
    seen = np.bincount(predicted, minlength=n_classes)
    return (right + PRIOR_STRENGTH * overall) / (seen + PRIOR_STRENGTH)


def fit_confidence(
    signals: Signals, correct: np.ndarray, reference: LabeledReference, c: float = 1.0, seed: int = 0
) -> ConfidenceModel:
    """Fit the confidence model on these messages (needs right and wrong predictions among them)."""
    raw = raw_signals(signals, reference)
    return fit_from_raw(raw, signals.predicted, correct, signals.proba.shape[1], c, seed)


def fit_from_raw(
    raw: np.ndarray, predicted: np.ndarray, correct: np.ndarray, n_classes: int, c: float = 1.0, seed: int = 0
) -> ConfidenceModel:
    """`fit_confidence` from stored raw signals and predicted class indices."""
    from sklearn.linear_model import LogisticRegression

    correct = np.asarray(correct, dtype=bool)
    if correct.all() or not correct.any():
        raise ValueError("fitting a confidence model needs both right and wrong predictions")
    prior = class_prior(predicted, correct, n_classes)
    x = with_class_record(raw, predicted, prior)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit((x - mean) / scale, correct)
    return ConfidenceModel(model.coef_[0].copy(), float(model.intercept_[0]), mean, scale, prior)


@dataclass(frozen=True)
class LearnedSuggestion:
    """The confidence model and its certified threshold; expected figures on the certifying messages.

    `model` is None when the fit share had no wrong (or no right) prediction: nothing to learn from, and
    nothing is certified."""

    model: ConfidenceModel | None
    certified: CertifiedThreshold
    fit_size: int
    auto_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # certifying, answered

    @property
    def expected_coverage(self) -> float:
        return self.certified.selected / self.certified.size if self.certified.size else 0.0

    @property
    def expected_precision(self) -> float | None:
        return self.certified.correct / self.certified.selected if self.certified.selected else None


def suggest_learned(
    signals: Signals,
    truth: np.ndarray,
    reference: LabeledReference,
    target: float,
    confidence: float,
    fit_share: float = 0.25,
    seed: int = 0,
) -> LearnedSuggestion:
    """Fit the confidence model on `fit_share` of the calibration messages, certify on the rest."""
    raw = raw_signals(signals, reference)
    return suggest_from_raw(
        raw, signals.predicted, np.asarray(truth), signals.proba.shape[1], target, confidence, fit_share, seed
    )


def suggest_from_raw(
    raw: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    n_classes: int,
    target: float,
    confidence: float,
    fit_share: float = 0.25,
    seed: int = 0,
) -> LearnedSuggestion:
    """`suggest_learned` from stored raw signals, predicted and true class indices (-1: another class)."""
    if not 0.0 < fit_share < 1.0:
        raise ValueError(f"fit_share must be in (0, 1), got {fit_share}")
    correct = np.asarray(predicted) == np.asarray(truth)
    n = len(correct)
    is_fit = np.random.default_rng(seed).permutation(n) < round(n * fit_share)
    if correct[is_fit].all() or not correct[is_fit].any():
        return LearnedSuggestion(
            None, CertifiedThreshold(None, 0, 0, int((~is_fit).sum()), 0), int(is_fit.sum())
        )
    model = fit_from_raw(raw[is_fit], predicted[is_fit], correct[is_fit], n_classes, seed=seed)
    start = strongest_start(model.score_raw(raw[is_fit], predicted[is_fit]), correct[is_fit], target)
    scores = model.score_raw(raw[~is_fit], predicted[~is_fit])
    certified = certify_threshold(scores, correct[~is_fit], target, confidence, start)
    auto = np.zeros(0, dtype=int)
    if certified.threshold is not None:
        auto = np.flatnonzero(~is_fit)[scores >= certified.threshold]
    return LearnedSuggestion(model, certified, int(is_fit.sum()), auto)
