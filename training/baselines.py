"""The alternatives a team would otherwise pick, for the few-shot benchmark (same samples as SetFit).

- TF-IDF + logistic regression (word 1-2 grams and character 2-5 grams, sublinear tf).
- BM25 nearest neighbour: the class of the training text with the highest Okapi BM25 score.
- Frozen embeddings + logistic regression: the MTEB classification protocol on the untuned base body.

Each returns predicted class indices for the test texts. The logistic regressions use the same `C` as the
SetFit head (10: the best of 1, 10, 30, 100, 1000 for frozen MiniLM on BANKING77; sklearn's default C=1
costs that baseline 4 points), so the baselines are tuned no less than SetFit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BASELINE_C = 10.0


def tfidf_lr(
    train_texts: list[str], train_labels: list[int], test_texts: list[str], seed: int, c: float = BASELINE_C
) -> np.ndarray:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)
    x_train = hstack([words.fit_transform(train_texts), chars.fit_transform(train_texts)]).tocsr()
    x_test = hstack([words.transform(test_texts), chars.transform(test_texts)]).tocsr()
    head = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, train_labels)
    return np.asarray(head.predict(x_test), dtype=int)


def bm25_nearest(
    train_texts: list[str], train_labels: list[int], test_texts: list[str], k1: float = 1.5, b: float = 0.75
) -> np.ndarray:
    """1-nearest-neighbour by Okapi BM25 (query terms counted once); a query with no known term gets the
    most frequent training class."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b")
    tf = vectorizer.fit_transform(train_texts).tocsr().astype(np.float64)
    n_docs = tf.shape[0]
    doc_len = np.asarray(tf.sum(axis=1)).ravel()
    avg_len = doc_len.mean() if n_docs else 0.0
    df = np.asarray((tf > 0).sum(axis=0)).ravel()
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    weights = tf.copy()
    rows = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
    denom = weights.data + k1 * (1 - b + b * doc_len[rows] / max(avg_len, 1e-9))
    weights.data = weights.data * (k1 + 1) / denom * idf[weights.indices]
    queries = (vectorizer.transform(test_texts) > 0).astype(np.float64)
    scores = (queries @ weights.T).toarray()
    labels = np.asarray(train_labels, dtype=int)
    fallback = int(np.bincount(labels).argmax())
    best = scores.argmax(axis=1)
    return np.where(scores.max(axis=1) > 0, labels[best], fallback)


def frozen_lr(
    train_embeddings: np.ndarray,
    train_labels: list[int],
    test_embeddings: np.ndarray,
    seed: int,
    c: float = BASELINE_C,
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(train_embeddings, train_labels)
    return np.asarray(head.predict(test_embeddings), dtype=int)


def scores(y_true: list[int] | np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    truth = np.asarray(y_true, dtype=int)
    return {
        "macro_f1": float(
            f1_score(truth, y_pred, average="macro", labels=sorted(set(truth.tolist())), zero_division=0)
        ),
        "accuracy": float(accuracy_score(truth, y_pred)),
    }
