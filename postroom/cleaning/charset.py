"""Bytes to text: declared charset first, then UTF-8, then Windows-1252; never raises."""

from __future__ import annotations

import codecs
import re

# Charset names seen in the wild that Python does not know, or knows under another name.
_ALIASES = {
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "default": "",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gbk",  # GBK is a superset; mail labelled GB2312 is often GBK
    "windows-874": "cp874",
}

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]{1,40})""", re.IGNORECASE
)


def normalise_charset(name: str | None) -> str | None:
    """A codec name Python can use for `name`, or None when it is missing, unknown or useless."""
    if not name:
        return None
    cleaned = name.strip().strip("\"'").lower()
    cleaned = _ALIASES.get(cleaned, cleaned)
    if not cleaned:
        return None
    try:
        return codecs.lookup(cleaned).name
    except LookupError:
        return None


def sniff_html_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> tag within its first 4 KB."""
    match = _META_CHARSET.search(data[:4096])
    return normalise_charset(match.group(1).decode("ascii", "ignore")) if match else None


# Labels that mailers (Outlook above all) put on text written in Windows-1252: the bytes 0x80-0x9F are € „ “ –
# …, never the C1 control characters ISO-8859-1 gives them. Browsers decode these labels as Windows-1252
# (WHATWG Encoding Standard); so does the cleaner.
_WINDOWS_1252_LABELS = frozenset({"latin-1", "iso8859-1", "ascii"})
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _cp1252(data: bytes) -> str:
    """Windows-1252, with the five bytes it leaves undefined read as ISO-8859-1 (as browsers do)."""
    return "".join(
        chunk.decode("cp1252") if i % 2 == 0 else chunk.decode("latin-1")
        for i, chunk in enumerate(re.split(rb"([\x81\x8d\x8f\x90\x9d]+)", data))
    )


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, bool]:
    """Decode `data`; return (text, fell_back) where fell_back means the declared charset was not usable.

    Order: the declared charset (strict), UTF-8 (strict), Windows-1252 (lossless for any byte but five,
    which are replaced). Plain ASCII without a declaration is not a fallback. Text labelled ISO-8859-1 or
    US-ASCII is read as Windows-1252, or as UTF-8 when its 8-bit bytes are valid multi-byte UTF-8 (a web form
    that sends UTF-8 under a Latin-1 label; flagged as a fallback).
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", "replace"), declared not in (None, "utf-8")
    codec = normalise_charset(declared)
    if codec in _WINDOWS_1252_LABELS and not data.isascii():
        if _UTF8_MULTIBYTE.search(data):
            try:
                return data.decode("utf-8"), True
            except UnicodeDecodeError:
                pass
        return _cp1252(data), codec == "ascii"
    if codec is not None:
        try:
            return data.decode(codec), False
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    if data.isascii():
        return data.decode("ascii"), declared is not None and codec is None
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace"), True
