"""Threshold versions damaged as a hand edit of the store damages them: written with SQL, not Postroom."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from postroom.store.models import ThresholdVersion

# (the column, what is written to it, what the error says is wrong)
DAMAGES: list[tuple[str, Any, str]] = [
    ("values", [0.9], "its values are a list, not an object of label sets"),
    ("values", "topic=0.9", "its values are a string ('topic=0.9'), not an object of label sets"),
    ("values", None, "its values are null, not an object of label sets"),
    ("values", {"topic": 0.9}, "its values of topic are a number (0.9), not an object of classes"),
    ("values", {"topic": {"card_replacement": "high"}}, "its topic.card_replacement is a string ('high')"),
    ("values", {"topic": {"card_replacement": 5}}, "its topic.card_replacement is a number (5), not a"),
    ("values", {"queue": {"cards": True}}, "its queue.cards is a boolean (true)"),
    ("details", ["x"], "its details are a list, not an object"),
    ("details", {"changes": "all of them"}, "its recorded changes are not a list of changes"),
    ("details", {"changes": [{"label_set": "topic"}]}, "its recorded changes are not a list of changes"),
]


def damage_version(sessions: sessionmaker[Session], version_id: int, column: str, value: Any) -> None:
    """Overwrite one JSON column of a stored version, as an UPDATE typed into the database would."""
    with sessions() as session:
        session.execute(
            update(ThresholdVersion).where(ThresholdVersion.id == version_id).values({column: value})
        )
        session.commit()


def write_raw(sessions: sessionmaker[Session], version_id: int, column: str, raw: str) -> None:
    """Overwrite a JSON column with text as it is (SQLite keeps text that is not JSON; PostgreSQL refuses)."""
    with sessions() as session:
        statement = text(f'UPDATE threshold_versions SET "{column}" = :raw WHERE id = :id')
        session.execute(statement, {"raw": raw, "id": version_id})
        session.commit()


def stored_json(sessions: sessionmaker[Session], version_id: int) -> tuple[str, str]:
    """A version's values and details as the database holds them (text), to show nothing was rewritten."""
    with sessions() as session:
        query = 'SELECT CAST("values" AS TEXT), CAST(details AS TEXT) FROM threshold_versions WHERE id = :id'
        row = session.execute(text(query), {"id": version_id}).one()
    return row[0], row[1]
