"""A bad database URL, a damaged or read-only store, a newer schema: one clear `StoreError`, nothing lost."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from postroom.store import AuditEvent, StoreError, check_store, create_store_engine, get_engine, migrate
from postroom.store.db import StoreUnusableError, describe_store_error, head_revision, masked_url
from tests.store.damage import damage_data_pages, read_only_url, schema_revision, set_schema_revision

SECRET = "Pw0rd-secret"


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message and SECRET not in message
    return message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notaurl", "the database URL 'notaurl' is not a URL"),
        (f"postgresql+psycopg://u:{SECRET}@db:port/x", "'postgresql+psycopg://u:***@db:port/x' is not a URL"),
        ("nosuchdb://db/x", "names an unknown database kind 'nosuchdb'"),
        (f"sqlite://u:{SECRET}@host/x.db", "is not valid: Invalid SQLite URL"),
    ],
)
def test_a_bad_database_url_is_one_line_without_the_password(url: str, expected: str) -> None:
    with pytest.raises(StoreError) as caught:
        create_store_engine(url)
    message = _one_line(caught)
    assert expected in message


def test_a_missing_driver_is_named_with_the_supported_urls() -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("MySQLdb is installed here")
    with pytest.raises(StoreError) as caught:
        get_engine(f"mysql://u:{SECRET}@127.0.0.1:1/x")
    message = _one_line(caught)
    assert "the database driver for mysql is not installed (MySQLdb)" in message
    assert "sqlite:///" in message and "postgresql+psycopg://" in message


def test_a_sqlite_directory_under_a_regular_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    engine = create_store_engine(f"sqlite:///{tmp_path / 'plain' / 'sub' / 'postroom.db'}")  # creates nothing
    with pytest.raises(StoreError) as caught:
        migrate(engine)  # `postroom init`: the one that creates the store and its directory
    assert f"{tmp_path / 'plain'} exists and is not a directory" in _one_line(caught)


def test_a_sqlite_directory_that_cannot_be_created_is_one_line() -> None:
    engine = create_store_engine("sqlite:////proc/postroom-nope/postroom.db")
    with pytest.raises(StoreError) as caught:
        migrate(engine)
    assert "cannot create the store's directory /proc/postroom-nope: No such file" in _one_line(caught)


def test_a_sqlite_uri_creates_no_folders_in_the_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    engine = create_store_engine(f"sqlite:///file:{tmp_path / 'store.db'}?mode=rwc&uri=true")
    assert migrate(engine) == head_revision() and (tmp_path / "store.db").is_file()
    engine.dispose()
    missing = create_store_engine(f"sqlite:///file:{tmp_path / 'none' / 'x.db'}?mode=ro&uri=true")
    with pytest.raises(StoreError, match="cannot be opened: unable to open database file"):
        check_store(missing)
    assert not (tmp_path / "none").exists() and not list(Path.cwd().glob("file:*"))
    assert not list(work.iterdir())


def test_masked_url_hides_the_password_even_of_an_unparsable_url() -> None:
    assert masked_url(f"postgresql+psycopg://u:{SECRET}@db/x") == "postgresql+psycopg://u:***@db/x"
    assert SECRET not in masked_url(f"pg ://u:{SECRET}@db:port/x")
    # an @ in the password that is not URL-encoded: nothing of it is shown
    assert masked_url("postgresql+psycopg://postroom:p@ss@127.0.0.1:5432/postroom") == (
        "postgresql+psycopg://postroom:***@127.0.0.1:5432/postroom"
    )
    assert masked_url("postgresql+psycopg://postroom@db/x") == "postgresql+psycopg://postroom@db/x"  # none
    query = "postgresql+psycopg://u:pw@db:5432/x?sslrootcert=/a@b"  # an @ after the host: the host stays
    assert masked_url(query) == "postgresql+psycopg://u:***@db:5432/x?sslrootcert=%2Fa%40b"
    # libpq takes a password as a query parameter too
    assert masked_url(f"postgresql+psycopg://u@db/x?sslmode=require&Password={SECRET}&a=1") == (
        "postgresql+psycopg://u@db/x?Password=***&a=1&sslmode=require"
    )
    assert masked_url(f"pg ://u@db:port/x?password={SECRET}") == "pg ://u@db:port/x?password=***"


def _filled_store(tmp_path: Path) -> Path:
    db = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{db}")
    migrate(engine)
    with engine.begin() as connection:
        for i in range(300):
            connection.execute(
                AuditEvent.__table__.insert().values(kind="t", actor="qa", payload={"n": i, "pad": "x" * 900})
            )
    engine.dispose()
    return db


def test_a_damaged_store_is_a_store_error_that_is_still_a_database_error(tmp_path: Path) -> None:
    db = _filled_store(tmp_path)
    damage_data_pages(db)
    engine = create_store_engine(f"sqlite:///{db}")
    check_store(engine)  # the schema is readable: the damage shows when rows are read
    with pytest.raises(StoreUnusableError) as caught, engine.connect() as connection:
        connection.execute(select(AuditEvent.__table__)).all()
    assert isinstance(caught.value, DatabaseError) and isinstance(caught.value, SQLAlchemyError)
    assert caught.value.status_code == 503
    expected = f"the store at sqlite:///{db} cannot be read: database disk image is malformed"
    assert _one_line(caught) == expected


def test_a_read_only_store_says_so_and_keeps_its_rows(tmp_path: Path) -> None:
    db = _filled_store(tmp_path)
    engine = create_store_engine(read_only_url(db))
    check_store(engine)
    with pytest.raises(StoreError) as caught, engine.begin() as connection:
        connection.execute(AuditEvent.__table__.delete())
    assert "is read-only: attempt to write a readonly database" in _one_line(caught)
    engine.dispose()
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM audit_events").fetchone() == (300,)


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    db.write_bytes(b"\x15+9a" * 2048)
    with pytest.raises(StoreError, match=r"cannot be read: file is not a database$"):
        check_store(create_store_engine(f"sqlite:///{db}"))
    with pytest.raises(StoreError, match=r"cannot be read: file is not a database$"):
        migrate(create_store_engine(f"sqlite:///{db}"))
    assert db.read_bytes() == b"\x15+9a" * 2048


class _PostgresError(Exception):
    """What psycopg raises: a message and a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_describe_store_error_names_the_condition_and_masks_the_password() -> None:
    url = f"postgresql+psycopg://u:{SECRET}@db/x"
    read_only = _PostgresError("cannot execute INSERT in a read-only transaction", "25006")
    assert describe_store_error(read_only, url) == (
        "the store at postgresql+psycopg://u:***@db/x is read-only: "
        "cannot execute INSERT in a read-only transaction"
    )
    assert describe_store_error(_PostgresError("duplicate key", "23505"), url) is None
    deadlock = _PostgresError("deadlock detected", "40P01")  # 503 with Retry-After, not a 500
    assert describe_store_error(deadlock, url) == (
        "the store at postgresql+psycopg://u:***@db/x gave up a write that deadlocked with another; retry: "
        "deadlock detected"
    )
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE t (a INTEGER UNIQUE)")
        connection.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError) as constraint:
            connection.execute("INSERT INTO t VALUES (1)")
    assert describe_store_error(constraint.value, "sqlite://") is None  # a constraint: not the store's fault


def test_a_store_at_a_newer_schema_is_left_alone_and_says_upgrade(tmp_path: Path) -> None:
    db = _filled_store(tmp_path)
    set_schema_revision(db, "0099")
    expected = f"the store is at schema 0099, newer than this Postroom ({head_revision()}): upgrade Postroom"
    engine = create_store_engine(f"sqlite:///{db}")
    with pytest.raises(StoreError) as caught:
        migrate(engine)
    assert _one_line(caught) == expected
    with pytest.raises(StoreError) as caught:
        check_store(engine)
    assert _one_line(caught) == expected
    engine.dispose()
    assert schema_revision(db) == "0099"
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM audit_events").fetchone() == (300,)
