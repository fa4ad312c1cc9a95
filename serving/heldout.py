"""A model version's held-out messages: their IDs, their current labels, and their calibration half.

The held-out IDs come from the version's `dataset.json` (training.registry): messages the model never trained
on. `postroom calibrate` classifies part of them for the thresholds (stored with purpose `calibration`);
`postroom classify-heldout` then classifies the rest, so the routing it reports is measured on messages that
neither trained the model nor chose its thresholds.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.errors import PostroomError
from postroom.store.models import PURPOSE_CALIBRATION, Label, Message, Prediction
from training.registry import DATASET_FILE


def _dataset_record(version_dir: Path) -> dict[str, Any] | None:
    """The version's `dataset.json`, or None when it has none."""
    path = version_dir / DATASET_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def heldout_ids(version_dir: Path) -> list[str]:
    """The held-out message IDs of a version (every label set's), in first-seen order."""
    record = _dataset_record(version_dir)
    if record is None:
        raise PostroomError(f"{version_dir.name} has no {DATASET_FILE}: no held-out messages to classify")
    ids = list(record.get("eval_message_ids") or [])
    for entry in (record.get("label_sets") or {}).values():
        ids.extend(entry.get("eval_message_ids") or [])
    return list(dict.fromkeys(str(i) for i in ids))


def near_copy_groups(version_dir: Path) -> list[list[str]] | None:
    """The version's held-out near-copy groups (message IDs); None for a version trained before they were
    recorded (its near-copies cannot be kept together), [] for none or grouping off."""
    groups = ((_dataset_record(version_dir) or {}).get("split") or {}).get("eval_near_copies")
    if not isinstance(groups, list):
        return None
    return [[str(i) for i in group] for group in groups if isinstance(group, list) and len(group) > 1]


def one_per_group(ids: list[str], groups: Sequence[Sequence[str]]) -> list[str]:
    """`ids` with only the first (by ID) of each near-copy group's members among them: a resent e-mail and
    its original are one trial for the thresholds' tests, not two."""
    units = _units(ids, groups)
    return [i for i in ids if units.get(i, (i,))[0] == i]


def copies_of(ids: set[str], groups: Sequence[Sequence[str]]) -> set[str]:
    """The other members of every near-copy group with a member in `ids` (`ids` themselves excluded)."""
    units = _units([m for group in groups for m in group], groups)
    return {m for i in ids for m in units.get(i, ())} - ids


def current_labels(session: Session, ids: list[str]) -> dict[str, dict[str, str]]:
    """`{message_id: {label_set: class}}` of the current labels of these messages."""
    labels: dict[str, dict[str, str]] = {}
    rows = session.execute(
        select(Message.message_id, Label.label_set, Label.class_name)
        .join(Label, Label.message_pk == Message.id)
        .where(Message.message_id.in_(ids), Label.is_current.is_(True))
    )
    for message_id, label_set, class_name in rows:
        labels.setdefault(message_id, {})[label_set] = class_name
    return labels


def calibrated_ids(session: Session, model_version: str) -> set[str]:
    """Messages that already have a calibration prediction of this model version."""
    rows = session.scalars(
        select(Message.message_id)
        .join(Prediction, Prediction.message_pk == Message.id)
        .where(Prediction.model_version == model_version, Prediction.purpose == PURPOSE_CALIBRATION)
    )
    return set(rows)


def _order_key(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def _units(ids: list[str], groups: Sequence[Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Each grouped ID of `ids` -> its unit (sorted members among `ids`); groups sharing an ID merge."""
    present = set(ids)
    unit_of: dict[str, tuple[str, ...]] = {}
    for group in groups:
        members = set(group) & present
        for message_id in list(members):
            members.update(unit_of.get(message_id, ()))
        unit = tuple(sorted(members))
        for message_id in unit:
            unit_of[message_id] = unit
    return unit_of


def calibration_split(
    ids: list[str], strata: dict[str, str], fraction: float, groups: Sequence[Sequence[str]] = ()
) -> tuple[list[str], list[str]]:
    """Split `ids` into (calibration, rest), stratified by `strata[id]` (missing: one stratum of its own),
    each near-copy group of `groups` wholly on one side.

    A unit is a group (its members among `ids`) or a message alone; its stratum is its members' most common
    one (ties: a labeled one, then the first by name). Deterministic: within a stratum the units are ordered
    by the SHA-256 of their first member's ID (IDs sorted), and units in that order calibrate while they fit
    in `round(fraction * n)` messages. A stratum of one unit stays in the rest (so a stratum that is one pair
    of near-copies calibrates nothing). Without the groups a resent e-mail could set a threshold on one side
    and be counted again as unseen on the other.
    """
    if not 0.0 < fraction < 1.0:
        raise PostroomError(f"the calibration fraction must be in (0, 1), got {fraction!r}")
    unit_of = _units(ids, groups)
    by_stratum: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for unit in dict.fromkeys(unit_of.get(i, (i,)) for i in ids):
        counts = Counter(strata.get(i, "") for i in unit)
        # a member without a label does not decide the stratum while another member has one
        by_stratum[min(counts, key=lambda s: (-counts[s], s == "", s))].append(unit)
    chosen: set[str] = set()
    for units in by_stratum.values():
        if len(units) < 2:
            continue
        want = int(fraction * sum(len(u) for u in units) + 0.5)
        taken = 0
        for unit in sorted(units, key=lambda u: _order_key(u[0])):
            if taken + len(unit) <= want:
                chosen.update(unit)
                taken += len(unit)
    return [i for i in ids if i in chosen], [i for i in ids if i not in chosen]
