import stat
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from postroom.store import Base, StoreError, check_integrity, check_store, create_store_engine, migrate
from postroom.store.db import current_revision, head_revision


def test_migrations_create_every_table_and_match_the_models(engine: Engine) -> None:
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrate_is_idempotent_and_check_store_passes(engine: Engine) -> None:
    assert migrate(engine) == head_revision() == current_revision(engine)
    check_store(engine)


def test_check_integrity_reads_sqlite_pages_and_leaves_postgresql_to_its_tools(engine: Engine) -> None:
    expected = {"sqlite": "every page readable", "postgresql": "not checked on postgresql"}
    assert check_integrity(engine).startswith(expected[engine.dialect.name])


def test_unmigrated_store_is_reported_with_the_fix(store_url: str) -> None:
    engine = create_store_engine(store_url)
    with pytest.raises(StoreError, match="run `postroom init`"):
        check_store(engine)
    engine.dispose()


def test_unreachable_store_is_a_store_error_with_the_drivers_reason() -> None:
    engine = create_store_engine("postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StoreError, match="unreachable: OperationalError: connection failed") as raised:
        check_store(engine)
    assert "refused" in str(raised.value) and "secret-pw" not in str(raised.value)


def test_a_store_of_the_first_schema_is_upgraded_in_place(store_url: str) -> None:
    """A store made before 0002 (indexes for the feedback window, erasure and labeling records): `postroom
    init` (migrate) adds them and keeps every row."""
    from alembic import command
    from sqlalchemy import text

    from postroom.store.db import _alembic_config

    engine = create_store_engine(store_url)
    migrate_to_first(engine, command, _alembic_config)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO messages (message_id, raw_format, raw_body, raw_encoding, raw_sha256, "
                "cleaned_text, metadata, source, ingested_at) VALUES ('m1', 'text', 'b', 'text', 'x', 'b', "
                "'{}', 'test', CURRENT_TIMESTAMP)"
            )
        )
    assert current_revision(engine) == "0001"
    assert migrate(engine) == head_revision() == current_revision(engine)
    indexes = {i["name"] for i in inspect(engine).get_indexes("feedback")}
    assert {"ix_feedback_decision_pk", "ix_feedback_created_at"} <= indexes
    with engine.connect() as connection:
        assert connection.execute(text("SELECT message_id FROM messages")).scalars().all() == ["m1"]
    engine.dispose()


def migrate_to_first(engine: Engine, command: Any, config_of: Any) -> None:
    with engine.begin() as connection:
        config = config_of(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")


def test_schema_0003_keeps_the_newest_of_several_current_labels(store_url: str) -> None:
    """A store that concurrent writers left with several current labels of one set (before 0003): the
    upgrade keeps the newest current, the older ones as history, and adds the index that refuses more."""
    from alembic import command
    from sqlalchemy import text

    from postroom.store.db import _alembic_config

    engine = create_store_engine(store_url)
    with engine.begin() as connection:
        config = _alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    rows = [(1, "queue", "cards", True), (2, "queue", "payments", True), (3, "queue", "cards", True),
            (4, "topic", "card_replacement", True), (5, "queue", "accounts", False)]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO messages (id, message_id, raw_format, raw_body, raw_encoding, raw_sha256, "
                "cleaned_text, metadata, source, ingested_at) "
                "VALUES (1, 'm1', 'text', 'b', 'text', 'x', 'b', '{}', 'test', CURRENT_TIMESTAMP)"
            )
        )
        for pk, label_set, class_name, current in rows:
            connection.execute(
                text(
                    "INSERT INTO labels (id, message_pk, label_set, class_name, source, created_at, "
                    "is_current) VALUES (:pk, 1, :s, :c, 'feedback', CURRENT_TIMESTAMP, :current)"
                ),
                {"pk": pk, "s": label_set, "c": class_name, "current": current},
            )
    assert migrate(engine) == head_revision() == "0003"
    with engine.connect() as connection:
        found = connection.execute(text("SELECT id, is_current FROM labels ORDER BY id")).all()
    assert [(pk, bool(current)) for pk, current in found] == [
        (1, False), (2, False), (3, True), (4, True), (5, False)
    ]
    assert "ux_labels_one_current" in {i["name"] for i in inspect(engine).get_indexes("labels")}
    engine.dispose()


def test_a_new_sqlite_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds every client e-mail: the file (and the WAL beside it) 0600, a directory it creates 0700."""
    from sqlalchemy import text

    db = tmp_path / "var" / "data" / "postroom.db"  # two directories to create
    engine = create_store_engine(f"sqlite:///{db}")
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE probe (x INTEGER)"))
        wal = Path(f"{db}-wal")
        assert wal.exists()
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == stat.S_IMODE(db.parent.parent.stat().st_mode) == 0o700
    engine.dispose()
