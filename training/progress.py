"""Progress reporting: rich bars on stderr for the CLI, silence for library calls and tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Task(Protocol):
    def advance(self, steps: int = 1) -> None: ...
    def set_total(self, total: int) -> None: ...
    def note(self, text: str) -> None: ...


class Reporter(Protocol):
    """Opens progress tasks and prints one-line notes (never message text)."""

    def task(self, description: str, total: int | None = None) -> Iterator[Task]: ...
    def info(self, text: str) -> None: ...


class _NullTask:
    def advance(self, steps: int = 1) -> None:
        pass

    def set_total(self, total: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class NullReporter:
    """Reports nothing."""

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        yield _NullTask()

    def info(self, text: str) -> None:
        pass


class _RichTask:
    def __init__(self, progress: Progress, task_id: int, description: str) -> None:
        self._progress = progress
        self._id = task_id
        self._description = description

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._id, steps)  # type: ignore[arg-type]

    def set_total(self, total: int) -> None:
        self._progress.update(self._id, total=total)  # type: ignore[arg-type]

    def note(self, text: str) -> None:
        self._progress.update(self._id, description=f"{self._description} {text}")  # type: ignore[arg-type]


class RichReporter:
    """Rich progress bars on a (stderr) console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        ) as progress:
            task_id = progress.add_task(description, total=total)
            yield _RichTask(progress, task_id, description)  # type: ignore[arg-type]

    def info(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)
