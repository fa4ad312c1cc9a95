"""Read messages from files: JSONL, CSV, single `.eml` files, folders of them, and mbox.

Every reader streams: memory stays bounded by the largest single message (`max_bytes`), never the file.
A bad record becomes a `Rejection` naming the file and line or message number; the good ones still flow.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, BinaryIO

from postroom.ingest.fields import (
    DuplicateKeyError,
    RecordError,
    allowed_fields,
    check_message_id,
    loads_json,
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
    """Messages from a file or a folder (recursively: every file with a known suffix, in name order; hidden
    files and folders are skipped). A folder with nothing to read is one rejection naming what was skipped."""
    if not path.exists():
        yield Rejection(str(path), "no such file or folder")
        return
    if path.is_dir():
        files, skipped, unreadable = _folder_files(path)
        for folder, reason in unreadable:
            yield Rejection(str(folder), f"cannot read the folder: {reason}")
        if not files and not unreadable:
            yield Rejection(str(path), _nothing_to_read(skipped))
        for file in files:
            yield from read_file(file, taxonomy, max_bytes)
        return
    yield from read_file(path, taxonomy, max_bytes)


def _folder_files(folder: Path) -> tuple[list[Path], list[str], list[tuple[Path, str]]]:
    """The files of `folder` to read (known suffix, not hidden, in name order), the names of what was
    skipped (hidden files and folders such as `.DS_Store`, `.git/`; files of other types), and the folders
    that could not be read, with why. Linked folders are followed, each real folder once (no loops)."""
    files: list[Path] = []
    skipped: set[str] = set()
    unreadable: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def refused(error: OSError) -> None:
        unreadable.append((Path(error.filename or folder), error.strerror or type(error).__name__))

    for root, dirs, names in os.walk(folder, onerror=refused, followlinks=True):
        here = Path(root)
        real = here.resolve()
        if real in seen:  # a link back to a folder already read
            dirs[:] = []
            continue
        seen.add(real)
        # hidden folders are not read at all (a .git folder can hold thousands of files)
        skipped.update((here / d).relative_to(folder).as_posix() + "/" for d in dirs if d.startswith("."))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            file = here / name
            if not file.is_file():
                continue
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES:
                files.append(file)
            else:  # a hidden file, or one of another type
                skipped.add(file.relative_to(folder).as_posix())
    return sorted(files), sorted(skipped), unreadable


def _nothing_to_read(skipped: list[str], shown: int = 5) -> str:
    """Why a folder gave no messages, naming (some of) what was skipped."""
    reason = f"no messages found: the folder holds no {', '.join(SUFFIXES)} files"
    if not skipped:
        return reason
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{reason} (skipped: {', '.join(skipped[:shown])}{more})"


def _wide_encoding(start: bytes) -> str | None:
    """`UTF-16` or `UTF-32` when a file starts with that byte-order mark (Windows' "Unicode" text); None
    otherwise. Read as UTF-8 it would fail on every line with a reason that does not say why."""
    if start.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    return None


def read_file(path: Path, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        yield Rejection(str(path), f"unsupported file type {path.suffix!r} (use {', '.join(SUFFIXES)})")
        return
    try:
        with path.open("rb") as stream:
            if (encoding := _wide_encoding(stream.read(4))) is not None:
                yield Rejection(
                    str(path), f"the file is {encoding} text: save it as UTF-8 (Excel: CSV UTF-8)"
                )
                return
            stream.seek(0)
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


def format_size(n_bytes: int) -> str:
    """A byte count for people: `25 MiB`, `1.5 MiB`, `9.8 KiB`, `500 bytes`."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n_bytes} bytes"


def _too_large(max_bytes: int) -> str:
    return f"record larger than the limit of {format_size(max_bytes)} (POSTROOM_MAX_MESSAGE_BYTES)"


def read_jsonl(stream: BinaryIO, name: str, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    """JSON Lines, one object a line; a UTF-8 byte-order mark before the first line is skipped. A file with
    no record at all (empty, or blank lines only) is one rejection, as an empty CSV or .eml is."""
    records = 0
    for number, line in _bounded_lines(stream, max_bytes):
        origin = f"{name}:{number}"
        if line is None:
            records += 1
            yield Rejection(origin, _too_large(max_bytes))
            continue
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if not line.strip():
            continue
        records += 1
        record = _json_object(line)
        if isinstance(record, str):
            yield Rejection(origin, record)
            continue
        yield record_to_message(record, taxonomy, origin)
    if records == 0:
        yield Rejection(name, "empty file (no records)")


def _json_object(line: bytes) -> dict[str, Any] | str:
    """The JSON object on one line, or why there is none."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start} of the line)"
    try:
        record = loads_json(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    except DuplicateKeyError as exc:
        return str(exc)
    except RecordError as exc:  # NaN, Infinity
        return f"not valid JSON: {exc}"
    except RecursionError:
        return "not valid JSON: nested too deeply"
    except ValueError:  # an integer of more than 4300 digits
        return "not valid JSON: a number too long to read"
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    return record


class _EndWatch:
    """The lines of a file, noting when they ran out: a CSV row that needed the end of the file to finish
    ends inside a quoted field (Python's csv accepts that silently)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.hit_end = False

    def __iter__(self) -> _EndWatch:
        return self

    def __next__(self) -> str:
        try:
            return next(self._lines)
        except StopIteration:
            self.hit_end = True
            raise


TRUNCATED_CSV = "unterminated quoted field at end of file: the file looks truncated"


def read_csv(path: Path, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    """CSV with a header row; columns as in JSONL (metadata as a JSON string). A UTF-8 byte-order mark (as
    Excel writes) is skipped; a last row cut off inside a quoted field is rejected as truncated."""
    csv.field_size_limit(max_bytes)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        lines = _EndWatch(handle)
        reader = csv.DictReader(lines)
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            yield Rejection(str(path), f"not a CSV file: {exc}")
            return
        if not header:
            yield Rejection(str(path), "empty CSV file (no header row)")
            return
        if lines.hit_end:
            yield Rejection(str(path), f"header row: {TRUNCATED_CSV}")
            return
        unknown = unknown_fields(list(header), taxonomy)
        if len(header) == 1 and ";" in header[0] and not unknown_fields(header[0].split(";"), taxonomy):
            yield Rejection(
                str(path),
                "the columns are separated by semicolons (as German Excel saves CSV); save it "
                "comma-separated (Excel: CSV UTF-8) or as JSON Lines; no row read",
            )
            return
        if unknown:
            yield Rejection(
                str(path),
                f"unknown column(s) {', '.join(map(repr, unknown))} in the header; no row read "
                f"(allowed: {allowed_fields(taxonomy)})",
            )
            return
        duplicates = [name for name, count in Counter(header).items() if count > 1]
        if duplicates:
            yield Rejection(
                str(path),
                f"duplicate column(s) {', '.join(map(repr, duplicates))} in the header; no row read "
                "(each column may appear once)",
            )
            return
        rows = 0
        while True:
            origin = f"{path}:{reader.line_num + 1}"
            try:
                row = next(reader)
                rows += 1
            except StopIteration:
                if rows == 0:
                    yield Rejection(str(path), "CSV file with a header but no rows")
                return
            except csv.Error as exc:
                rows += 1
                reason = _too_large(max_bytes) if "field limit" in str(exc) else f"malformed CSV: {exc}"
                yield Rejection(origin, reason)
                continue
            yield _csv_row(row, origin, taxonomy, truncated=lines.hit_end)


def _csv_row(row: dict[str | Any, Any], origin: str, taxonomy: Taxonomy, truncated: bool) -> Item:
    """One CSV row as a message, or why not."""
    raw_id = row.get("message_id")
    shown_id = raw_id if isinstance(raw_id, str) and raw_id and not _has_surrogates(raw_id) else None
    if truncated:
        return Rejection(origin, TRUNCATED_CSV, shown_id)
    if None in row:
        return Rejection(origin, "more fields than header columns")
    values = [v for v in row.values() if v is not None]
    if any(_has_surrogates(v) for v in values):
        return Rejection(origin, "not valid UTF-8", shown_id)
    return record_to_message({k: v for k, v in row.items() if v != ""}, taxonomy, origin)


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
        found = _msg_id(_header(headers, "Message-ID"))
        if found is None or not str(found).strip():  # say it as a mail admin knows it
            raise RecordError("no Message-ID header (an email is stored and classified by its ID)")
        message_id = check_message_id(found)
        labels: dict[str, str] = {}
        for key in headers:
            lowered = key.lower()
            if not lowered.startswith(LABEL_HEADER_PREFIX):
                continue
            set_name = lowered.removeprefix(LABEL_HEADER_PREFIX).replace("-", "_")
            value = (_header(headers, key) or "").strip()
            if len({(v or "").strip() for v in _all_headers(headers, key)}) > 1:
                raise RecordError(f"header {key} is given more than once, with different labels")
            try:
                taxonomy.validate_label(set_name, value)
            except TaxonomyError as exc:
                raise RecordError(f"header {key}: {exc}") from None
            labels[set_name] = value
    except RecordError as exc:
        return Rejection(origin, str(exc))
    return IncomingMessage(message_id=message_id, raw=data, raw_format="rfc822", origin=origin, labels=labels)


_MSG_ID = re.compile(r"<([^<>]*)>")


def _msg_id(value: str | None) -> str | None:
    """The msg-id of a Message-ID header: what its first angle brackets hold, without a comment after it
    (`<a@x> (sent by …)` is `a@x`); the whole value when it has none."""
    if value is None:
        return None
    found = _MSG_ID.search(value)
    return found.group(1) if found else value


def _all_headers(headers: object, name: str) -> list[str]:
    """Every value of the header `name` (an unreadable one as "")."""
    try:
        values = headers.get_all(name) or []  # type: ignore[attr-defined]
    except (ValueError, IndexError, TypeError):
        return [""]
    return [str(v) for v in values]


def _header(headers: object, name: str) -> str | None:
    try:
        value = headers.get(name)  # type: ignore[attr-defined]
    except (ValueError, IndexError, TypeError):  # malformed header values
        return None
    return None if value is None else str(value)


@dataclass
class _MboxMessage:
    """One message of an mbox file while its lines are read."""

    number: int
    start_line: int
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    oversize: bool = False

    def add(self, line: bytes | None, max_bytes: int) -> None:
        """Add a line (None: one over the limit); `>From ` is unescaped; past the limit nothing is kept."""
        if self.oversize:
            return
        if line is None or self.size + len(line) > max_bytes:
            self.oversize, self.lines = True, []
            return
        self.size += len(line)
        if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
            line = line[1:]
        self.lines.append(line)

    def origin(self, name: str) -> str:
        return f"{name} message {self.number} (line {self.start_line})"

    def finish(self, name: str, taxonomy: Taxonomy, max_bytes: int) -> Item:
        """The message, without the empty line that ends every message in an mbox (it is the format's)."""
        if self.oversize:
            return Rejection(self.origin(name), _too_large(max_bytes))
        lines = self.lines
        if lines and lines[-1] in (b"\n", b"\r\n"):
            lines = lines[:-1]
        return rfc822_to_message(b"".join(lines), self.origin(name), taxonomy)


def read_mbox(stream: BinaryIO, name: str, taxonomy: Taxonomy, max_bytes: int) -> Iterator[Item]:
    """mbox (mboxo/mboxrd): a message starts at a `From ` line at the top of the file, after an empty line or
    after another `From ` line; `>From ` lines are unescaped; the empty line before the next `From ` line
    (and at the end of the file) separates messages and is not part of either."""
    current: _MboxMessage | None = None
    may_start = True  # whether a `From ` line here starts a message
    last_line = b""
    for line_no, line in _bounded_lines(stream, max_bytes):
        if line is not None and line.startswith(b"From ") and may_start:
            if current is not None:
                yield current.finish(name, taxonomy, max_bytes)
            current = _MboxMessage(current.number + 1 if current else 1, line_no)
            last_line = line
            continue
        if current is None:
            yield Rejection(name, "not an mbox file: it must start with a 'From ' line")
            return
        current.add(line, max_bytes)
        may_start = line is not None and not line.strip()
        last_line = line if line is not None else last_line
    if current is None:
        yield Rejection(name, "empty mbox file")
        return
    if not last_line.endswith(b"\n"):
        yield Rejection(current.origin(name), "truncated: the file ends mid-line")
        return
    yield current.finish(name, taxonomy, max_bytes)
