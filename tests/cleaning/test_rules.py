"""Rules that must not fire on a client's own sentences (bank clients talk about registers and mailings)."""

from __future__ import annotations

import pytest

from postroom.cleaning import clean_message


@pytest.mark.parametrize(
    "body",
    [
        "Please note that our registered office has moved. With effect from 19 August our address is\n"
        "Holstenstraße 57, 20357 Hamburg. An updated extract from the commercial register will follow.",
        "Please remove me from your mailing list, I do not want to receive any more newsletters.",
        "How do I unsubscribe from the monthly fund newsletter?",
        "The car is the property of my company, so the loan should be in the company's name.",
        "I transferred 200 EUR in error to the wrong account. This is confidential, please call me.",
        "From: my current account\nTo: my savings account\nAmount: 500 EUR\nThe transfer did not happen.",
    ],
)
def test_client_sentences_survive(body: str) -> None:
    raw = f"Dear Sir or Madam,\n\n{body}\n\nKind regards\nHannah Carter\n"
    cleaned = clean_message(raw)
    assert cleaned.text == raw.strip()
    assert cleaned.flags == ()


def test_footer_with_two_register_entries_is_removed() -> None:
    raw = (
        "Hello,\n\nplease send me the annual statement.\n\nBest regards\nHannah Carter\n\n"
        "Quayside GmbH | Registered office: Hamburg | Register court: Amtsgericht Hamburg, HRB 71502\n"
    )
    cleaned = clean_message(raw)
    assert cleaned.text == "Hello,\n\nplease send me the annual statement.\n\nBest regards\nHannah Carter"
    assert dict(cleaned.removed)["disclaimer"] == 1


def test_prose_after_a_disclaimer_is_kept() -> None:
    raw = (
        "Hello,\n\nmy card is blocked.\n\n"
        "This e-mail may contain confidential information. If you have received this e-mail in error, "
        "please notify the sender.\n\n"
        "Sorry, one more thing: I also need a new PIN letter because the old one never arrived here.\n"
    )
    cleaned = clean_message(raw)
    assert "my card is blocked." in cleaned.text and "new PIN letter" in cleaned.text
    assert "confidential" not in cleaned.text
