"""Selection on synthetic embeddings: clusters covered, languages mixed, duplicates skipped, rare first."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from labeling.select import (
    EmbeddingProxy,
    SelectionConfig,
    cold_start,
    normalize,
    select_random,
    select_uncertain,
    uncertainty,
)


def blobs(
    sizes: list[int], dim: int = 32, spread: float = 0.6, seed: int = 0
) -> tuple[np.ndarray, list[int]]:
    """Points around well separated centres; returns embeddings and the blob of each row."""
    rng = np.random.default_rng(seed)
    centres = normalize(rng.normal(size=(len(sizes), dim)))
    x, y = [], []
    for blob, n in enumerate(sizes):
        x.append(centres[blob] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim))
        y += [blob] * n
    return normalize(np.vstack(x)), y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cold_start_covers_every_cluster_even_small_ones(seed: int) -> None:
    x, y = blobs([120, 90, 60, 40, 25, 15])
    picks = cold_start(x, 12, config=SelectionConfig(per_cluster=1), seed=seed)
    assert len(picks) == len(set(picks)) == 12
    assert set(Counter(y[i] for i in picks)) == set(range(6))


def test_cold_start_mixes_languages_in_proportion() -> None:
    x, y = blobs([100, 100, 100, 100])
    languages = ["de" if i % 3 == 0 else "en" for i in range(len(y))]  # a third German
    picks = cold_start(x, 12, languages=languages, seed=0)
    share = Counter(languages[i] for i in picks)
    assert 3 <= share["de"] <= 5 and share["de"] + share["en"] == 12


def test_near_duplicates_are_skipped() -> None:
    x, _ = blobs([50, 50], spread=0.2)
    twins = np.vstack([x, x[:20] + 1e-4])  # 20 near-copies
    picks = cold_start(normalize(twins), 40, config=SelectionConfig(per_cluster=20))
    chosen = normalize(twins)[picks]
    sims = chosen @ chosen.T - np.eye(len(picks))
    assert sims.max() <= 0.95
    avoid = x[:5]
    picks = cold_start(normalize(twins), 30, avoid=avoid)
    assert not {0, 1, 2, 3, 4, 50 + 50, 101, 102, 103, 104} & set(picks)


def test_uncertainty_measures() -> None:
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert uncertainty(p, "margin").tolist() == pytest.approx([0.0, 1.0, 1.0])
    assert uncertainty(p, "entropy").tolist() == pytest.approx([0.0, np.log(2) / np.log(3), 1.0])


def test_uncertain_selection_prefers_classes_below_target_and_spreads_out() -> None:
    x, y = blobs([40, 40, 40])
    classes = ["common", "rare", "other"]
    probs = np.full((len(y), 3), 0.05)
    for i, blob in enumerate(y):
        probs[i, blob] = 0.9
    counts = {"topic": {"common": 8, "rare": 0, "other": 8}}
    picks = select_uncertain(
        x, {"topic": (classes, probs)}, counts, 4, target=8, config=SelectionConfig(diversity_weight=0.2)
    )
    assert Counter(y[i] for i in picks)[1] >= 3  # the rare class gets the labels
    no_balance = select_uncertain(
        x, {"topic": (classes, probs)}, counts, 4, target=8, config=SelectionConfig(balance_weight=0.0)
    )
    assert Counter(y[i] for i in no_balance)[1] < 4


def test_uncertain_selection_picks_the_most_uncertain_first() -> None:
    x, _ = blobs([30])
    probs = np.tile([0.9, 0.1], (30, 1))
    probs[7] = [0.5, 0.5]
    picks = select_uncertain(x, {"queue": (["a", "b"], probs)}, {"queue": {"a": 9, "b": 9}}, 1, target=8)
    assert picks == [7]


def test_embedding_proxy_predicts_probabilities_per_set() -> None:
    x, y = blobs([20, 20])
    proxy = EmbeddingProxy(x, {"queue": ["a" if b == 0 else "b" for b in y], "lob": ["retail"] * 40})
    out = proxy.predict_embeddings(x[:3])
    assert out["queue"][0] == ["a", "b"] and out["queue"][1].shape == (3, 2)
    assert out["lob"][0] == ["retail"] and out["lob"][1].tolist() == [[1.0]] * 3


def test_random_selection_is_seeded() -> None:
    assert select_random(100, 5, seed=3) == select_random(100, 5, seed=3) != select_random(100, 5, seed=4)


def test_bad_config_names_the_argument() -> None:
    with pytest.raises(ValueError, match="per_cluster"):
        SelectionConfig(per_cluster=0)
    with pytest.raises(ValueError, match="uncertainty"):
        SelectionConfig(uncertainty="variance")  # type: ignore[arg-type]
