"""`docs/cli.md`: every `postroom` command's `--help`, generated from the code.

`make docs-cli` writes it (`python -m postroom.clidocs`); `tests/test_cli_docs.py` fails when the file and the
commands disagree (`python -m postroom.clidocs --check`), as llm's docs are checked by `cog --check`. The help
is click's plain text (no rich panels), so the file reads the same on every terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HEADER = """# `postroom` command reference

Generated from the commands' own help by `make docs-cli` (`python -m postroom.clidocs`); a test fails when
it is out of date, so edit the docstrings and options in the code, not this file. Every command also answers
`--help`.
"""


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path below `command` (a click group or command), depth first, in registration order."""
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths.extend(_paths(sub, (*prefix, name)))
    return paths


def render() -> str:
    """The whole reference: one section per command, its `--help` in a code block."""
    import typer
    import typer.core
    from typer.testing import CliRunner

    from postroom.cli import app, register_components

    register_components()
    runner = CliRunner()
    rich, typer.core.HAS_RICH = typer.core.HAS_RICH, False  # click's plain help, whatever the terminal
    try:
        sections = [HEADER]
        for path in _paths(typer.main.get_command(app)):
            result = runner.invoke(app, [*path, "--help"], prog_name="postroom", env={"COLUMNS": "100"})
            if result.exit_code != 0:
                raise RuntimeError(f"postroom {' '.join(path)} --help failed: {result.output}")
            title = " ".join(("postroom", *path))
            sections.append(f"## `{title}`\n\n```text\n{result.output.rstrip()}\n```\n")
    finally:
        typer.core.HAS_RICH = rich
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    """Write `docs/cli.md`, or with `--check` exit 1 when it differs from the commands."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run `make docs-cli`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
