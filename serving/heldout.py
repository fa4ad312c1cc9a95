"""A model version's held-out messages: their IDs, their current labels, and their calibration half.

The held-out IDs come from the version's `dataset.json` (training.registry): messages the model never trained
on. `postroom calibrate` classifies part of them for the thresholds (stored with purpose `calibration`);
`postroom classify-heldout` then classifies the rest, so the routing it reports is measured on messages that
neither trained the model nor chose its thresholds.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.errors import PostroomError
from postroom.store.models import PURPOSE_CALIBRATION, Label, Message, Prediction
from training.registry import DATASET_FILE


def heldout_ids(version_dir: Path) -> list[str]:
    """The held-out message IDs of a version (every label set's), in first-seen order."""
    path = version_dir / DATASET_FILE
    if not path.is_file():
        raise PostroomError(f"{version_dir.name} has no {DATASET_FILE}: no held-out messages to classify")
    record = json.loads(path.read_text(encoding="utf-8"))
    ids = list(record.get("eval_message_ids") or [])
    for entry in (record.get("label_sets") or {}).values():
        ids.extend(entry.get("eval_message_ids") or [])
    return list(dict.fromkeys(str(i) for i in ids))


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


def calibration_split(ids: list[str], strata: dict[str, str], fraction: float) -> tuple[list[str], list[str]]:
    """Split `ids` into (calibration, rest), stratified by `strata[id]` (missing: one stratum of its own).

    Deterministic: within a stratum the IDs are ordered by the SHA-256 of the ID, and the first
    `round(fraction * n)` calibrate. A stratum of one message stays in the rest.
    """
    if not 0.0 < fraction < 1.0:
        raise PostroomError(f"the calibration fraction must be in (0, 1), got {fraction!r}")
    groups: dict[str, list[str]] = defaultdict(list)
    for message_id in ids:
        groups[strata.get(message_id, "")].append(message_id)
    chosen: set[str] = set()
    for members in groups.values():
        n = int(fraction * len(members) + 0.5) if len(members) > 1 else 0
        chosen.update(sorted(members, key=_order_key)[:n])
    return [i for i in ids if i in chosen], [i for i in ids if i not in chosen]
