"""`postroom classify-heldout`: classify a model's held-out messages over HTTP by ID, as the router would.

The held-out IDs come from the version's `dataset.json` (training.registry); the true labels from the store.
Messages already used to calibrate this version's thresholds (`postroom calibrate`) are left out, so the
routing outcome is measured on messages that neither trained the model nor chose its thresholds. Without a URL
the real service is started on loopback with a temporary router key, and stopped afterwards.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from postroom.errors import PostroomError
from postroom.latency import percentiles
from postroom.settings import Settings
from postroom.store import get_engine, session_factory
from postroom.taxonomy import Taxonomy
from serving.auth import add_key
from serving.heldout import calibrated_ids, current_labels, heldout_ids
from serving.lifecycle import resolve_source
from serving.loopback import running_service
from training.registry import Registry


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


def routing_outcome(
    taxonomy: Taxonomy, results: dict[str, dict[str, Any]], truth: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """What the router did with the classified messages, checked against their stored labels.

    An automated reply is right when the predicted reply-set class (the topic) is the message's true one; a
    message sent to a human queue is in the right queue when that queue is its true one (triage counts apart).
    """
    reply_set, queue_set = taxonomy.routing.reply_set, taxonomy.routing.queue_set
    auto = auto_right = 0
    queues: Counter[str] = Counter()
    queue_right: Counter[str] = Counter()
    for message_id, result in results.items():
        decision = result["decision"]
        expected = truth.get(message_id, {})
        if decision["decision"] == "auto_reply":
            auto += 1
            auto_right += result["predictions"].get(reply_set, {}).get("class") == expected.get(reply_set)
        else:
            queues[decision["queue"]] += 1
            queue_right[decision["queue"]] += decision["queue"] == expected.get(queue_set)
    return {
        "messages": len(results),
        "auto_reply": auto,
        "auto_reply_correct": auto_right,
        "auto_reply_precision": auto_right / auto if auto else None,
        "human": {
            q: {"messages": n, "right_queue": queue_right[q]} for q, n in sorted(queues.items())
        },
    }


def classify_heldout(
    settings: Settings,
    taxonomy: Taxonomy,
    model: str,
    url: str | None,
    key: str | None,
    limit: int | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    source = resolve_source(settings.registry_dir, model)
    ids = heldout_ids(Registry(settings.registry_dir).get(source.version).path)
    with session_factory(get_engine(settings.database_url))() as session:
        calibration = calibrated_ids(session, source.version)
    ids = [i for i in ids if i not in calibration][:limit]
    if not ids:
        raise PostroomError(
            f"{source.version} has no held-out messages left to classify"
            + (f" ({len(calibration)} were used for calibration)" if calibration else "")
        )
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
    with session_factory(get_engine(settings.database_url))() as session:
        truth = current_labels(session, ids)
    accuracy: dict[str, dict[str, Any]] = {}
    for message_id, result in run["results"].items():
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
        "left_out_for_calibration": len(calibration),
        "errors": len(run["errors"]),
        "error_examples": run["errors"][:5],
        "accuracy": accuracy,
        "routing": routing_outcome(taxonomy, run["results"], truth),
        "latency": percentiles(run["latencies"]),
    }
