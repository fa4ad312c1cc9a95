"""`postroom classify-heldout`: classify a model's held-out messages over HTTP by ID, as the router would.

The held-out IDs come from the version's `dataset.json` (training.registry); the true labels from the store.
Without a URL the real service is started on loopback with a temporary router key, and stopped afterwards.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from postroom.errors import PostroomError
from postroom.latency import percentiles
from postroom.settings import Settings
from postroom.store import get_engine, session_factory
from postroom.store.models import Label, Message
from serving.auth import add_key
from serving.lifecycle import resolve_source
from serving.loopback import running_service
from training.registry import DATASET_FILE, Registry


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


def _labels(settings: Settings, ids: list[str]) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    with session_factory(get_engine(settings.database_url))() as session:
        rows = session.execute(
            select(Message.message_id, Label.label_set, Label.class_name)
            .join(Label, Label.message_pk == Message.id)
            .where(Message.message_id.in_(ids), Label.is_current.is_(True))
        )
        for message_id, label_set, class_name in rows:
            labels.setdefault(message_id, {})[label_set] = class_name
    return labels


def _classify_all(url: str, key: str, ids: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    latencies: list[float] = []
    results: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for index, message_id in enumerate(ids, 1):
            started = time.perf_counter()
            response = client.post("/v1/classify", json={"message_id": message_id})
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                results[message_id] = response.json()
            else:
                errors.append(f"{message_id}: {response.status_code} {response.json().get('error')}")
            if index % 100 == 0:
                log(f"{index}/{len(ids)} classified")
    return {"results": results, "errors": errors, "latencies": latencies}


def classify_heldout(
    settings: Settings,
    model: str,
    url: str | None,
    key: str | None,
    limit: int | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    source = resolve_source(settings.registry_dir, model)
    ids = heldout_ids(Registry(settings.registry_dir).get(source.version).path)[:limit]
    if not ids:
        raise PostroomError(f"{source.version} has no held-out messages")
    if url is not None:
        if not key:
            raise PostroomError("--url needs a router key: --key or POSTROOM_API_KEY")
        run = _classify_all(url.rstrip("/"), key, ids, log)
        served = url
    else:
        with tempfile.TemporaryDirectory(prefix="postroom-demo-") as tmp:
            keys_file = Path(tmp) / "keys.json"
            temp_key = add_key(keys_file, f"demo-{secrets.token_hex(3)}", "router")
            env = {
                "POSTROOM_SERVE_MODEL": model,
                "POSTROOM_API_KEYS_FILE": str(keys_file),
                "POSTROOM_SERVE_WATCH_SECONDS": "0",
            }
            log(f"starting the service on loopback for {source.version}…")
            with running_service(env) as service:
                log(
                    f"serving {service.model['version']} ({service.model['variant']} on "
                    f"{service.model['provider']}) at {service.url}; classifying {len(ids)} messages by ID"
                )
                run = _classify_all(service.url, temp_key, ids, log)
                served = service.url
    truth = _labels(settings, ids)
    accuracy: dict[str, dict[str, Any]] = {}
    decisions: Counter[str] = Counter()
    for message_id, result in run["results"].items():
        decision = result["decision"]
        decisions[f"{decision['decision']}:{decision['queue']}"] += 1
        for label_set, predicted in result["predictions"].items():
            expected = truth.get(message_id, {}).get(label_set)
            if expected is None:
                continue
            entry = accuracy.setdefault(label_set, {"n": 0, "correct": 0})
            entry["n"] += 1
            entry["correct"] += predicted["class"] == expected
    for entry in accuracy.values():
        entry["accuracy"] = entry["correct"] / entry["n"] if entry["n"] else 0.0
    return {
        "version": source.version,
        "url": served,
        "classified": len(run["results"]),
        "errors": len(run["errors"]),
        "error_examples": run["errors"][:5],
        "accuracy": accuracy,
        "decisions": dict(decisions.most_common()),
        "latency": percentiles(run["latencies"]),
    }
