"""CLI tables written to a pipe or file keep their class names whole."""

from __future__ import annotations

import io
import sys

import pytest
from rich.table import Table

from postroom.clikit import PIPE_WIDTH, console

LONG = "online_banking_access_for_business_clients"


def _table() -> Table:
    table = Table()
    for column in ("label set", "class", "threshold", "precision", "coverage", "evidence"):
        table.add_column(column)
    table.add_row("line_of_business", LONG, "0.91", "96.2%", "40.0%", "not certified")
    return table


def test_a_piped_console_is_wide_enough_for_long_class_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # not a terminal
    piped = console()
    assert piped.width == PIPE_WIDTH
    with piped.capture() as captured:
        piped.print(_table())
    assert LONG in captured.get()
    assert "line_of_business" in captured.get()


def test_columns_wins_over_the_pipe_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    narrow = console()
    assert narrow.width == 70
    with narrow.capture() as captured:
        narrow.print(_table())
    assert LONG not in captured.get()  # rich folds or cuts it at 70 columns, as asked


def test_stderr_console_follows_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert console(stderr=True).width == PIPE_WIDTH
