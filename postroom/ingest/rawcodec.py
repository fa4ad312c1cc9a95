"""Keep the raw input exactly as received, in a text column that both SQLite and PostgreSQL accept.

Text input (a JSON or CSV field) without NUL characters is stored as it is (`text`), UTF-8 bytes without
NUL (an .eml or mbox message) as their text (`utf-8`); anything else (8-bit MIME in other charsets, NUL,
invalid UTF-8) base64-encoded. So `postroom clean --all` sees the input as it came: text as text (its
characters are final), bytes as bytes (their declared charsets still apply). Stores written before the
`text` encoding hold text input as `utf-8`.
"""

from __future__ import annotations

import base64
import hashlib


def encode_raw(raw: str | bytes) -> tuple[str, str]:
    """Return `(stored_text, encoding)` for `raw`; encoding is `text`, `utf-8` or `base64`."""
    if isinstance(raw, str):
        if "\x00" not in raw:
            try:
                raw.encode("utf-8")
                return raw, "text"
            except UnicodeEncodeError:  # lone surrogates
                pass
        data = raw.encode("utf-8", errors="surrogatepass")
        return base64.b64encode(data).decode("ascii"), "base64"
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), "base64"


def decode_input(stored: str, encoding: str, raw_format: str) -> str | bytes:
    """The raw input as it came, for cleaning: text as text, an RFC 822 source read as bytes as bytes."""
    return decode_raw(stored, encoding, as_bytes=raw_format == "rfc822" and encoding != "text")


def decode_raw(stored: str, encoding: str, *, as_bytes: bool) -> str | bytes:
    """Invert `encode_raw`: bytes for RFC 822 sources, text for bodies."""
    if encoding == "base64":
        data = base64.b64decode(stored)
        return data if as_bytes else data.decode("utf-8", errors="replace")
    return stored.encode("utf-8") if as_bytes else stored


def raw_digest(raw: str | bytes) -> str:
    """SHA-256 of the raw input, to tell a re-sent message from a changed one."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    return hashlib.sha256(data).hexdigest()
