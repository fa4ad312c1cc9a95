"""Where the public cleaning fixtures live (read by path, never copied into the repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT.parent / "shared" / "data" / "email_cleaning" / "email_cleaning_fixtures.jsonl"
MASSIVE = REPO_ROOT.parent / "shared" / "data" / "massive"
MISSING = f"public fixtures not found at {FIXTURES} (../shared/data next to the repository)"


def load_records() -> list[dict[str, Any]]:
    """All fixture records, or [] when ../shared/data is absent (the tests then skip with MISSING)."""
    if not FIXTURES.exists():
        return []
    with FIXTURES.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def fixtures_path() -> Path:
    if not FIXTURES.exists():
        pytest.skip(MISSING)
    return FIXTURES
