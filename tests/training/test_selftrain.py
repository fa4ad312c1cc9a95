"""Self-training of the head: which rows become pseudo-labels, and what a round does to the head."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from training.config import TrainConfig
from training.heads import aligned_proba, fit_head
from training.selftrain import most_confident, self_train_head


def test_most_confident_takes_the_top_rows_of_every_predicted_class() -> None:
    proba = np.array(
        [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05], [0.3, 0.7], [0.9, 0.1]],
    )
    assert most_confident(proba, 1).tolist() == [2, 3]
    assert most_confident(proba, 2).tolist() == [0, 2, 3, 4]  # rows 0 and 5 tie: the lower row first
    assert most_confident(proba, 10).tolist() == list(range(6))
    assert most_confident(np.zeros((0, 2)), 3).tolist() == []


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes that are easy to tell apart, once you have seen enough of them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.column_stack([np.where(y == 0, -1.5, 1.5), np.zeros(n)]) + rng.normal(scale=1.0, size=(n, 2))
    return x, y


def test_self_training_adds_pseudo_labels_and_keeps_class_texts() -> None:
    config = TrainConfig(self_train_rounds=2, self_train_per_class=20)
    x, y = _blobs(8, seed=0)
    names = (np.array([[-1.5, 0.0], [1.5, 0.0]]), [0, 1])
    unlabeled, _ = _blobs(400, seed=1)
    head = fit_head(np.vstack([x, names[0]]), [*y.tolist(), *names[1]], config, extra_rows=2)
    trained, report = self_train_head(head, (x, y.tolist()), names, unlabeled, 2, config)
    assert report.to_dict() == {"pool": 400, "pseudo_labeled": 80, "rounds": 2}  # 2 rounds: 2 x 20 per class
    assert not np.allclose(trained.coef_, head.coef_)
    test, test_truth = _blobs(2000, seed=2)
    accuracy = (aligned_proba(trained, test, 2).argmax(axis=1) == test_truth).mean()
    assert accuracy > 0.85  # the Bayes rate of these blobs is about 0.93
    no_rounds = replace(config, self_train_rounds=0)
    off, nothing = self_train_head(head, (x, y.tolist()), names, unlabeled, 2, no_rounds)
    assert off is head and nothing.pseudo_labeled == 0
    none, empty = self_train_head(head, (x, y.tolist()), names, unlabeled[:0], 2, config)
    assert none is head and empty.to_dict() == {"pool": 0, "pseudo_labeled": 0, "rounds": 0}
