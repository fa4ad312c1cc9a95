"""Turn one record's fields (a JSONL object, a CSV row) into an `IncomingMessage`, or say what is wrong."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from postroom.ingest.records import BASE_FIELDS, BODY_FIELDS, IncomingMessage, Rejection
from postroom.store.models import SENDER_MAX, as_utc
from postroom.taxonomy import Taxonomy, TaxonomyError

MAX_ID_LENGTH = 512
MAX_JSON_DEPTH = 32  # metadata nested deeper is refused: a response could not serialise it back
# Invisible characters that are not controls (Unicode category Cf, format, is checked too): default-ignorable
# letters and marks that render as nothing, so two IDs would look the same but differ.
_ID_IGNORABLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")  # only ever alone: Python joins a pair into one character
TIMESTAMP_EXAMPLE = "e.g. 2026-03-02T09:30:00+01:00 or 2026-03-02T08:30:00Z"


class RecordError(ValueError):
    """A record-level problem; the message names the field."""


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds a lone surrogate (JSON `"\\ud800"`): not Unicode, no store can keep it."""
    return _LONE_SURROGATE.search(text) is not None


def check_text(value: str, field_name: str) -> str:
    """`value` unchanged; a lone surrogate is rejected with the field named."""
    if has_lone_surrogate(value):
        raise RecordError(f"{field_name}: not valid Unicode (lone surrogate)")
    return value


class DuplicateKeyError(RecordError):
    """A JSON object names a key twice; Python would keep the last value and lose the others silently."""


def _reject_constant(name: str) -> NoReturn:
    raise RecordError(f"{name} is not allowed (use null or a string)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of `pairs`; a key given twice is an error, not "last wins"."""
    result = dict(pairs)
    if len(result) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"duplicate key {key[:80]!r} (each key may appear once in an object)")
            seen.add(key)
    return result


def loads_json(text: str | bytes, parse_float: Callable[[str], Any] | None = None) -> Any:
    """`json.loads` without the NaN, Infinity and -Infinity Python accepts but JSON does not, and without
    objects that name a key twice (at any depth). `parse_float` as `json.loads` takes it (None: `float`).

    Raises:
        RecordError: one of those constants; DuplicateKeyError (a RecordError) for a repeated key;
            json.JSONDecodeError for any other invalid JSON.
    """
    return json.loads(
        text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys, parse_float=parse_float
    )


def check_json_value(value: object, field_name: str) -> None:
    """Reject what a JSON column cannot hold or a response could not give back: lone surrogates in keys or
    strings, NaN or infinite floats (`1e999` parses as infinity), nesting deeper than `MAX_JSON_DEPTH`.
    Iterative, so deep nesting cannot exhaust the stack."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple) and depth > MAX_JSON_DEPTH:
            raise RecordError(f"{field_name}: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    check_text(key, field_name)
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            check_text(item, field_name)
        elif isinstance(item, float) and not math.isfinite(item):
            raise RecordError(f"{field_name}: NaN and Infinity (or numbers beyond 1e308) are not valid JSON")


def normalise_message_id(text: str) -> str:
    """`text` without surrounding whitespace and enclosing angle brackets (`<a@x>` is `a@x`), removed until
    none is left, so normalising twice gives the same ID: a stored ID finds itself. A bracket without its
    partner stays (`a@x>` is another ID than `a@x`)."""
    while True:
        inner = text.strip()
        if len(inner) >= 2 and inner[0] == "<" and inner[-1] == ">":
            inner = inner[1:-1]
        if inner == text:
            return text
        text = inner


def hidden_character(text: str) -> str | None:
    """The first character of `text` that is a control, a format character (zero-width, bidirectional
    control, soft hyphen…), a line or paragraph separator or another invisible one; None if there is none.
    IDs, and every reason or name an audit log shows on one line, refuse them."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char in _ID_IGNORABLE:
            return char
    return None


def check_message_id(value: object) -> str:
    """A usable external message ID (`normalise_message_id`): a non-empty string of at most 512 characters
    without control or invisible characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError("missing message_id")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise RecordError(f"message_id must be a string, got {type(value).__name__}")
    text = normalise_message_id(str(value))
    if not text:
        raise RecordError("missing message_id")
    if len(text) > MAX_ID_LENGTH:
        raise RecordError(f"message_id longer than {MAX_ID_LENGTH} characters")
    check_text(text, "message_id")
    if (found := hidden_character(text)) is not None:
        if unicodedata.category(found) == "Cc":
            raise RecordError(f"message_id contains the control character U+{ord(found):04X}")
        raise RecordError(
            f"message_id contains the invisible character U+{ord(found):04X} (zero-width, format or "
            "separator): it would make IDs that look the same but differ"
        )
    return text


def parse_timestamp(value: object, field_name: str = "received_at") -> datetime | None:
    """An ISO 8601 timestamp with a zone, converted to UTC (aware); None when empty.

    A timestamp without a zone is rejected (it would be ambiguous), and so is one that has no UTC
    equivalent in years 1 to 9999. Errors name the field and the format, never the submitted value.
    """
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field_name} must be an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(
            f"{field_name} is not an ISO 8601 timestamp with a time zone ({TIMESTAMP_EXAMPLE})"
        ) from None
    if parsed.tzinfo is None:
        raise RecordError(f"{field_name} has no time zone: add one ({TIMESTAMP_EXAMPLE})")
    return to_utc(parsed, field_name)


def to_utc(value: datetime, field_name: str = "received_at") -> datetime:
    """An aware `value` as the same instant in UTC; a naive one is taken as UTC.

    Raises:
        RecordError: the instant falls outside years 1 to 9999 in UTC (`9999-12-31T23:59:59-14:00`).
    """
    try:
        return as_utc(value)
    except OverflowError:
        raise RecordError(f"{field_name} is out of range in UTC (years 1 to 9999)") from None


def _optional_text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {type(value).__name__}")
    return check_text(value, key)


def _sender(record: dict[str, Any]) -> str | None:
    sender = _optional_text(record, "sender")
    if sender is not None and len(sender) > SENDER_MAX:
        raise RecordError(f"sender longer than {SENDER_MAX} characters")
    return sender


def _labels(record: dict[str, Any], taxonomy: Taxonomy) -> dict[str, str]:
    labels: dict[str, str] = {}
    for set_name in taxonomy.set_names:
        value = record.get(set_name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise RecordError(f"label {set_name} must be a string, got {type(value).__name__}")
        check_text(value, set_name)
        try:
            taxonomy.validate_label(set_name, value.strip())
        except TaxonomyError as exc:
            raise RecordError(str(exc)) from None
        labels[set_name] = value.strip()
    return labels


def _metadata(value: object) -> dict[str, Any]:
    """The metadata object (in CSV a JSON string); checked to be storable as JSON."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):  # CSV carries metadata as a JSON string
        try:
            value = loads_json(value)
        except (json.JSONDecodeError, RecursionError):
            raise RecordError("metadata is not valid JSON") from None
        except DuplicateKeyError as exc:
            raise RecordError(f"metadata: {exc}") from None
        except RecordError as exc:
            raise RecordError(f"metadata is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError(f"metadata must be an object, got {type(value).__name__}")
    check_json_value(value, "metadata")
    return value


def unknown_fields(keys: list[str], taxonomy: Taxonomy) -> list[str]:
    """Keys that are neither base fields nor label sets."""
    allowed = set(BASE_FIELDS) | set(taxonomy.set_names)
    return [k for k in keys if k not in allowed]


def allowed_fields(taxonomy: Taxonomy) -> str:
    """The allowed fields, for error messages."""
    return ", ".join([*BASE_FIELDS, *taxonomy.set_names])


def record_to_message(record: dict[str, Any], taxonomy: Taxonomy, origin: str) -> IncomingMessage | Rejection:
    """Validate one record; every problem becomes a `Rejection` naming the record."""
    raw_id = record.get("message_id")
    shown_id = _shown_id(raw_id)
    try:
        unknown = unknown_fields(list(record), taxonomy)
        if unknown:
            raise RecordError(
                f"unknown field(s) {', '.join(map(repr, unknown))} (allowed: {allowed_fields(taxonomy)})"
            )
        message_id = check_message_id(raw_id)
        bodies = [k for k in BODY_FIELDS if record.get(k) not in (None, "")]
        if len(bodies) != 1:
            empty = [k for k in BODY_FIELDS if record.get(k) == ""]
            got = f", got {', '.join(bodies)}" if bodies else (f", got an empty {empty[0]}" if empty else "")
            raise RecordError("needs exactly one of body, html or raw" + got)
        body_key = bodies[0]
        raw = record[body_key]
        if not isinstance(raw, str):
            raise RecordError(f"{body_key} must be a string, got {type(raw).__name__}")
        return IncomingMessage(
            message_id=message_id,
            raw=check_text(raw, body_key),
            raw_format=BODY_FIELDS[body_key],
            origin=origin,
            subject=_optional_text(record, "subject"),
            sender=_sender(record),
            received_at=parse_timestamp(record.get("received_at")),
            metadata=_metadata(record.get("metadata")),
            labels=_labels(record, taxonomy),
        )
    except RecordError as exc:
        return Rejection(origin, str(exc), shown_id)


def _shown_id(raw_id: object) -> str | None:
    """The ID to name a rejected record by; None when there is none or it cannot be printed."""
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        return None
    shown = str(raw_id)[:80]
    return None if has_lone_surrogate(shown) else shown
