"""What readers produce: a message ready to store, or a rejection that names the record and the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from postroom.taxonomy import RECORD_FIELDS

RawFormat = Literal["text", "html", "rfc822"]

# Keys a JSONL object or CSV header may have besides one per label set (the taxonomy reserves them).
BASE_FIELDS = RECORD_FIELDS
BODY_FIELDS: dict[str, RawFormat] = {"body": "text", "html": "html", "raw": "rfc822"}


@dataclass
class IncomingMessage:
    """One message as read from a source, before cleaning."""

    message_id: str
    raw: str | bytes
    raw_format: RawFormat
    origin: str  # where it came from, for messages to the user: "corpus.jsonl:17"
    subject: str | None = None
    sender: str | None = None
    received_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A record that was not stored, and why."""

    origin: str
    reason: str
    message_id: str | None = None

    def __str__(self) -> str:
        who = f" [{self.message_id}]" if self.message_id else ""
        return f"{self.origin}{who}: {self.reason}"
