"""What the experts label next.

- Cold start (no labels yet): cluster base-model embeddings (k-means) and take `per_cluster` representative
  messages per cluster (the most central first), biggest clusters first, mixing languages in proportion to
  the pool. One per cluster, i.e. as many clusters as labels, measured best; more per cluster is an option.
- With a model: score each message by uncertainty (margin or entropy, averaged over the label sets) plus a
  balance term (the expected shortfall of its predicted class below the target N, so rare classes reach N
  fast), then pick greedily with a diversity penalty (similarity to messages already picked in the batch).
- Both skip near-duplicates (cosine above `dedup_threshold`) of picked or already labeled messages.

Selection works on embeddings and probabilities (numpy arrays). A model is any callable
`predict_proba(texts) -> {label_set: (classes, probabilities[n, k])}`; until a trained model exists, push
uses `EmbeddingProxy`, a logistic regression per label set on the same frozen embeddings.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

Predictions = Mapping[str, tuple[Sequence[str], np.ndarray]]  # label set -> (classes, probs[n, k])
ProbaModel = Callable[[Sequence[str]], Predictions]
Uncertainty = Literal["margin", "entropy"]


@dataclass(frozen=True)
class SelectionConfig:
    """Knobs of the selection; the defaults are the ones measured in docs/benchmarks/labeling.md."""

    per_cluster: int = 1  # 1 beat 2 and 3 on a dev split of BANKING77 (docs/labeling.md)
    dedup_threshold: float = 0.95
    diversity_weight: float = 0.5
    balance_weight: float = 1.0
    uncertainty: Uncertainty = "margin"
    language_window: int = 10  # candidates per cluster considered when a language is under-represented

    def __post_init__(self) -> None:
        if self.per_cluster < 1:
            raise ValueError(f"`per_cluster` must be >= 1, got {self.per_cluster}")
        if not 0 < self.dedup_threshold <= 1:
            raise ValueError(f"`dedup_threshold` must be in (0, 1], got {self.dedup_threshold}")
        if self.diversity_weight < 0 or self.balance_weight < 0:
            raise ValueError("`diversity_weight` and `balance_weight` must be >= 0")
        if self.uncertainty not in ("margin", "entropy"):
            raise ValueError(f"`uncertainty` must be 'margin' or 'entropy', got {self.uncertainty!r}")


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (so a dot product is the cosine)."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


@lru_cache(maxsize=2)
def _encoder(model: str) -> Any:
    from postroom.offline import force_offline

    force_offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model, device="cpu")


def embed_texts(texts: Sequence[str], model: str | None = None, batch_size: int = 64) -> np.ndarray:
    """Unit-length base-model embeddings (the packaged MiniLM unless `model` names another)."""
    if model is None:
        from postroom.settings import get_settings

        model = get_settings().resolved_base_model()
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = _encoder(model).encode(
        list(texts), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
    )
    return normalize(np.asarray(vectors, dtype=np.float32))


def _near_duplicates(embeddings: np.ndarray, anchor: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of rows whose cosine to any row of `anchor` exceeds `threshold`."""
    if anchor.size == 0:
        return np.zeros(len(embeddings), dtype=bool)
    mask = np.zeros(len(embeddings), dtype=bool)
    for start in range(0, len(anchor), 256):
        mask |= (embeddings @ anchor[start : start + 256].T).max(axis=1) > threshold
    return mask


def cold_start(
    embeddings: np.ndarray,
    k: int,
    *,
    languages: Sequence[str | None] | None = None,
    avoid: np.ndarray | None = None,
    config: SelectionConfig = SelectionConfig(),
    seed: int = 0,
) -> list[int]:
    """Indices of `k` diverse rows: k-means clusters, `per_cluster` representatives each, languages mixed."""
    from sklearn.cluster import KMeans

    n = len(embeddings)
    if n == 0 or k <= 0:
        return []
    x = normalize(embeddings)
    blocked = _near_duplicates(x, avoid if avoid is not None else np.zeros((0, 0)), config.dedup_threshold)
    n_clusters = max(1, min(n, math.ceil(k / config.per_cluster)))
    km = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(x)
    centroids = normalize(km.cluster_centers_)
    members: list[list[int]] = []
    for c in range(n_clusters):
        idx = np.flatnonzero(km.labels_ == c)
        closeness = x[idx] @ centroids[c]
        members.append([int(i) for i in idx[np.argsort(-closeness, kind="stable")]])
    order = sorted(range(n_clusters), key=lambda c: (-len(members[c]), c))
    langs = [lang or "unknown" for lang in (languages or [None] * n)]
    pool_share = {lang: langs.count(lang) / n for lang in set(langs)}
    taken_lang: dict[str, int] = dict.fromkeys(pool_share, 0)
    chosen: list[int] = []
    chosen_vecs: list[np.ndarray] = []
    cursor = [0] * n_clusters
    while len(chosen) < k:
        progressed = False
        for c in order:
            if len(chosen) >= k:
                break
            pick = _next_in_cluster(members[c], cursor, c, blocked, langs, pool_share, taken_lang, config)
            if pick is None:
                continue
            progressed = True
            chosen.append(pick)
            taken_lang[langs[pick]] += 1
            vec = x[pick]
            chosen_vecs.append(vec)
            blocked |= (x @ vec) > config.dedup_threshold
            blocked[pick] = True
        if not progressed:
            break
    return chosen


def _next_in_cluster(
    members: list[int],
    cursor: list[int],
    cluster: int,
    blocked: np.ndarray,
    langs: Sequence[str],
    pool_share: Mapping[str, float],
    taken_lang: Mapping[str, int],
    config: SelectionConfig,
) -> int | None:
    """The most central unblocked member, unless a language lags behind its share and is near the front."""
    while cursor[cluster] < len(members) and blocked[members[cursor[cluster]]]:
        cursor[cluster] += 1
    if cursor[cluster] >= len(members):
        return None
    start = cursor[cluster]
    window = [i for i in members[start : start + config.language_window] if not blocked[i]]
    n_next = sum(taken_lang.values()) + 1

    def lag(lang: str) -> float:
        return taken_lang[lang] - pool_share[lang] * n_next

    for lang in sorted(pool_share, key=lag):
        if lag(lang) >= 0:
            break
        for i in window:
            if langs[i] == lang:
                return i
    return window[0]


def uncertainty(probs: np.ndarray, method: Uncertainty = "margin") -> np.ndarray:
    """Per row in [0, 1]: 1 - (top1 - top2) for margin, entropy / log(k) for entropy."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    if p.shape[1] < 2:
        return np.zeros(len(p))
    if method == "margin":
        top = -np.sort(-p, axis=1)
        return 1.0 - (top[:, 0] - top[:, 1])
    entropy = -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)
    return entropy / math.log(p.shape[1])


def select_uncertain(
    embeddings: np.ndarray,
    predictions: Predictions,
    labeled_counts: Mapping[str, Mapping[str, float]],
    k: int,
    target: int,
    *,
    avoid: np.ndarray | None = None,
    config: SelectionConfig = SelectionConfig(),
) -> list[int]:
    """Indices of `k` rows: uncertain, likely in classes below `target`, and unlike each other.

    Args:
        embeddings: the candidate pool.
        predictions: label set -> (classes, probabilities of each candidate).
        labeled_counts: label set -> class -> labeled so far.
        avoid: embeddings of labeled or pushed messages (their near-duplicates are skipped).
    """
    n = len(embeddings)
    if n == 0 or k <= 0:
        return []
    x = normalize(embeddings)
    sets = list(predictions)
    unc = np.mean([uncertainty(predictions[s][1], config.uncertainty) for s in sets], axis=0)
    counts = {
        s: np.array([float(labeled_counts.get(s, {}).get(c, 0)) for c in predictions[s][0]]) for s in sets
    }
    probs = {s: np.asarray(predictions[s][1], dtype=np.float64) for s in sets}
    blocked = _near_duplicates(x, avoid if avoid is not None else np.zeros((0, 0)), config.dedup_threshold)
    max_sim = np.zeros(n)
    chosen: list[int] = []
    while len(chosen) < k and not blocked.all():
        balance = np.mean(
            [probs[s] @ (np.maximum(0.0, target - counts[s]) / max(target, 1)) for s in sets], axis=0
        )
        score = unc + config.balance_weight * balance - config.diversity_weight * max_sim
        score[blocked] = -np.inf
        pick = int(np.argmax(score))
        chosen.append(pick)
        sims = x @ x[pick]
        max_sim = np.maximum(max_sim, sims)
        blocked |= sims > config.dedup_threshold
        blocked[pick] = True
        for s in sets:  # the pick will most likely be labeled as predicted: count it softly
            counts[s] = counts[s] + probs[s][pick]
    return chosen


def select_random(n: int, k: int, seed: int = 0) -> list[int]:
    return [int(i) for i in np.random.default_rng(seed).permutation(n)[:k]]


class EmbeddingProxy:
    """A stand-in model until a trained one exists: logistic regression per label set on frozen embeddings."""

    def __init__(self, embeddings: np.ndarray, labels: Mapping[str, Sequence[str]], c: float = 10.0) -> None:
        from sklearn.linear_model import LogisticRegression

        self.models: dict[str, Any] = {}
        self.constant: dict[str, str] = {}
        for set_name, y in labels.items():
            if len(set(y)) < 2:
                self.constant[set_name] = y[0]
                continue
            with warnings.catch_warnings():  # "more classes than half the samples": expected when few-shot
                warnings.simplefilter("ignore", UserWarning)
                self.models[set_name] = LogisticRegression(C=c, max_iter=1000).fit(embeddings, list(y))

    def predict_embeddings(self, embeddings: np.ndarray) -> dict[str, tuple[list[str], np.ndarray]]:
        out: dict[str, tuple[list[str], np.ndarray]] = {}
        for set_name, model in self.models.items():
            out[set_name] = ([str(c) for c in model.classes_], model.predict_proba(embeddings))
        for set_name, only in self.constant.items():
            out[set_name] = ([only], np.ones((len(embeddings), 1)))
        return out
