"""The value types of the cleaning stage: what goes in (a raw format) and what comes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

RawFormat = Literal["text", "html", "rfc822"]

#: Bumped whenever the cleaner's output can change, so stored messages can be re-cleaned selectively.
CLEANER_VERSION = "7"

#: Line categories the cleaner removes; their counts are reported in `CleanedEmail.metadata()`.
REMOVED_KINDS = ("quote", "signature", "disclaimer")


@dataclass(frozen=True)
class Attachment:
    """An attachment seen in a MIME message; only its description is kept, never its content."""

    filename: str | None
    content_type: str
    size: int  # bytes of the decoded payload


@dataclass(frozen=True)
class CleanedEmail:
    """The result of `clean_message`: the client's own words plus what was learnt on the way."""

    text: str  # the client's own words: what the models see
    language: str | None  # ISO 639-1 ('de', 'en', 'fi', …) or None when undetermined
    subject: str | None = None  # decoded Subject header (rfc822 input only)
    sender: str | None = None  # decoded From header
    received_at: datetime | None = None  # Date header, timezone-aware
    message_id: str | None = None  # Message-ID header, angle brackets stripped
    attachments: tuple[Attachment, ...] = ()
    flags: tuple[str, ...] = ()  # what could not be done cleanly (see docs/cleaning.md)
    removed: tuple[tuple[str, int], ...] = ()  # (kind, number of non-empty lines removed)

    def metadata(self) -> dict[str, Any]:
        """A JSON-serialisable summary for storage next to the message (never the text itself)."""
        removed = dict.fromkeys(REMOVED_KINDS, 0)
        removed.update(dict(self.removed))
        return {
            "cleaner_version": CLEANER_VERSION,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in self.attachments
            ],
            "flags": list(self.flags),
            "removed_lines": removed,
        }
