"""Ways a real SQLite store goes bad: damaged pages, a read-only file, a newer Postroom's schema."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from postroom.store.db import dispose_engines


def damage_data_pages(db: Path) -> None:
    """Overwrite the header of every page of the tables' rows but their root pages (found with SQLite's
    `dbstat`): the schema reads, the rows do not. Pages of the schema itself (`sqlite_master`, which spills
    past page 1 once there are enough tables and indexes) are left alone."""
    dispose_engines()
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        roots = {row[0] for row in connection.execute("SELECT rootpage FROM sqlite_master")}
        schema = "('sqlite_master', 'sqlite_schema')"  # the schema's own pages, by either name
        rows = connection.execute(f"SELECT pageno FROM dbstat WHERE name NOT IN {schema}")
        pages = [row[0] for row in rows if row[0] not in roots]
    data = bytearray(db.read_bytes())
    assert len(pages) > 5, "fill the store first: too few data pages to damage"
    for page in pages:  # page n starts at (n - 1) * size
        start = (page - 1) * page_size
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
