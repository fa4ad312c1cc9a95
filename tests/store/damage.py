"""Ways a real SQLite store goes bad: damaged pages, a read-only file, a newer Postroom's schema."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from postroom.store.db import dispose_engines


def damage_data_pages(db: Path) -> None:
    """Overwrite the header of every page after the tables' root pages: the schema reads, the rows do not."""
    dispose_engines()
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        last_root = connection.execute("SELECT max(rootpage) FROM sqlite_master").fetchone()[0]
    data = bytearray(db.read_bytes())
    assert len(data) // page_size > last_root + 5, "fill the store first: too few data pages to damage"
    for start in range(last_root * page_size, len(data), page_size):  # page n starts at (n - 1) * size
        data[start : start + 100] = b"\xff" * 100
    db.write_bytes(bytes(data))


def read_only_url(db: Path) -> str:
    """A URL that opens the SQLite file `db` read-only (as a store on a read-only mount behaves)."""
    dispose_engines()
    return f"sqlite:///file:{db}?mode=ro&uri=true"


def set_schema_revision(db: Path, revision: str) -> None:
    """Mark the store as migrated to `revision` (as a newer Postroom would have left it)."""
    dispose_engines()
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        connection.commit()


def schema_revision(db: Path) -> str:
    with closing(sqlite3.connect(db)) as connection:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])
