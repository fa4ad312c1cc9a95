"""The cleaning audit's 63 tricky e-mails (tests/cleaning/audit_cases.yaml) with their correct cleaned text.

Most harmful first: a client's fraud or phishing report cut because a sentence reads like a disclaimer, an
attribution or a header block. A case marked `known_limit` must still fail, so that a fix is noticed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from postroom.cleaning import clean_message

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "audit_cases.yaml").read_text("utf-8"))
CAUSES = set("ABCDEFGHIJKL")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _raw(case: dict[str, Any]) -> str | bytes:
    return base64.b64decode(case["raw_base64"]) if "raw_base64" in case else case["raw"]


def _params() -> list[Any]:
    params = []
    for case in CASES:
        limit = case.get("known_limit")
        marks = [pytest.mark.xfail(strict=True, reason=limit)] if limit else []
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


def test_every_audit_case_is_here() -> None:
    assert len(CASES) == 63
    assert len({case["id"] for case in CASES}) == len(CASES)
    failing = [case for case in CASES if case["cause"] != "none"]
    assert len(failing) == 38 and {case["cause"] for case in failing} == CAUSES
    for case in CASES:
        assert case["format"] in ("text", "html", "rfc822")
        assert ("raw" in case) != ("raw_base64" in case), case["id"]
        assert case.get("known_limit", "x").strip(), f"{case['id']}: a known limit needs its reason"


@pytest.mark.parametrize("case", _params())
def test_audit_case(case: dict[str, Any]) -> None:
    cleaned = clean_message(_raw(case), case["format"])
    assert _norm(cleaned.text) == _norm(case["expected"])
    assert cleaned.language == case["language"]
    for flag in case.get("flags", []):
        assert flag in cleaned.flags
    assert "empty_after_cleaning" not in cleaned.flags


@pytest.mark.parametrize(
    "case", [case for case in CASES if case["format"] != "rfc822"], ids=lambda case: case["id"]
)
def test_bytes_input_gives_the_same_text(case: dict[str, Any]) -> None:
    raw = case["raw"]
    assert clean_message(raw.encode("utf-8"), case["format"]).text == clean_message(raw, case["format"]).text
