"""Lookups several components make in the store, in chunks that every backend takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import Message

IN_CHUNK = 500  # values per IN (…) clause: far below SQLite's (32,766) and psycopg's (65,535) limits
T = TypeVar("T")


def chunks(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size` (default `IN_CHUNK`)."""
    size = size or IN_CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_message_ids(session: Session, message_ids: Iterable[str]) -> set[str]:
    """Those of `message_ids` the store holds (a message erased by `forget` or `purge` is not)."""
    found: set[str] = set()
    for chunk in chunks(sorted(set(message_ids))):
        found.update(session.scalars(select(Message.message_id).where(Message.message_id.in_(chunk))))
    return found
