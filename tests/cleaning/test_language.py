"""Language detection for German, English and Finnish (py3langid, model shipped in the package)."""

from __future__ import annotations

import json

import pytest

from postroom.cleaning import clean_message, detect_language

from .conftest import MASSIVE

SENTENCES = {
    "de": [
        "Bitte sperren Sie meine Kreditkarte, sie wurde gestern gestohlen.",
        "Wann wird die Dividende für meine Aktien gutgeschrieben?",
        "Ich möchte mein Tagesgeldkonto kündigen.",
        "Meine neue Adresse lautet Bahnhofstraße 5 in Leipzig.",
        "Die Überweisung ist noch nicht angekommen.",
    ],
    "en": [
        "Please block my credit card, it was stolen yesterday.",
        "When will the dividend for my shares be paid?",
        "I would like to close my savings account.",
        "My new address is 5 Station Road, Leeds.",
        "The transfer has not arrived yet.",
    ],
    "fi": [
        "Haluaisin sulkea luottokorttini, koska se varastettiin eilen.",
        "Milloin osakkeideni osinko maksetaan tililleni?",
        "Haluaisin lopettaa säästötilini.",
        "Uusi osoitteeni on Rautatienkatu 5, Oulu.",
        "Tilisiirto ei ole vieläkään tullut perille.",
    ],
}


@pytest.mark.parametrize(
    ("language", "sentence"), [(lang, s) for lang, sentences in SENTENCES.items() for s in sentences]
)
def test_sentences(language: str, sentence: str) -> None:
    assert detect_language(sentence) == language


@pytest.mark.parametrize("text", ["", "   ", "12345 67890", "!!!", "ok", None])
def test_undetermined(text: str | None) -> None:
    assert detect_language(text) is None  # type: ignore[arg-type]


def test_deterministic() -> None:
    text = "Hallo, ich habe eine Frage zu meinem Konto."
    assert {detect_language(text) for _ in range(20)} == {"de"}


def test_language_is_stored_with_the_cleaned_message() -> None:
    assert (
        clean_message("Hei,\n\nkorttini on kadonnut. Voitteko sulkea sen?\n\nTerveisin\nMatti").language
        == "fi"
    )


def test_short_text_falls_back_to_the_whole_body() -> None:
    """Two words of own text, a German thread below: the thread decides."""
    raw = (
        "Danke!\n\nAm 12.03.2024 um 10:15 schrieb Bank <s@bank.example>:\n"
        "> Ihre Karte wurde heute versandt, sie kommt in drei Tagen an.\n"
    )
    cleaned = clean_message(raw)
    assert cleaned.text == "Danke!"
    assert cleaned.language == "de"


@pytest.mark.parametrize("language", ["de", "en"])
def test_massive_accuracy(language: str) -> None:
    """Short voice-assistant utterances, the hard case: >= 93 % right on 500 test rows."""
    path = MASSIVE / f"massive_{language}_test.jsonl"
    if not path.exists():
        pytest.skip(f"MASSIVE not found at {path}")
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(500), handle, strict=False)]
    accuracy = sum(detect_language(r["text"]) == language for r in rows) / len(rows)
    assert accuracy >= 0.93, accuracy
