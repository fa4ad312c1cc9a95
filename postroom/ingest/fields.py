"""Turn one record's fields (a JSONL object, a CSV row) into an `IncomingMessage`, or say what is wrong."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from postroom.ingest.records import BASE_FIELDS, BODY_FIELDS, IncomingMessage, Rejection
from postroom.taxonomy import Taxonomy, TaxonomyError

MAX_ID_LENGTH = 512
_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


class RecordError(ValueError):
    """A record-level problem; the message names the field."""


def check_message_id(value: object) -> str:
    """A usable external message ID: a non-empty string without control characters, at most 512 chars."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError("missing message_id")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise RecordError(f"message_id must be a string, got {type(value).__name__}")
    text = str(value).strip().removeprefix("<").removesuffix(">")
    if not text:
        raise RecordError("missing message_id")
    if len(text) > MAX_ID_LENGTH:
        raise RecordError(f"message_id longer than {MAX_ID_LENGTH} characters")
    if _ID_FORBIDDEN.search(text):
        raise RecordError("message_id contains control characters")
    return text


def parse_timestamp(value: object, field_name: str = "received_at") -> datetime | None:
    """ISO 8601 timestamp or empty; a timestamp without a zone is rejected (it would be ambiguous)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field_name} must be an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{field_name} is not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise RecordError(f"{field_name} has no time zone: {value[:40]!r} (add +00:00 or Z)")
    return parsed


def _optional_text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _labels(record: dict[str, Any], taxonomy: Taxonomy) -> dict[str, str]:
    labels: dict[str, str] = {}
    for set_name in taxonomy.set_names:
        value = record.get(set_name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise RecordError(f"label {set_name} must be a string, got {type(value).__name__}")
        try:
            taxonomy.validate_label(set_name, value.strip())
        except TaxonomyError as exc:
            raise RecordError(str(exc)) from None
        labels[set_name] = value.strip()
    return labels


def _metadata(value: object) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):  # CSV carries metadata as a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RecordError("metadata is not valid JSON") from None
    if not isinstance(value, dict):
        raise RecordError(f"metadata must be an object, got {type(value).__name__}")
    return value


def unknown_fields(keys: list[str], taxonomy: Taxonomy) -> list[str]:
    """Keys that are neither base fields nor label sets."""
    allowed = set(BASE_FIELDS) | set(taxonomy.set_names)
    return [k for k in keys if k not in allowed]


def allowed_fields(taxonomy: Taxonomy) -> str:
    return ", ".join([*BASE_FIELDS, *taxonomy.set_names])


def record_to_message(record: dict[str, Any], taxonomy: Taxonomy, origin: str) -> IncomingMessage | Rejection:
    """Validate one record; every problem becomes a `Rejection` naming the record."""
    raw_id = record.get("message_id")
    shown_id = str(raw_id)[:80] if isinstance(raw_id, str | int) and raw_id != "" else None
    try:
        unknown = unknown_fields(list(record), taxonomy)
        if unknown:
            raise RecordError(
                f"unknown field(s) {', '.join(map(repr, unknown))} (allowed: {allowed_fields(taxonomy)})"
            )
        message_id = check_message_id(raw_id)
        bodies = [k for k in BODY_FIELDS if record.get(k) not in (None, "")]
        if len(bodies) != 1:
            raise RecordError(
                "needs exactly one of body, html or raw" + (f", got {', '.join(bodies)}" if bodies else "")
            )
        body_key = bodies[0]
        raw = record[body_key]
        if not isinstance(raw, str):
            raise RecordError(f"{body_key} must be a string, got {type(raw).__name__}")
        return IncomingMessage(
            message_id=message_id,
            raw=raw,
            raw_format=BODY_FIELDS[body_key],
            origin=origin,
            subject=_optional_text(record, "subject"),
            sender=_optional_text(record, "sender"),
            received_at=parse_timestamp(record.get("received_at")),
            metadata=_metadata(record.get("metadata")),
            labels=_labels(record, taxonomy),
        )
    except RecordError as exc:
        return Rejection(origin, str(exc), shown_id)
