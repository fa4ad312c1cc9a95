"""Engines, sessions and schema migrations of the message store (SQLite by default, or PostgreSQL)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.util import asbool

from postroom.errors import PostroomError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SUPPORTED_URLS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
# SQLite result codes (their names' first part) and PostgreSQL SQLSTATEs that are the store's own condition,
# not a bug: what each means for the user.
_SQLITE_CONDITIONS = {
    "SQLITE_CORRUPT": "cannot be read",
    "SQLITE_NOTADB": "cannot be read",
    "SQLITE_READONLY": "is read-only",
    "SQLITE_CANTOPEN": "cannot be opened",
    "SQLITE_IOERR": "cannot be read or written",
    "SQLITE_FULL": "cannot be written",
}
_POSTGRES_CONDITIONS = {
    "25006": "is read-only",  # read_only_sql_transaction (a standby, or default_transaction_read_only)
    "53100": "cannot be written",  # disk_full
    "XX001": "cannot be read",  # data_corrupted
    "XX002": "cannot be read",  # index_corrupted
    # a write that lost to a concurrent one: nothing was written, and the same request again succeeds
    "40P01": "gave up a write that deadlocked with another; retry",  # deadlock_detected
    "40001": "refused a write that conflicted with another; retry",  # serialization_failure
}


class StoreError(PostroomError):
    """The store cannot be reached or is not at the expected schema version.

    `public`: what an HTTP client may be told (`/readyz` needs no key): the message without the database's
    URL, user, host, port or path; None where the message holds them. `transient`: whether retrying later
    may succeed without anyone acting (not for a schema to migrate or a newer Postroom's store).
    """

    status_code = 503

    def __init__(self, message: str, public: str | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.public = public
        self.transient = transient


class StoreUnusableError(StoreError, DatabaseError):
    """The database refused a statement because of the store itself: damaged, read-only, full, unopenable.

    Raised in place of sqlalchemy's `DBAPIError` (see `_translate_store_error`). It is both: code that rolls
    back on a `SQLAlchemyError` still does, and the CLI prints it as one line like every `PostroomError`.
    """

    def __init__(self, message: str, cause: DBAPIError, public: str | None = None) -> None:
        statement, params, orig = cause.statement, cause.params, cause.orig
        StatementError.__init__(
            self, message, statement, params, orig, hide_parameters=True, ismulti=cause.ismulti
        )
        self.message = message
        self.public = public
        self.transient = True
        self.connection_invalidated = cause.connection_invalidated

    def __str__(self) -> str:
        return self.message


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")  # erased messages are overwritten, not left in free pages
    cursor.close()


# a password given as a query parameter (libpq reads `?password=…`, as it reads `user:password@`)
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pass|pwd|sslpassword)=)[^&#]*", re.IGNORECASE)


def masked_url(url: str | URL) -> str:
    """`url` fit to print: its password replaced by ***, even when it does not parse as a URL, and up to the
    last `@` (a password with an `@` that is not URL-encoded, `p@ss`, parses as the host `ss@db`), and a
    `password` query parameter too."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        shown = re.sub(r"(://[^:/@]*:).*@(?=[^@/]*(/|$))", r"\1***@", str(url))
        return _QUERY_PASSWORD.sub(r"\1***", shown)
    shown = parsed.render_as_string(hide_password=True)
    if "@" in (parsed.host or ""):  # a password's unencoded @: mask up to the last @ before the host
        shown = re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", shown)
    return _QUERY_PASSWORD.sub(r"\1***", shown)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def describe_store_error(exc: BaseException, url: str | URL) -> str | None:
    """One line for a database error that is the store's own condition (damaged, read-only, full); else None.

    `exc` is sqlalchemy's `DBAPIError` or the driver's exception; anything else (a constraint violated, a
    lost connection, a bug) gives None and keeps its own handling.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    condition = _store_condition(exc)
    if condition is None or orig is None:
        return None
    return f"the store at {masked_url(url)} {condition}: {_first_line(orig)}"


def _store_condition(exc: BaseException) -> str | None:
    """The store's own condition a database error says (`is damaged`, `is read-only`, …), or None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = str(getattr(orig, "sqlite_errorname", "") or "")
    state = str(getattr(orig, "sqlstate", "") or "")
    condition = _POSTGRES_CONDITIONS.get(state)
    for name, meaning in _SQLITE_CONDITIONS.items():
        if code == name or code.startswith(f"{name}_"):  # extended codes: SQLITE_IOERR_WRITE, …
            condition = meaning
    return condition


def _server_unreachable(context: ExceptionContext, cause: DBAPIError) -> bool:
    """Whether the error says the database server cannot be reached: no connection could be made (the
    hook runs without a statement then), the connection was lost, or PostgreSQL says so (class 08:
    connection exception; 57P01-57P03: shutting down, starting up)."""
    state = str(getattr(cause.orig, "sqlstate", "") or "")
    connecting = context.statement is None and context.connection is None
    return (
        (connecting and isinstance(cause, OperationalError))
        or context.is_disconnect
        or state.startswith("08")
        or state in {"57P01", "57P02", "57P03"}
    )


def _translate_store_error(context: ExceptionContext) -> BaseException | None:
    """`handle_error` hook: a damaged, read-only, full or unreachable store becomes a `StoreUnusableError`
    (a `StoreError`: HTTP 503, one CLI line)."""
    cause = context.sqlalchemy_exception
    if not isinstance(cause, DBAPIError) or isinstance(cause, StoreUnusableError):
        return None
    url = context.engine.url if context.engine else None
    message = describe_store_error(cause, url or "")
    public = f"the store {_store_condition(cause)}" if message else None
    if message is None and url is not None and _server_unreachable(context, cause):
        message, public = _unreachable(url, cause), UNREACHABLE
    return StoreUnusableError(message, cause, public) if message else None


def _sqlite_uri(parsed: URL) -> bool:
    """Whether SQLite reads the database name as a `file:` URI (`?uri=true`): then it is not a plain path."""
    return asbool(parsed.query.get("uri", False)) or (parsed.database or "").startswith("file:")


def _make_sqlite_file(parsed: URL) -> None:
    """Create the directory of a SQLite file (owner only, 0700, when it creates it) and the empty file
    itself readable by its owner only (0600: it holds every client e-mail; SQLite gives its `-wal` and
    `-shm` files the same mode), or raise `StoreError` saying why it cannot be. An existing file is left as
    it is."""
    if not parsed.database or parsed.database == ":memory:" or _sqlite_uri(parsed):
        return
    path = Path(parsed.database)
    parent = path.parent
    try:
        for folder in reversed([p for p in (parent, *parent.parents) if not p.exists()]):
            folder.mkdir(mode=0o700, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another `init` created it meanwhile
    except OSError as exc:
        blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} exists and is not a directory" if blocker else exc.strerror or str(exc)
        raise StoreError(
            f"cannot create the store's directory {parent}: {why} "
            "(check POSTROOM_DATA_DIR / POSTROOM_DATABASE_URL)"
        ) from None


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite foreign keys are enforced (`migrate` creates the file's directory).

    A URL that does not parse, names a driver that is not installed, or a directory that cannot be created
    raises `StoreError` (one line, the password masked).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(
            f"the database URL {masked_url(url)!r} is not a URL (POSTROOM_DATABASE_URL); use {SUPPORTED_URLS}"
        ) from None
    shown = masked_url(parsed)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise StoreError(
            f"the database URL {shown} names an unknown database kind {parsed.drivername!r}; "
            f"Postroom supports {SUPPORTED_URLS}"
        ) from None
    except ImportError as exc:
        raise StoreError(
            f"the database driver for {parsed.drivername} is not installed ({exc.name or exc}); "
            f"Postroom supports {SUPPORTED_URLS}"
        ) from None
    except ArgumentError as exc:
        raise StoreError(f"the database URL {shown} is not valid: {_first_line(exc)}") from None
    event.listen(engine, "handle_error", _translate_store_error)
    return engine


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    if url not in _ENGINES:
        _ENGINES[url] = create_store_engine(url)
    return _ENGINES[url]


def dispose_engines() -> None:
    """Close every pooled connection (tests, and before a process forks)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest migration; returns the revision now in place.

    A store at a schema this code does not know (a newer Postroom migrated it) is left as it is: `StoreError`.
    """
    if engine.dialect.name == "sqlite":  # only `init` (this) creates a store, and so its directory
        _make_sqlite_file(engine.url)
    try:
        _refuse_unknown_revision(current_revision(engine))
        with engine.begin() as connection:
            config = _alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except StoreError:
        raise
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(
            f"cannot migrate the store at {_safe_url(engine)}: {exc.__class__.__name__}: {_first_line(exc)}"
        ) from None
    return head_revision()


@functools.cache
def _script() -> ScriptDirectory:
    """This code's migrations (read once per process)."""
    return ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every schema revision this code's migrations define."""
    return {script.revision for script in _script().walk_revisions()}


def _refuse_unknown_revision(revision: str | None) -> None:
    """`StoreError` when the store is at a revision no migration here defines: a newer Postroom's."""
    if revision is not None and revision not in known_revisions():
        head = head_revision()
        message = f"the store is at schema {revision}, newer than this Postroom ({head}): upgrade Postroom"
        raise StoreError(message, public=message, transient=False)


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def missing_sqlite_file(url: URL) -> Path | None:
    """The SQLite file `url` names when it does not exist (connecting would create it empty); else None."""
    if url.get_backend_name() != "sqlite" or _sqlite_uri(url) or url.database in (None, "", ":memory:"):
        return None
    path = Path(str(url.database))
    return None if path.exists() else path


UNREACHABLE = "the store cannot be reached"


def _unreachable(url: URL, exc: SQLAlchemyError) -> str:
    """`store … unreachable: OperationalError: <the driver's first line>` (e.g. the database does not exist,
    the connection is refused), without the password."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    reason = _first_line(orig) if orig is not None else ""
    if url.password:
        reason = reason.replace(str(url.password), "***")
    found = f"store {masked_url(url)} unreachable: {exc.__class__.__name__}"
    return f"{found}: {reason}" if reason else found


def check_store(engine: Engine) -> None:
    """Raise `StoreError` unless the database answers and its schema is current. A SQLite file that does not
    exist is reported, not created: only `postroom init` (`migrate`) creates a store."""
    if (missing := missing_sqlite_file(engine.url)) is not None:
        raise StoreError(
            f"no store at {missing}: run `postroom init` (or check POSTROOM_DATA_DIR)",
            public="no store yet: run `postroom init`",
            transient=False,
        )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(_unreachable(engine.url, exc), public=UNREACHABLE) from None
    _refuse_unknown_revision(revision)
    if revision != head_revision():
        schema = f"is at schema {revision or 'none'}, expected {head_revision()}: run `postroom init`"
        raise StoreError(f"store {_safe_url(engine)} {schema}", public=f"the store {schema}", transient=False)


INTEGRITY_PROBLEMS_SHOWN = 3
QUICK_CHECK_LIMIT = 100  # SQLite's own default: it stops looking after this many problems


def check_integrity(engine: Engine) -> str:
    """SQLite: `PRAGMA quick_check` reads every page (seconds on a large store), so a damaged row shows
    before a command trips over it; raises `StoreError` naming the first problems. PostgreSQL checks its own
    pages (checksums, `amcheck`), so nothing is read there. Returns what was checked."""
    if engine.dialect.name != "sqlite":
        return f"not checked on {engine.dialect.name} (use its own tools, e.g. amcheck)"
    if (missing := missing_sqlite_file(engine.url)) is not None:
        raise StoreError(f"no store at {missing}: nothing to check")
    try:
        with engine.connect() as connection:
            result = connection.exec_driver_sql(f"PRAGMA quick_check({QUICK_CHECK_LIMIT})")
            found = [str(row[0]) for row in result.fetchall()]
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(_unreachable(engine.url, exc)) from None
    if found == ["ok"]:
        return "every page readable (PRAGMA quick_check)"
    # one row may hold several lines, headed by which database they are in
    rows = [line.strip() for row in found for line in row.splitlines() if line.strip() and "***" not in line]
    more = len(rows) - INTEGRITY_PROBLEMS_SHOWN
    shown = "; ".join(rows[:INTEGRITY_PROBLEMS_SHOWN]) + (f" (+{more} more)" if more > 0 else "")
    count = f"{len(rows)}{' or more' if len(found) >= QUICK_CHECK_LIMIT else ''}"
    raise StoreError(
        f"the store at {_safe_url(engine)} is damaged ({count} problem(s) found by PRAGMA quick_check: "
        f"{shown}); restore it from a backup"
    )


def _safe_url(engine: Engine) -> str:
    return masked_url(engine.url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
