"""Read messages from files: JSONL, CSV, single `.eml` files, folders of them, and mbox.

Every reader streams: memory stays bounded by the largest single message (`max_bytes`), never the file.
A bad record becomes a `Rejection` naming the file and line or message number; the good ones still flow.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import BinaryIO

from postroom.ingest.fields import (
    RecordError,
    allowed_fields,
    check_message_id,
    record_to_message,
    unknown_fields,
)
from postroom.ingest.records import IncomingMessage, Rejection
from postroom.taxonomy import Taxonomy, TaxonomyError

Item = IncomingMessage | Rejection

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".eml": "eml", ".mbox": "mbox"}
LABEL_HEADER_PREFIX = "x-postroom-"


class IngestSourceError(RecordError):
    """The source as a whole cannot be read (missing, unsupported type)."""


def read_path(path: Path, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    """Messages from a file or a folder (recursively: every file with a known suffix, in name order)."""
    if not path.exists():
        yield Rejection(str(path), "no such file or folder")
        return
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            yield Rejection(str(path), f"folder holds no {', '.join(SUFFIXES)} files")
        for file in files:
            if not any(part.startswith(".") for part in file.relative_to(path).parts):
                yield from read_file(file, taxonomy, max_bytes)
        return
    yield from read_file(path, taxonomy, max_bytes)


def read_file(path: Path, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        yield Rejection(str(path), f"unsupported file type {path.suffix!r} (use {', '.join(SUFFIXES)})")
        return
    try:
        with path.open("rb") as stream:
            if kind == "jsonl":
                yield from read_jsonl(stream, str(path), taxonomy, max_bytes)
            elif kind == "csv":
                yield from read_csv(path, taxonomy, max_bytes)
            elif kind == "eml":
                yield read_eml(stream, str(path), taxonomy, max_bytes)
            else:
                yield from read_mbox(stream, str(path), taxonomy, max_bytes)
    except OSError as exc:
        yield Rejection(str(path), f"cannot read: {exc.strerror or exc}")


def _bounded_lines(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Lines with their numbers; a line longer than `max_bytes` is skipped and given as None."""
    number = 0
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line


def _too_large(max_bytes: int) -> str:
    return f"record larger than the limit of {max_bytes // (1024 * 1024)} MiB (POSTROOM_MAX_MESSAGE_BYTES)"


def read_jsonl(stream: BinaryIO, name: str, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    for number, line in _bounded_lines(stream, max_bytes):
        origin = f"{name}:{number}"
        if line is None:
            yield Rejection(origin, _too_large(max_bytes))
            continue
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Rejection(origin, f"not valid UTF-8 (byte {exc.start} of the line)")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Rejection(origin, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(record, dict):
            yield Rejection(origin, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield record_to_message(record, taxonomy, origin)


def read_csv(path: Path, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    """CSV with a header row; columns as in JSONL (metadata as a JSON string)."""
    csv.field_size_limit(max_bytes)
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            yield Rejection(str(path), f"not a CSV file: {exc}")
            return
        if not header:
            yield Rejection(str(path), "empty CSV file (no header row)")
            return
        unknown = unknown_fields(list(header), taxonomy)
        if unknown:
            yield Rejection(
                str(path),
                f"unknown column(s) {', '.join(map(repr, unknown))} in the header; no row read "
                f"(allowed: {allowed_fields(taxonomy)})",
            )
            return
        while True:
            origin = f"{path}:{reader.line_num + 1}"
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = _too_large(max_bytes) if "field limit" in str(exc) else f"malformed CSV: {exc}"
                yield Rejection(origin, reason)
                continue
            origin = f"{path}:{origin.rsplit(':', 1)[1]}"
            if None in row:
                yield Rejection(origin, "more fields than header columns")
                continue
            values = [v for v in row.values() if v is not None]
            if any(_has_surrogates(v) for v in values):
                yield Rejection(origin, "not valid UTF-8", row.get("message_id") or None)
                continue
            yield record_to_message({k: v for k, v in row.items() if v != ""}, taxonomy, origin)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_eml(stream: BinaryIO, name: str, taxonomy: Taxonomy, max_bytes: int) -> Item:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        return Rejection(name, _too_large(max_bytes))
    return rfc822_to_message(data, name, taxonomy)


def rfc822_to_message(data: bytes, origin: str, taxonomy: Taxonomy) -> Item:
    """An RFC 822 source; labels come from `X-Postroom-<Label-Set>` headers (e.g. `X-Postroom-Topic`)."""
    if not data.strip():
        return Rejection(origin, "empty message")
    headers = BytesHeaderParser(policy=default_policy).parsebytes(data)
    try:
        message_id = check_message_id(_header(headers, "Message-ID"))
        labels: dict[str, str] = {}
        for key in headers:
            lowered = key.lower()
            if not lowered.startswith(LABEL_HEADER_PREFIX):
                continue
            set_name = lowered.removeprefix(LABEL_HEADER_PREFIX).replace("-", "_")
            value = (_header(headers, key) or "").strip()
            try:
                taxonomy.validate_label(set_name, value)
            except TaxonomyError as exc:
                raise RecordError(f"header {key}: {exc}") from None
            labels[set_name] = value
    except RecordError as exc:
        return Rejection(origin, str(exc))
    return IncomingMessage(message_id=message_id, raw=data, raw_format="rfc822", origin=origin, labels=labels)


def _header(headers: object, name: str) -> str | None:
    try:
        value = headers.get(name)  # type: ignore[attr-defined]
    except (ValueError, IndexError, TypeError):  # malformed header values
        return None
    return None if value is None else str(value)


def read_mbox(stream: BinaryIO, name: str, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    """mbox (mboxo/mboxrd): messages start at lines beginning with `From `; `>From ` lines are unescaped."""
    number = 0
    start_line = 0
    lines: list[bytes] = []
    size = 0
    oversize = False
    last_line = b""

    def finish() -> Item:
        origin = f"{name} message {number} (line {start_line})"
        if oversize:
            return Rejection(origin, _too_large(max_bytes))
        return rfc822_to_message(b"".join(lines), origin, taxonomy)

    for line_no, line in _bounded_lines(stream, max_bytes):
        if line is None:
            oversize = True
            continue
        last_line = line
        if line.startswith(b"From ") and (line_no == 1 or not lines or lines[-1].strip() == b"" or oversize):
            if number:
                yield finish()
            number += 1
            start_line, lines, size, oversize = line_no, [], 0, False
            continue
        if number == 0:
            yield Rejection(name, "not an mbox file: it must start with a 'From ' line")
            return
        if oversize:
            continue
        size += len(line)
        if size > max_bytes:
            oversize, lines = True, []
            continue
        if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
            line = line[1:]
        lines.append(line)
    if number == 0:
        yield Rejection(name, "empty mbox file")
        return
    if not last_line.endswith(b"\n"):
        yield Rejection(f"{name} message {number} (line {start_line})", "truncated: the file ends mid-line")
        return
    yield finish()
