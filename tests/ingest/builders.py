"""Builders of real input files (JSONL lines, RFC 822 messages, mbox files) for ingestion tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any


def record(message_id: str = "m-1", body: str = "Meine Karte ist weg.", **extra: Any) -> dict[str, Any]:
    return {"message_id": message_id, "subject": "Karte", "body": body, **extra}


def write_jsonl(path: Path, *records: dict[str, Any] | bytes | str) -> Path:
    with path.open("wb") as handle:
        for item in records:
            if isinstance(item, dict):
                item = json.dumps(item, ensure_ascii=False)
            handle.write((item.encode() if isinstance(item, str) else item) + b"\n")
    return path


def email_bytes(
    message_id: str | None = "<e-1@example.com>",
    body: str = "Hello,\n\nplease send me my statement for March.\n\nBest regards,\nAnna",
    subject: str = "Statement",
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Becker <anna@example.com>"
    msg["To"] = "service@nordhafen-bank.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    if message_id:
        msg["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body, charset=charset)
    return msg.as_bytes()


def write_mbox(path: Path, *messages: bytes, final_newline: bool = True) -> Path:
    chunks = []
    for i, message in enumerate(messages):
        escaped = b"\n".join(
            b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in message.split(b"\n")
        )
        chunks.append(
            b"From sender%d@example.com Mon Mar  2 09:30:00 2026\n" % i + escaped.rstrip(b"\n") + b"\n\n"
        )
    data = b"".join(chunks)
    path.write_bytes(data if final_newline else data.rstrip(b"\n")[:-5])
    return path
