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
from collections.abc import Mapping, Sequence
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
    swapped_in: tuple[str, ...] = ()  # `set.class` given a held-out message by a swap (`labels`)
    held_out_groups: tuple[tuple[int, ...], ...] = ()  # held-out units of two or more, members sorted


def plan_split(
    message_ids: Sequence[str],
    strata: Sequence[str],
    groups: Sequence[int],
    eval_fraction: float,
    seed: int,
    labels: Sequence[Mapping[str, str]] | None = None,
) -> SplitPlan:
    """Choose the held-out messages: per stratum, units in stable-rank order until its share is reached.

    A unit is a near-duplicate group (`groups`, from `near_duplicate_groups`); its stratum is its members'
    most common one (ties: the first by name) and its rank that of its member whose ID sorts first: a draw
    as even as a single message's (ranked by its lowest member's rank, a group of k came first as often as
    the first of k draws does, and groups were held out 1.7-2.1 times as often as single messages). A
    stratum holds out at most `round(messages * eval_fraction)` messages: whole units in rank order, each
    taken while it fits in what is left of that share (a group larger than that is passed over for the
    smaller units after it), so training never has fewer messages of a class than a split without groups
    would leave it. The last unit always trains, so a stratum of one unit stays in training.

    With `labels` (each message's label set -> class), a class of a set that does not nest in the strata's
    (urgency beside topic) and got no held-out message this way swaps one of its units for a held-out unit
    of the same stratum, where that keeps every class within its share (`_hold_out_every_class`).
    """
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    ranks = [stable_rank(mid, seed) for mid in message_ids]
    by_stratum: dict[str, list[tuple[float, str, list[int]]]] = defaultdict(list)
    for unit in members.values():
        counts = Counter(strata[i] for i in unit)
        stratum = min(counts, key=lambda s: (-counts[s], s))
        first = min(unit, key=lambda i: message_ids[i])
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
    if labels is not None:
        ranked = sorted((rank, mid, s, unit) for s, units in by_stratum.items() for rank, mid, unit in units)
        swapped = _hold_out_every_class([(unit, s) for _, _, s, unit in ranked], held, labels, eval_fraction)
    else:
        swapped = []
    joined = [u for u in members.values() if len(u) > 1]
    held_groups = sorted(tuple(sorted(u)) for u in joined if u[0] in held)  # a unit moves whole
    return SplitPlan(
        frozenset(held), len(joined), sum(len(u) for u in joined), tuple(swapped), tuple(held_groups)
    )


class _Sides:
    """Held-out and training counts per class (set, class), kept as units move between the sides."""

    def __init__(
        self, units: Sequence[list[int]], held: set[int], labels: Sequence[Mapping[str, str]]
    ) -> None:
        self.units, self.held = units, held
        self.counts = [Counter(item for i in unit for item in labels[i].items()) for unit in units]
        self.held_msgs: Counter[tuple[str, str]] = Counter()
        self.held_units: Counter[tuple[str, str]] = Counter()
        self.train_units: Counter[tuple[str, str]] = Counter()
        for k in range(len(units)):
            self._add(k, 1)

    def is_held(self, k: int) -> bool:
        return self.units[k][0] in self.held

    def _add(self, k: int, sign: int) -> None:
        for key, n in self.counts[k].items():
            if self.is_held(k):
                self.held_msgs[key] += sign * n
                self.held_units[key] += sign
            else:
                self.train_units[key] += sign

    def move(self, k: int) -> None:
        """Move unit `k` to the other side."""
        self._add(k, -1)
        if self.is_held(k):
            self.held.difference_update(self.units[k])
        else:
            self.held.update(self.units[k])
        self._add(k, 1)


def _hold_out_every_class(
    units: Sequence[tuple[list[int], str]],
    held: set[int],
    labels: Sequence[Mapping[str, str]],
    eval_fraction: float,
) -> list[str]:
    """Give each class that has none a held-out unit, by a swap within one stratum (in `held`, in place);
    the classes (`set.class`) that got one.

    `units` are (members, stratum) in rank order. For a class of two or more units whose share
    (`round(messages * eval_fraction)`) is at least one message and that has no held-out unit: the first of
    its units and the last held unit of that unit's stratum for which the swap leaves every class they carry
    within its share, with a unit in training, and with a held-out unit if it had one. Classes are visited in
    (set, class) order, so the outcome depends on the messages alone. Where no swap qualifies, the class
    stays without held-out messages (the evaluation names it).
    """
    sides = _Sides([unit for unit, _ in units], held, labels)
    size: Counter[tuple[str, str]] = Counter(item for one in labels for item in one.items())
    share = {key: int(np.floor(n * eval_fraction + 0.5)) for key, n in size.items()}
    swapped = []
    for key in sorted(size):
        if sides.held_units[key] or share[key] < 1 or sides.train_units[key] < 2:
            continue
        swap = next(
            (
                (k, j)
                for k in range(len(units))
                if key in sides.counts[k] and not sides.is_held(k)
                for j in reversed(range(len(units)))
                if units[j][1] == units[k][1] and sides.is_held(j) and key not in sides.counts[j]
                and _swap_keeps_shares(sides, share, k, j)
            ),
            None,
        )
        if swap is not None:
            for k in swap:
                sides.move(k)
            swapped.append(".".join(key))
    return swapped


def _swap_keeps_shares(
    sides: _Sides, share: Mapping[tuple[str, str], int], taken: int, returned: int
) -> bool:
    """Whether holding out unit `taken` and returning unit `returned` keeps every class they carry within its
    held-out share (or no further past it than before), with a training unit, and with a held-out unit if it
    had one."""
    keys = {*sides.counts[taken], *sides.counts[returned]}
    before = {key: sides.held_msgs[key] for key in keys}
    sides.move(taken)
    sides.move(returned)
    try:
        return all(
            sides.held_msgs[key] <= max(share[key], before[key])  # within the share, or no further past it
            and sides.train_units[key] >= 1
            and (sides.held_units[key] >= 1 or not before[key])
            for key in keys
        )
    finally:
        sides.move(returned)
        sides.move(taken)


def split_line(record: dict[str, Any]) -> str:
    """How a version's split was made, in one line (from `dataset.json` or the manifest's `dataset.split`)."""
    cosine = record.get("near_duplicate_cosine")
    joined, groups = record.get("near_duplicate_messages"), record.get("near_duplicate_groups")
    copies = (
        f"{joined} near-copies in {groups} groups kept on one side (cosine >= {cosine})"
        if cosine is not None
        else "near-copies not grouped"
    )
    swapped = record.get("swapped_in") or []
    swaps = f"; a held-out message swapped in for {', '.join(swapped)}" if swapped else ""
    return (
        f"{record.get('eval_fraction')} of each {record.get('stratified_on')} class held out, stable order "
        f"(split seed {record.get('seed')}); {copies}{swaps}"
    )
