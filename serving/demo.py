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

from postroom.errors import PostroomError, shown
from postroom.latency import percentiles
from postroom.settings import Settings
from postroom.store import get_engine, session_factory
from postroom.store.queries import stored_message_ids
from postroom.taxonomy import Taxonomy
from serving.auth import add_key
from serving.heldout import calibrated_ids, copies_of, current_labels, heldout_ids, near_copy_groups
from serving.lifecycle import resolve_source
from serving.loopback import http_problem, running_service
from training.registry import Registry

TIMEOUT = 60.0  # seconds for one classify request
REFUSED_KEY = (401, 403)  # the key is wrong for every message: stop at the first


def service_url(url: str) -> str:
    """`url` without a trailing slash if it is an http(s) URL with a host and a valid port; else a
    `PostroomError`."""
    try:
        parsed = httpx.URL(url)
        valid = parsed.scheme in ("http", "https") and bool(parsed.host) and 0 < (parsed.port or 80) < 65536
    except httpx.InvalidURL:
        valid = False
    if not valid:
        raise PostroomError(
            f"--url must be the service's http:// or https:// URL (http://127.0.0.1:8000), got {shown(url)}"
        )
    return url.rstrip("/")


def _post(client: httpx.Client, url: str, message_id: str) -> httpx.Response:
    """POST /v1/classify for one message; a service that cannot be reached is a `PostroomError`."""
    try:
        return client.post("/v1/classify", json={"message_id": message_id})
    except httpx.TimeoutException:
        raise PostroomError(f"the service at {url} did not answer within {TIMEOUT:.0f} s") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise PostroomError(f"cannot reach the service at {url} ({reason}); is it running?") from None


def _failure(url: str, message_id: str, response: httpx.Response) -> str:
    """The line that reports a failed request: HTTP status, the service's error and its detail. A refused key
    (401, 403) fails every message alike: a `PostroomError` at once."""
    error, detail = http_problem(response)
    if response.status_code in REFUSED_KEY:
        raise PostroomError(
            f"the service at {url} refused the key: HTTP {response.status_code} {error}: {detail}"
        )
    return f"{message_id}: HTTP {response.status_code} {error}: {detail}"


def _classify_all(url: str, key: str, ids: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    latencies: list[float] = []
    results: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT) as client:
        for index, message_id in enumerate(ids, 1):
            started = time.perf_counter()
            response = _post(client, url, message_id)
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                results[message_id] = response.json()
            else:
                errors.append(_failure(url, message_id, response))
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


def _accuracy(
    results: dict[str, dict[str, Any]], truth: dict[str, dict[str, str]]
) -> dict[str, dict[str, Any]]:
    """Per label set: messages with a stored label, how many the service classified as labeled."""
    accuracy: dict[str, dict[str, Any]] = {}
    for message_id, result in results.items():
        for label_set, predicted in result["predictions"].items():
            expected = truth.get(message_id, {}).get(label_set)
            if expected is None:
                continue
            entry = accuracy.setdefault(label_set, {"n": 0, "correct": 0})
            entry["n"] += 1
            entry["correct"] += predicted["class"] == expected
    for entry in accuracy.values():
        entry["accuracy"] = entry["correct"] / entry["n"] if entry["n"] else 0.0
    return accuracy


def _check_options(url: str | None, key: str | None, limit: int | None) -> str | None:
    """The service's URL (None: start one on loopback), once the options are checked."""
    if limit is not None and limit < 1:
        raise PostroomError(f"--limit must be at least 1, got {limit}")
    if url is None:
        return None
    if not key:
        raise PostroomError("--url needs a router key: --key or POSTROOM_API_KEY")
    return service_url(url)


def _ready_version(url: str) -> str | None:
    """The model version the service at `url` says it serves (`/readyz`), if it answers so."""
    try:
        response = httpx.get(f"{url}/readyz", timeout=TIMEOUT)
        return response.json()["model"]["version"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None  # the requests themselves say what is wrong


def _refuse_other_model(url: str, version: str, *served: str | None) -> None:
    """Refuse figures of another model than `version` (the held-out IDs and calibration exclusions are
    `version`'s): a service not yet reloaded after a promotion, or `--model` naming another version."""
    others = sorted({v for v in served if v is not None and v != version})
    if others:
        raise PostroomError(
            f"the service at {url} serves {', '.join(others)}, not {version}: its figures would be reported "
            f"as {version}'s, on messages chosen for {version}; name the served version with --model, or "
            "reload the service (POST /v1/admin/reload)"
        )


def _classify_on_loopback(
    model: str, version: str, ids: list[str], log: Callable[[str], None]
) -> tuple[dict[str, Any], str]:
    """Start the service on loopback with a temporary router key, classify `ids`, stop it; (run, its URL)."""
    with tempfile.TemporaryDirectory(prefix="postroom-demo-") as tmp:
        keys_file = Path(tmp) / "keys.json"
        temp_key = add_key(keys_file, f"demo-{secrets.token_hex(3)}", "router")
        env = {
            "POSTROOM_SERVE_MODEL": model,
            "POSTROOM_API_KEYS_FILE": str(keys_file),
            "POSTROOM_SERVE_WATCH_SECONDS": "0",
        }
        log(f"starting the service on loopback for {version}…")
        with running_service(env) as service:
            log(
                f"serving {service.model['version']} ({service.model['variant']} on "
                f"{service.model['provider']}) at {service.url}; classifying {len(ids)} messages by ID"
            )
            return _classify_all(service.url, temp_key, ids, log), service.url


def classify_heldout(
    settings: Settings,
    taxonomy: Taxonomy,
    model: str,
    url: str | None,
    key: str | None,
    limit: int | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Classify the held-out messages of `model` not used for calibration (at most `limit`) over HTTP: at
    `url` with `key`, or on a service started on loopback. Raises `PostroomError` on bad options, a service
    that cannot be reached or cannot load the model, and a key it refuses."""
    url = _check_options(url, key, limit)
    source = resolve_source(settings.registry_dir, model)
    version_dir = Registry(settings.registry_dir).get(source.version).path
    ids = heldout_ids(version_dir)
    with session_factory(get_engine(settings.database_url))() as session:
        calibration = calibrated_ids(session, source.version)
        stored = stored_message_ids(session, ids)
    copies = copies_of(calibration, near_copy_groups(version_dir) or [])  # a near-copy of one is not unseen
    erased = [i for i in ids if i not in stored]  # `postroom forget` / `purge` since training
    ids = [i for i in ids if i not in calibration and i not in copies and i in stored][:limit]
    if not ids:
        why = [f"{len(calibration)} were used for calibration"] if calibration else []
        why += [f"{len(copies)} are near-copies of those"] if copies else []
        why += [f"{len(erased)} are not in the store"] if erased else []
        reasons = f" ({'; '.join(why)})" if why else ""
        raise PostroomError(f"{source.version} has no held-out messages left to classify{reasons}")
    if url is not None and key:
        _refuse_other_model(url, source.version, _ready_version(url))
        run, served = _classify_all(url, key, ids, log), url
        answered = Counter(r.get("model_version") for r in run["results"].values())
        _refuse_other_model(url, source.version, *(v for v in answered if v != source.version))
    else:
        run, served = _classify_on_loopback(model, source.version, ids, log)
    with session_factory(get_engine(settings.database_url))() as session:
        truth = current_labels(session, ids)
    return {
        "version": source.version,
        "url": served,
        "classified": len(run["results"]),
        "left_out_for_calibration": len(calibration),
        "left_out_as_copies": len(copies),
        "not_in_store": len(erased),
        "errors": len(run["errors"]),
        "error_examples": run["errors"][:5],
        "accuracy": _accuracy(run["results"], truth),
        "routing": routing_outcome(taxonomy, run["results"], truth),
        "latency": percentiles(run["latencies"]),
    }
