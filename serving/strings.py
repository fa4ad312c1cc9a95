"""Strings no store keeps: a NUL character (PostgreSQL refuses it in text) or a lone surrogate (not valid
Unicode). The service refuses them with a 422 naming where, in JSON bodies and query parameters."""

from __future__ import annotations

from collections.abc import Collection

from postroom.ingest.fields import has_lone_surrogate, hidden_character


def text_problem(text: str) -> str | None:
    """What makes `text` unstorable, or None."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which no field accepts"
    if has_lone_surrogate(text):
        return "not valid Unicode (lone surrogate)"
    return None


def one_line(text: str) -> str:
    """`text` stripped, for a reason the audit log records: refused (ValueError) when blank or holding a
    control character (a line break, a terminal escape), as the CLI's `--reason` is: every view of the log
    shows one line of plain text, so one lead cannot forge another entry or recolour the terminal."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("a reason is required: it is recorded with the change")
    if hidden_character(stripped) is not None:  # also line separators and bidirectional overrides
        raise ValueError("contains control characters: give it on one line of plain text")
    return stripped


# Message IDs have their own check (`check_message_id`: controls, lone surrogates), per item in a batch.
ID_FIELDS = frozenset({"message_id", "message_ids"})
# A message's text: a NUL is removed when it is stored, a lone surrogate refused by ingestion.
MESSAGE_TEXT_FIELDS = frozenset({"body", "html", "raw", "subject"})


def unstorable_string(value: object, skip: Collection[str] = ID_FIELDS) -> tuple[str, str] | None:
    """(where, what) for the first key or string in a parsed JSON body that no store can keep: a NUL
    (PostgreSQL refuses it in text) or a lone surrogate; None when there is none. The body's top-level
    fields in `skip` are not looked into (they have checks of their own). Iterative."""
    stack: list[tuple[str, object]] = [("body", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if (problem := text_problem(key)) is not None:
                    return f"{where}: a key", problem
                if where == "body" and key in skip:
                    continue
                stack.append((f"{where}.{key}" if len(key) <= 40 else f"{where}.{key[:39]}\u2026", child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str) and (problem := text_problem(item)) is not None:
            return where, problem
    return None
