"""From the registry and the store to what the export needs: the version, its export directory, the texts.

The parity gate runs on the version's held-out messages (`dataset.json` lists their IDs; the texts are read
from the store as the model saw them, `Message.model_text`), or on texts from a JSONL file. int8's
second-look margins are calibrated on the other stored messages (`calibration_texts`).
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import Message
from postroom.workdirs import EXPORTS_DIR
from training.errors import VersionNotFound
from training.export.errors import ExportError
from training.registry import DATASET_FILE, ModelVersion, Registry

CALIBRATION_LIMIT = 1000  # int8's error quantile settles well before; more only costs export time


def resolve_version(registry: Registry, name: str) -> ModelVersion:
    """`production`, `latest`, `v0003` or `3`."""
    if name == "production":
        version = registry.production()
        if version is None:
            raise VersionNotFound(
                f"no version is in production in {registry.root}; name one (postroom models list)"
            )
        return version
    return registry.get(name)


def export_dir(registry: Registry, version: str) -> Path:
    return registry.root / EXPORTS_DIR / version


def heldout_message_ids(version: ModelVersion) -> list[str]:
    """The held-out message IDs of every label set, in first-seen order."""
    path = version.path / DATASET_FILE
    if not path.is_file():
        raise ExportError(
            f"version {version.version} has no {DATASET_FILE}: pass --texts for the parity gate"
        )
    record = json.loads(path.read_text("utf-8"))
    ids = list(record.get("eval_message_ids") or [])
    for entry in (record.get("label_sets") or {}).values():
        ids.extend(entry.get("eval_message_ids") or [])
    return list(dict.fromkeys(str(i) for i in ids))


def heldout_texts(session: Session, version: ModelVersion) -> tuple[list[str], int]:
    """Texts of the held-out messages found in the store, and how many IDs were not found."""
    ids = heldout_message_ids(version)
    texts: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for message in session.scalars(select(Message).where(Message.message_id.in_(chunk))):
            texts[message.message_id] = message.model_text
    found = [texts[i] for i in ids if i in texts and texts[i].strip()]
    return found, len(ids) - len(found)


def calibration_texts(session: Session, version: ModelVersion, limit: int = CALIBRATION_LIMIT) -> list[str]:
    """Texts for int8's second-look margins: stored messages that are not held out, oldest first.

    No labels are needed (int8 is compared with fp32), and the held-out messages stay the gate's.
    """
    try:
        held = set(heldout_message_ids(version))
    except ExportError:  # no dataset.json: nothing is known to be held out, so nothing is taken
        return []
    texts: list[str] = []
    for message in session.scalars(select(Message).order_by(Message.id).execution_options(yield_per=500)):
        if message.message_id in held:
            continue
        text = message.model_text
        if text.strip():
            texts.append(text)
            if len(texts) >= limit:
                break
    return texts


def texts_from_jsonl(path: Path, limit: int | None = None) -> list[str]:
    """The `text` field of every line of a JSONL file (as in ../shared/data); `ExportError` if none."""
    texts = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    raise ExportError(f"{path}:{number}: not a JSON object with a `text` field") from None
                if isinstance(value, str) and value.strip():
                    texts.append(value)
                if limit is not None and len(texts) >= limit:
                    break
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ExportError(f"cannot read {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not texts:
        raise ExportError(f"{path} has no line with a non-empty `text` field for the parity gate")
    return texts
