"""RFC 822 / MIME parsing with the standard library: headers, the text and HTML bodies, attachments.

Robust by construction: the compat32 policy (no header objects that raise on access), an iterative walk
with a depth limit and a part limit, per-part charset fallbacks, and a recovery pass for multipart
messages whose declared boundary never occurs. Problems become flags, never exceptions.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.message
import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from postroom.cleaning.charset import decode_bytes, normalise_charset, sniff_html_charset
from postroom.cleaning.models import Attachment

MAX_MIME_DEPTH = 30  # multipart nesting followed before giving up (real mail rarely exceeds 6)
MAX_MIME_PARTS = 1000  # parts visited at most
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,200}?)(--)?\s*$", re.MULTILINE)
_ENCODED_WORD = re.compile(r"=\?([^?]*?)\?([qQbB])\?(.*?)\?=")  # as email.header's, RFC 2047
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_SURROGATE = re.compile(r"[\udc80-\udcff]")  # an 8-bit byte kept by surrogateescape


@dataclass
class ParsedMime:
    """What the cleaner needs from a MIME message."""

    subject: str | None = None
    sender: str | None = None
    received_at: datetime | None = None
    message_id: str | None = None
    text: str | None = None  # the first text/plain body part
    html: str | None = None  # the first text/html body part
    attachments: list[Attachment] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    from_text: bool = field(default=False, repr=False)  # parsed from a str: its characters are final

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


def decode_header_value(value: object) -> str | None:
    """An RFC 2047-decoded, whitespace-normalised header value, or None.

    Raw 8-bit bytes in the header (no encoded-word) are read as UTF-8 when valid, else as Windows-1252; an
    encoded-word that cannot be decoded (invalid base64) is kept as its literal text, as mail clients do.
    """
    if value is None:
        return None
    decoded = " ".join(_decode_encoded_words(_header_text(value)).split())
    return decoded or None


def _header_text(value: object) -> str:
    """The characters of a header value; 8-bit bytes (compat32 keeps them as surrogates) decoded."""
    if isinstance(value, email.header.Header):  # compat32 wraps a value holding 8-bit bytes in one
        try:
            chunks = email.header.decode_header(value)
        except (LookupError, UnicodeError):
            return str(value)
        data = b"".join(
            c if isinstance(c, bytes) else c.encode("utf-8", "surrogateescape") for c, _ in chunks
        )
    else:
        text = str(value)
        if not _SURROGATE.search(text):
            return text
        data = text.encode("utf-8", "surrogateescape")
    return decode_bytes(data)[0]


def _decode_encoded_words(text: str) -> str:
    """`text` with its RFC 2047 encoded-words decoded. Adjacent words in one charset are joined before
    decoding (mailers split multi-byte characters across words), whitespace between two words is dropped,
    and a word whose payload is invalid stays as written."""
    tokens: list[str | tuple[bytes, str]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        payload = _word_bytes(match.group(2), match.group(3))
        if payload is None:
            continue  # stays part of the literal text around it
        between = text[pos : match.start()]
        if between and not (between.isspace() and tokens and isinstance(tokens[-1], tuple)):
            tokens.append(between)
        charset = match.group(1).partition("*")[0].lower()  # RFC 2231 adds a language: utf-8*de
        last = tokens[-1] if tokens else None
        if isinstance(last, tuple) and last[1] == charset and (not between or between.isspace()):
            tokens[-1] = (last[0] + payload, charset)
        else:
            tokens.append((payload, charset))
        pos = match.end()
    tokens.append(text[pos:])
    return "".join(t if isinstance(t, str) else decode_bytes(t[0], t[1] or None)[0] for t in tokens)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of an encoded-word's payload; None when they cannot be read (the word is kept as text)."""
    if encoding in "qQ":
        try:
            data = payload.replace("_", " ").encode("ascii")
        except UnicodeEncodeError:
            return None
        return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    if len(payload) % 4 == 1 or not _BASE64.fullmatch(payload):
        return None
    try:  # missing padding is added, as Python's decode_header does
        return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except binascii.Error:
        return None


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    cleaned = value.strip().strip("<>").strip()
    return cleaned or None


def _payload_bytes(part: email.message.Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


_ENCODED_CTES = {"base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue", "uue"}


def _text_already(part: email.message.Message) -> str | None:
    """The body of a part of a `str` source when it holds non-ASCII characters and no transfer encoding:
    those characters are text already, not bytes in the declared charset."""
    payload = part.get_payload()
    if not isinstance(payload, str) or payload.isascii():
        return None
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    return None if cte in _ENCODED_CTES else payload


def _part_text(part: email.message.Message, result: ParsedMime, html: bool) -> str:
    if result.from_text and (text := _text_already(part)) is not None:
        return text
    data = _payload_bytes(part)
    declared = part.get_param("charset")
    declared = declared if isinstance(declared, str) else None
    if html and normalise_charset(declared) is None:
        declared = sniff_html_charset(data) or declared
    text, fell_back = decode_bytes(data, declared)
    if fell_back:
        result.flag("charset_fallback")
    return text


def _filename(part: email.message.Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        name = part.get_param("name")
        name = name if isinstance(name, str) else None
    return decode_header_value(name) if name else None


def _recover_boundary(msg: email.message.Message) -> email.message.Message | None:
    """Re-parse a multipart message whose declared boundary is absent, using the one its body uses."""
    body = msg.get_payload()
    if not isinstance(body, str):
        return None
    data = body.encode("utf-8", "surrogateescape")
    match = _BOUNDARY_LINE.search(data)
    if match is None:
        return None
    boundary = match.group(1).decode("ascii", "replace")
    if boundary == msg.get_boundary():
        return None
    head = "".join(f"{key}: {value}\n" for key, value in msg.items() if key.lower() != "content-type")
    head += f'Content-Type: {msg.get_content_type()}; boundary="{boundary}"\n\n'
    try:
        return email.message_from_bytes(head.encode("utf-8", "surrogateescape") + data)
    except Exception:
        return None


def _walk(root: email.message.Message, result: ParsedMime) -> None:
    """Visit the parts depth-first. The first text/plain part is the body; inline text/plain parts after it
    in the same multipart/mixed (iOS Mail puts the client's text around a photo: text, image, text) are the
    client's text too and are appended to it; those of a multipart/alternative are other renderings."""
    stack: list[tuple[email.message.Message, int, email.message.Message | None]] = [(root, 0, None)]
    visited = 0
    text_parent: email.message.Message | None = None
    while stack:
        part, depth, parent = stack.pop()
        visited += 1
        if visited > MAX_MIME_PARTS:
            result.flag("mime_part_limit")
            return
        if getattr(part, "defects", None):
            result.flag("mime_defects")
        ctype = part.get_content_type()
        if part.is_multipart():
            children = part.get_payload()
            if not isinstance(children, list):
                continue
            if ctype == "message/rfc822":  # an attached e-mail: describe it, do not read it as the body
                size = sum(len(_payload_bytes(c)) for c in children if isinstance(c, email.message.Message))
                result.attachments.append(Attachment(_filename(part), ctype, size))
                continue
            if depth + 1 > MAX_MIME_DEPTH:
                result.flag("mime_depth_limit")
                continue
            stack.extend(
                (child, depth + 1, part)
                for child in reversed(children)
                if isinstance(child, email.message.Message)
            )
            continue
        if ctype.startswith("multipart/"):  # declared multipart but no parts: boundary problems
            result.flag("mime_defects")
            recovered = _recover_boundary(part) if depth == 0 else None
            if recovered is not None and recovered.is_multipart():
                stack.append((recovered, depth, parent))
                continue
            if result.text is None:
                result.text = _part_text(part, result, html=False)
            continue
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = _filename(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment":
            if ctype == "text/plain" and result.text is None:
                result.text = _part_text(part, result, html=False)
                text_parent = parent
                continue
            if ctype == "text/html" and result.html is None:
                result.html = _part_text(part, result, html=True)
                continue
            if not filename:
                mixed = parent is not None and parent.get_content_type() == "multipart/mixed"
                if ctype == "text/plain" and mixed and parent is text_parent and result.text is not None:
                    result.text = f"{result.text.rstrip()}\n\n{_part_text(part, result, html=False)}"
                continue  # a second inline HTML body: another rendering, not more of the client's words
        result.attachments.append(Attachment(filename, ctype, len(_payload_bytes(part))))


def parse_rfc822(raw: str | bytes) -> ParsedMime:
    """Parse a complete e-mail source. Never raises; problems are reported in `flags`."""
    result = ParsedMime(from_text=isinstance(raw, str))
    try:  # a str source (a JSON field) holds characters; only bytes are decoded by their declared charset
        msg = email.message_from_string(raw) if isinstance(raw, str) else email.message_from_bytes(raw)
    except Exception:
        result.flag("mime_defects")
        result.text = raw if isinstance(raw, str) else decode_bytes(raw)[0]
        return result
    result.subject = decode_header_value(msg.get("Subject"))
    result.sender = decode_header_value(msg.get("From"))
    result.received_at = _parse_date(decode_header_value(msg.get("Date")))
    result.message_id = _message_id(decode_header_value(msg.get("Message-ID")))
    try:
        _walk(msg, result)
    except Exception:
        result.flag("mime_defects")
    if result.text is None and result.html is None:
        result.flag("no_text_part")
    return result
