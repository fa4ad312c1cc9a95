"""The train / held-out split: stable as labels are added, stratified, and near-duplicates kept together.

* **Stable**: a message's place in its class's order comes from a seeded hash of its ID, not from a shuffle
  of all messages, so labeling more messages does not reshuffle the ones already split: within a class, the
  held-out part is the first `round(n * eval_fraction)` messages of that order, and a new message moves at
  most the one message on the boundary (a reshuffle used to put many of the last model's training messages
  into the next one's held-out set).
* **Stratified** on one label set (the finest): every class with two or more units has its share held out; a
  class of one unit stays in training.
* **Near-duplicates together**: messages whose texts are near-copies (cosine >= `threshold` of their word and
  word-pair counts: a resent e-mail, a reminder repeating the first, the same text under another greeting)
  form one unit that goes wholly to one side, so the held-out score is not inflated by evaluating on a copy
  of a training message. The similarity of two texts depends on them alone (no corpus statistics such as
  IDF), so adding messages never splits a group or joins two existing ones by itself.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_ROWS_PER_BLOCK = 512  # similarity rows computed at once (memory: rows x messages floats)


def stable_rank(message_id: str, seed: int) -> float:
    """A message's place in [0, 1) for this seed: the same whatever other messages exist."""
    digest = hashlib.blake2b(f"{seed}\x00{message_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def near_duplicate_groups(texts: Sequence[str], threshold: float | None) -> list[int]:
    """A group number for every text; texts linked by a chain of cosine >= `threshold` share it.

    Cosine over the texts' word and word-pair counts (sublinear, no IDF: the same for two texts whatever the
    others are); `threshold` None turns grouping off. Quadratic in the number of texts, in blocks of rows.
    """
    n = len(texts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n > 1 and threshold is not None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            counts = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, use_idf=False)
            matrix = counts.fit_transform(texts)
        except ValueError:  # no word in any text (only punctuation or digits of one character)
            matrix = None
        if matrix is not None:
            transposed = matrix.T.tocsc()
            for start in range(0, n, _ROWS_PER_BLOCK):
                block = (matrix[start : start + _ROWS_PER_BLOCK] @ transposed).toarray()
                rows, cols = np.nonzero(block >= threshold - 1e-9)
                for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
                    i, j = find(start + row), find(col)
                    if i != j:
                        parent[max(i, j)] = min(i, j)
    return [find(i) for i in range(n)]


@dataclass(frozen=True)
class SplitPlan:
    """Which messages are held out, and how many near-duplicate groups were kept together."""

    held_out: frozenset[int]  # indices into the messages given
    groups_joined: int  # units of two or more messages
    messages_joined: int  # messages in such units


def plan_split(
    message_ids: Sequence[str],
    strata: Sequence[str],
    groups: Sequence[int],
    eval_fraction: float,
    seed: int,
) -> SplitPlan:
    """Choose the held-out messages: per stratum, units in stable-rank order until its share is reached.

    A unit is a near-duplicate group (`groups`, from `near_duplicate_groups`); its stratum is its members'
    most common one (ties: the first by name) and its rank its lowest member's. A stratum holds out at most
    `round(messages * eval_fraction)` messages: whole units in rank order, each taken while it fits in what is
    left of that share (a group larger than that is passed over for the smaller units after it), so training
    never has fewer messages of a class than a split without groups would leave it. The last unit always
    trains, so a stratum of one unit stays in training.
    """
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    ranks = [stable_rank(mid, seed) for mid in message_ids]
    by_stratum: dict[str, list[tuple[float, str, list[int]]]] = defaultdict(list)
    for unit in members.values():
        counts = Counter(strata[i] for i in unit)
        stratum = min(counts, key=lambda s: (-counts[s], s))
        first = min(unit, key=lambda i: (ranks[i], message_ids[i]))
        by_stratum[stratum].append((ranks[first], message_ids[first], unit))
    held: set[int] = set()
    for units in by_stratum.values():
        if len(units) < 2:
            continue
        units.sort(key=lambda u: (u[0], u[1]))
        size = sum(len(u[2]) for u in units)
        want = int(np.floor(size * eval_fraction + 0.5))
        taken = 0
        for _, _, unit in units[:-1]:  # the last unit always trains
            if taken + len(unit) <= want:  # never more than the share: training keeps what it had before
                held.update(unit)
                taken += len(unit)
    joined = [u for u in members.values() if len(u) > 1]
    return SplitPlan(frozenset(held), len(joined), sum(len(u) for u in joined))


def split_line(record: dict[str, Any]) -> str:
    """How a version's split was made, in one line (from `dataset.json` or the manifest's `dataset.split`)."""
    cosine = record.get("near_duplicate_cosine")
    joined, groups = record.get("near_duplicate_messages"), record.get("near_duplicate_groups")
    copies = (
        f"{joined} near-copies in {groups} groups kept on one side (cosine >= {cosine})"
        if cosine is not None
        else "near-copies not grouped"
    )
    return (
        f"{record.get('eval_fraction')} of each {record.get('stratified_on')} class held out, stable order "
        f"(split seed {record.get('seed')}); {copies}"
    )
