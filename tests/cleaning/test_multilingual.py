"""Hand-written German and Finnish e-mails (tests/cleaning/multilingual_cases.yaml) with expected outputs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from postroom.cleaning import clean_message

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "multilingual_cases.yaml").read_text("utf-8")
)

# Every style the issue lists, in both languages.
REQUIRED_STYLES = {
    "quote-gt", "attribution-unquoted", "original-message", "outlook-header-block", "outlook-separator-line",
    "apple-mail", "forward", "forward-apple", "only-quote", "inline-reply", "html", "gmail", "rfc822",
    "charset-latin1", "attachment", "signature-delimiter", "closing", "mobile-signature", "contact-block",
    "disclaimer", "impressum", "external-banner", "disclaimer-environment", "only-signature",
    "false-positive-header", "false-positive-attribution", "false-positive-disclaimer", "postscript",
}  # fmt: skip


def _norm(text: str) -> str:
    return " ".join(text.split())


def test_at_least_30_cases_per_language() -> None:
    counts = Counter(case["language"] for case in CASES)
    assert counts["de"] >= 30 and counts["fi"] >= 30, counts
    assert len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("language", ["de", "fi"])
def test_every_style_is_covered(language: str) -> None:
    styles = {style for case in CASES if case["language"] == language for style in case["styles"]}
    assert styles >= REQUIRED_STYLES, REQUIRED_STYLES - styles


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    cleaned = clean_message(case["raw"], case.get("format", "text"))
    assert _norm(cleaned.text) == _norm(case["expected"] or "")
    for flag in case.get("flags", []):
        assert flag in cleaned.flags
    if case["expected"]:
        assert cleaned.language == case["language"]
        assert "empty_after_cleaning" not in cleaned.flags


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bytes_input_gives_the_same_text(case: dict[str, Any]) -> None:
    raw = case["raw"]
    assert (
        clean_message(raw.encode("utf-8"), case.get("format", "text")).text
        == clean_message(raw, case.get("format", "text")).text
    )
