"""`docs/cli.md` is generated from the commands' help and must match them (`make docs-cli` rewrites it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postroom import clidocs


@pytest.fixture(scope="module")
def rendered() -> str:
    return clidocs.render()


def test_the_cli_reference_matches_the_commands(rendered: str) -> None:
    current = clidocs.DOC.read_text(encoding="utf-8")
    assert current == rendered, "docs/cli.md is out of date: run make docs-cli"


def test_every_command_has_a_section_with_its_help(rendered: str) -> None:
    for title in ("postroom serve", "postroom thresholds rollback", "postroom label push", "postroom keys"):
        assert f"## `{title}`\n\n```text\nUsage: {title} " in rendered
    assert "Example: postroom thresholds rollback 3" in rendered
    assert "╭" not in rendered  # click's plain help, not rich's panels


def test_check_refuses_a_stale_or_missing_reference(
    rendered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(clidocs, "render", lambda: rendered)
    stale = tmp_path / "cli.md"
    stale.write_text(rendered.replace("Example: postroom init", "Example: postroom setup"), encoding="utf-8")
    monkeypatch.setattr(clidocs, "DOC", stale)
    assert clidocs.main(["--check"]) == 1
    assert "run `make docs-cli`" in capsys.readouterr().err
    monkeypatch.setattr(clidocs, "DOC", tmp_path / "missing.md")
    assert clidocs.main(["--check"]) == 1
    assert clidocs.main([]) == 0 and clidocs.main(["--check"]) == 0  # written, then current
