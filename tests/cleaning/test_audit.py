"""Realistic tricky e-mails with their correct cleaned text, run through `clean_message` by one runner:

* the cleaning audit's 63 (tests/cleaning/audit_cases.yaml): most harmful first, a client's fraud or phishing
  report cut because a sentence reads like a disclaimer, an attribution or a header block;
* the held-out set's 50 (tests/cleaning/heldout_cases.yaml), written independently after the audit's fixes;
* the second held-out set's 40 (tests/cleaning/heldout2_cases.yaml), written independently after version 5;
* the third held-out set's 40 (tests/cleaning/heldout3_cases.yaml), written independently after version 6.

A case marked `known_limit` must still fail, so that a fix is noticed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from postroom.cleaning import clean_message

HERE = Path(__file__).parent
CASE_FILES = {
    "audit": "audit_cases.yaml",
    "heldout": "heldout_cases.yaml",
    "heldout2": "heldout2_cases.yaml",
    "heldout3": "heldout3_cases.yaml",
}
SETS: dict[str, list[dict[str, Any]]] = {
    name: yaml.safe_load((HERE / file).read_text("utf-8")) for name, file in CASE_FILES.items()
}
CASES = SETS["audit"]
CAUSES = set("ABCDEFGHIJKL")
# What a held-out case's `removable` snippets are (the third set also names device lines, forwards and markup)
REMOVABLE_KINDS = ("quote", "signature", "disclaimer", "banner", "device", "forward", "markup")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _raw(case: dict[str, Any]) -> str | bytes:
    return base64.b64decode(case["raw_base64"]) if "raw_base64" in case else case["raw"]


def _params() -> list[Any]:
    params = []
    for name, cases in SETS.items():
        for case in cases:
            limit = case.get("known_limit")
            marks = [pytest.mark.xfail(strict=True, reason=limit)] if limit else []
            params.append(pytest.param(case, id=f"{name}-{case['id']}", marks=marks))
    return params


def _check_fields(case: dict[str, Any]) -> None:
    assert case["format"] in ("text", "html", "rfc822")
    assert ("raw" in case) != ("raw_base64" in case), case["id"]
    assert case.get("known_limit", "x").strip(), f"{case['id']}: a known limit needs its reason"


def test_every_audit_case_is_here() -> None:
    assert len(CASES) == 63
    assert len({case["id"] for case in CASES}) == len(CASES)
    failing = [case for case in CASES if case["cause"] != "none"]
    assert len(failing) == 38 and {case["cause"] for case in failing} == CAUSES
    for case in CASES:
        _check_fields(case)


@pytest.mark.parametrize(
    ("name", "total", "removal", "look_alike"),
    [("heldout", 50, 26, 24), ("heldout2", 40, 22, 18), ("heldout3", 40, 21, 19)],
)
def test_every_heldout_case_is_here(name: str, total: int, removal: int, look_alike: int) -> None:
    cases = SETS[name]
    assert len(cases) == total
    assert len({case["id"] for case in cases}) == len(cases)
    others = {case["id"] for other, other_cases in SETS.items() if other != name for case in other_cases}
    assert not {case["id"] for case in cases} & others
    assert sum(case["category"] == "R" for case in cases) == removal
    assert sum(case["category"] == "L" for case in cases) == look_alike
    for case in cases:
        _check_fields(case)
        for kind, snippet in case["removable"]:  # what must go is not in the expected text
            assert kind in REMOVABLE_KINDS, case["id"]
            assert _norm(snippet) not in _norm(case["expected"]), (case["id"], snippet)


@pytest.mark.parametrize("case", _params())
def test_case_is_cleaned_as_expected(case: dict[str, Any]) -> None:
    cleaned = clean_message(_raw(case), case["format"])
    text = _norm(cleaned.text)
    for kind, snippet in case.get("removable", []):
        assert _norm(snippet) not in text, f"{kind} kept: {snippet}"
    assert text == _norm(case["expected"])
    assert cleaned.language in case["language"].split("/")  # "sv/fi": a bilingual e-mail, either
    for flag in case.get("flags", []):
        assert flag in cleaned.flags
    assert "empty_after_cleaning" not in cleaned.flags


@pytest.mark.parametrize(
    "case",
    [case for cases in SETS.values() for case in cases if case["format"] != "rfc822"],
    ids=lambda case: case["id"],
)
def test_bytes_input_gives_the_same_text(case: dict[str, Any]) -> None:
    raw = case["raw"]
    assert clean_message(raw.encode("utf-8"), case["format"]).text == clean_message(raw, case["format"]).text
