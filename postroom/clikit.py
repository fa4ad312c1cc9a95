"""What every `postroom` subcommand shares: consoles, one-line errors, settings/store/taxonomy getters.

Components import this to register their commands (see `postroom.cli`).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session, sessionmaker

from postroom.errors import PostroomError
from postroom.ingest.fields import hidden_character
from postroom.machine import default_actor
from postroom.settings import Settings, get_settings
from postroom.store.models import NAME_MAX
from postroom.taxonomy import Taxonomy, load_taxonomy

PIPE_WIDTH = 160  # columns of tables written to a file or pipe (rich's 80 cut class names short)


def console(stderr: bool = False) -> Console:
    """A console for stdout or stderr: a terminal's own width, `COLUMNS`, or `PIPE_WIDTH` for logs and CI."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty())
    return Console(stderr=stderr, width=PIPE_WIDTH if piped and "COLUMNS" not in os.environ else None)


out = console()
err = console(stderr=True)  # progress and problems go to stderr; results to stdout
F = TypeVar("F", bound=Callable[..., Any])
SHARED_DATA = Path("../shared/data")  # the public datasets, beside the repository


@dataclass(frozen=True)
class CliRoots:
    """The command groups a component may add to: the top level and `postroom bench`."""

    app: typer.Typer
    bench: typer.Typer


DISTRIBUTION = "postroom"
# Distributions of an extra whose import name differs from the distribution name.
MODULE_OF_DISTRIBUTION = {"scikit-learn": "sklearn", "onnxruntime-gpu": "onnxruntime"}


@functools.lru_cache
def _extras_by_module() -> dict[str, tuple[str, ...]]:
    """Top-level module name -> the extras of `pyproject.toml` that install it (from installed metadata)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}
    found: dict[str, list[str]] = {}
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", requirement)
        if name and extra:
            dist = re.sub(r"[-_.]+", "-", name.group(0)).lower()
            module = MODULE_OF_DISTRIBUTION.get(dist, dist.replace("-", "_"))
            found.setdefault(module, []).append(extra.group(1))
    return {module: tuple(extras) for module, extras in found.items()}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """What to install when `exc` is a module of one of Postroom's extras (`train`: torch, setfit, onnx …),
    as one line with the pip command; None for any other missing module (a bug, not an install choice)."""
    module = (exc.name or "").split(".")[0]
    extras = _extras_by_module().get(module)
    if not extras:
        return None
    which = " or ".join(f"`{extra}`" for extra in extras)
    install = " or ".join(f"pip install -e '.[{extra}]'" for extra in extras)
    return (
        f"this command needs the {which} extra, which is not installed here (no module {module!r}): "
        f"{install} in the repository (see README.md)"
    )


def friendly_errors(func: F) -> F:
    """Turn a `PostroomError` into one line on stderr and exit code 1; so too a missing optional dependency
    (a serving-only install running `postroom train`), with the extra that provides it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PostroomError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ModuleNotFoundError as exc:
            hint = missing_extra(exc)
            if hint is None:
                raise
            err.print(f"[red]error:[/red] {escape(hint)}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except PermissionError as exc:  # a data dir, registry or keys file this user may not write
            where = f": {exc.filename}" if exc.filename else ""
            err.print(
                f"[red]error:[/red] permission denied{escape(str(where))} (run as the user who owns the "
                "data directory, or give this user write access)",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def printable(text: str, keep: str = "") -> str:
    """`text` with control characters written as escapes (`\\x1b`): input echoed in a message (an ID, a
    file name, a client's email) cannot recolour or erase the terminal. Rich markup is escaped too. `keep`:
    characters left as they are (`"\\n\\t"` for a multi-line text)."""
    return escape("".join(c if c.isprintable() or c == " " or c in keep else repr(c)[1:-1] for c in text))


def load_settings() -> Settings:
    return get_settings()


def load_taxonomy_from(settings: Settings) -> Taxonomy:
    return load_taxonomy(settings.taxonomy_path)


def open_sessions(settings: Settings, *, must_exist: bool = True) -> sessionmaker[Session]:
    """Sessions on the configured store; by default it must be migrated (`postroom init`)."""
    from postroom.store import check_store, get_engine, session_factory

    engine = get_engine(settings.database_url)
    if must_exist:
        check_store(engine)
    return session_factory(engine)


def record_event(kind: str, subject: str, actor: str, payload: dict[str, Any], otherwise: str) -> None:
    """Add one event to the store's audit log for a change a command has already made elsewhere (the model
    registry, the keys file), with the OS user in its payload. A store that cannot take it leaves a note on
    stderr saying why and `otherwise` (where the change is still on record), not a failure."""
    from postroom.store.models import AuditEvent

    payload = {**payload, "os_user": default_actor()}
    event = AuditEvent(kind=kind, subject=subject, actor=actor, payload=payload)
    try:
        with open_sessions(load_settings())() as session:
            session.add(event)
            session.commit()
    except PostroomError as exc:
        err.print(
            f"note: the audit log did not record it ({printable(str(exc))}); {otherwise}",
            markup=False,
            highlight=False,
        )


def named_actor(given: str | None, option: str) -> str:
    """Who a CLI change is recorded as: `given` (the `option`), else the OS user.

    Raises:
        PostroomError: `given` is blank (an audit trail needs a name; without the option: the user).
    """
    if given is None:
        return default_actor()
    if not given.strip():
        raise PostroomError(f"{option} is empty: name who acts, or leave it out to record your user name")
    return checked_name(given.strip(), option)


def _has_control_characters(text: str) -> bool:
    """Controls (C0, DEL, C1: a CSI is U+009B), format characters (bidirectional overrides), line and
    paragraph separators: what would break a one-line view of the audit log or disguise it."""
    return hidden_character(text) is not None


def required_reason(reason: str | None, example: str) -> str:
    """`reason` stripped; a blank one is refused (an audit log records why, never a placeholder), and so is
    one with control characters (a line break, a terminal escape: the log shows one line of plain text).

    Raises:
        PostroomError: `reason` is missing, blank or holds control characters; the message for a missing
            one shows `example` (`--reason "…"`).
    """
    if reason is None or not reason.strip():
        raise PostroomError(f"--reason is required: say why, e.g. {example}")
    why = reason.strip()
    if _has_control_characters(why):
        raise PostroomError("--reason contains control characters: give it on one line of plain text")
    return why


def checked_name(value: str, option: str) -> str:
    """`value` if the store can record it as a name (who acted, a source): at most `NAME_MAX` characters,
    no control characters. Raises `PostroomError` naming `option` otherwise (PostgreSQL would refuse it)."""
    if len(value) > NAME_MAX:
        raise PostroomError(f"{option} is longer than {NAME_MAX} characters")
    if _has_control_characters(value):
        raise PostroomError(f"{option} contains control characters")
    return value
