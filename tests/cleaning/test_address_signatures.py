"""Addresses in signatures (German, Austrian, Swiss, Finnish, English) versus addresses that are the content.

QA found that German signatures stayed in full: "Musterstraße 5" was no contact evidence, because the street
word had to stand alone ("Kärntner Straße 12"). The closing decides: an address block after the sign-off and
name is a signature; an address announced by the client ("Meine neue Anschrift lautet:"), inside a sentence,
in a P.S. or at the end of a message about a change of address, without a closing, is kept.
"""

from __future__ import annotations

import pytest

from postroom.cleaning import clean_message
from postroom.cleaning.signatures import address_line, introduces_content

DE_BODY = "Sehr geehrte Damen und Herren,\n\nbitte senden Sie mir den Kontoauszug für März zu.\n\n"
DE_KEPT = DE_BODY + "Mit freundlichen Grüßen\nHans Müller"
DE_SIGNATURE = "Mit freundlichen Grüßen\nHans Müller\nMusterstraße 5\n80331 München\nTel. 089 123456"
FI_BODY = "Hei,\n\nlähettäkää minulle tiliote maaliskuulta.\n\n"
FI_KEPT = FI_BODY + "Ystävällisin terveisin\nMatti Meikäläinen"
EN_BODY = "Hi,\n\nplease send me the March statement.\n\n"


# --- the QA repro (records g1–g4) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "removed"),
    [
        pytest.param(DE_BODY + DE_SIGNATURE, {"signature": 3}, id="g1-plain"),
        pytest.param(
            DE_BODY + DE_SIGNATURE + "\nhans.mueller@example.de", {"signature": 4}, id="g1-with-email"
        ),
        pytest.param(
            DE_BODY
            + DE_SIGNATURE
            + "\n\nAm 02.03.2026 um 09:30 schrieb Nordhafen Bank <service@nhb.de>:\n> alt",
            {"signature": 3, "quote": 2},
            id="g2-quote-below",
        ),
        pytest.param(
            DE_BODY + DE_SIGNATURE + "\n\n--\nDiese E-Mail enthält vertrauliche Informationen.",
            {"signature": 3, "disclaimer": 2},
            id="g3-disclaimer-below",
        ),
    ],
)
def test_german_signature_with_address_is_removed(raw: str, removed: dict[str, int]) -> None:
    cleaned = clean_message(raw)
    assert cleaned.text == DE_KEPT
    assert {kind: n for kind, n in cleaned.removed if n} == removed


def test_english_signature_with_address_is_removed() -> None:
    raw = EN_BODY + "Kind regards\nHans Muller\n5 High Street\nLondon SW1A 1AA\nTel. +44 20 1234 5678"
    assert clean_message(raw).text == EN_BODY + "Kind regards\nHans Muller"


# --- street, PO box and postcode lines -------------------------------------------------------------


@pytest.mark.parametrize(
    ("street", "city"),
    [
        ("Musterstraße 5", "80331 München"),
        ("Hauptstr. 12", "10115 Berlin"),
        ("Am Marktplatz 3", "1010 Wien"),
        ("Lindenallee 7", "8001 Zürich"),
        ("Schillerweg 2a", "50667 Köln"),
        ("Goethering 1", "60311 Frankfurt am Main"),
        ("Bahnhofsgasse 4", "CH-3011 Bern"),
        ("Kirchdamm 9", "D-20095 Hamburg"),
        ("Uferpromenade 3", "6900 Bregenz"),
        ("Postfach 12 34 56", "80331 München"),
        ("Unter den Linden 5", "10117 Berlin"),
    ],
)
def test_german_austrian_swiss_addresses_after_the_closing_are_removed(street: str, city: str) -> None:
    raw = DE_BODY + f"Mit freundlichen Grüßen\nHans Müller\n{street}\n{city}\n"
    cleaned = clean_message(raw)
    assert cleaned.text == DE_KEPT
    assert dict(cleaned.removed)["signature"] == 2


FI_STREETS = (
    "Mannerheimintie 12 A 5",
    "Esplanadi 1",
    "Aleksanterinkatu 15",
    "Pohjoisranta 4",
    "Kauppatori 1",
    "PL 123",
)


@pytest.mark.parametrize("street", FI_STREETS)
def test_finnish_addresses_after_the_closing_are_removed(street: str) -> None:
    signature = f"Matti Meikäläinen\n{street}\n00100 Helsinki\npuh. 040 123 4567\n"
    raw = FI_BODY + "Ystävällisin terveisin\n" + signature
    cleaned = clean_message(raw)
    assert cleaned.text == FI_KEPT
    assert dict(cleaned.removed)["signature"] == 3


@pytest.mark.parametrize("street", ["Musterstraße 5", "Mannerheimintie 12 A 5", "Lindenallee 7"])
def test_street_alone_after_the_closing_is_removed(street: str) -> None:
    # a street line with no postcode line below it is evidence on its own
    raw = DE_BODY + f"Mit freundlichen Grüßen\nHans Müller\n{street}\nTel. 089 123456"
    assert clean_message(raw).text == DE_KEPT


@pytest.mark.parametrize(
    "line",
    [
        "Musterstraße 5", "Hauptstr. 12", "Am Marktplatz 3", "Lindenallee 7", "Schillerweg 2a",
        "Goethering 1", "Bahnhofsgasse 4", "Kirchdamm 9", "Uferpromenade 3", "Mannerheimintie 12 A 5",
        "Esplanadi 1", "Aleksanterinkatu 15", "Pohjoisranta 4", "Kauppatori 1", "Postfach 12 34 56", "PL 123",
        "80331 München", "D-80331 München", "00100 Helsinki", "FI-00100 Helsinki", "1010 Wien", "8001 Zürich",
        "60311 Frankfurt am Main", "Musterstraße 5, 80331 München", "5 High Street", "Kärntner Straße 12",
    ],
)  # fmt: skip
def test_address_lines(line: str) -> None:
    assert address_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "ich bin in die Musterstraße 5 umgezogen",
        "bitte 2000 Euro überweisen",
        "In 2024 habe ich zweimal überwiesen",
        "Kontoauszug vom 12.03.2024 Bank",
        "siehe Anlage 1",
        "Spring 2001 results",
        "I will bring 5 copies",
    ],
)
def test_sentences_are_not_address_lines(line: str) -> None:
    assert not address_line(line)


def test_lines_that_announce_content() -> None:
    assert introduces_content("Meine neue Anschrift lautet:")
    assert introduces_content("Neue Anschrift:")
    assert introduces_content("Uusi osoitteeni:")
    assert introduces_content("Please send the new card to:")
    assert not introduces_content("Postanschrift:")  # a heading inside a company signature
    assert not introduces_content("Kind regards:")
    assert not introduces_content("Meine neue Anschrift lautet")


# --- an address that is the client's content --------------------------------------------------------


CONTENT = {
    # the address inside a sentence
    "de-sentence": "Sehr geehrte Damen und Herren,\n\nich bin in die Musterstraße 5 umgezogen, "
    "bitte ändern Sie meine Adresse.\n\nMit freundlichen Grüßen\nHans Müller",
    "de-sentence-short": "Sehr geehrte Damen und Herren,\n\nich bin in die Musterstraße 5 umgezogen\n\n"
    "Viele Grüße\nHans",
    "fi-sentence": "Hei,\n\nolen muuttanut osoitteeseen Mannerheimintie 12 A 5, päivittäkää osoitteeni.\n\n"
    "Ystävällisin terveisin\nMatti",
    "en-sentence": "Hello,\n\nI have moved to 5 High Street, please update my address.\n\nKind regards\nHans",
    # the address announced by the line above it, at the very end
    "de-announced-name-address": "Sehr geehrte Damen und Herren,\n\nbitte ändern Sie meine Adresse. "
    "Meine neue Anschrift lautet:\n\nHans Müller\nMusterstraße 5\n80331 München",
    "de-announced-same-paragraph": "Sehr geehrte Damen und Herren,\n\nbitte ändern Sie meine Adresse.\n"
    "Meine neue Anschrift lautet:\nMusterstraße 5\n80331 München",
    "fi-announced": "Hei,\n\nmuutin juuri, päivittäkää tietonne. Uusi osoitteeni on:\n\n"
    "Mannerheimintie 12 A 5\n00100 Helsinki",
    "en-announced-before-closing": "Hello,\n\nplease change my address. The new one is:\n\n"
    "Hans Muller\n5 High Street\nLondon SW1A 1AA\n\nKind regards\nHans Muller",
    # a message about a change of address ending with the address, without a closing
    "de-moving-no-closing": "Hallo,\n\nich bin umgezogen, bitte ändern Sie meine Adresse.\n\n"
    "Musterstraße 5\n80331 München",
    "fi-moving-no-closing": "Hei,\n\nosoitteeni on muuttunut, päivittäkää se.\n\n"
    "Aleksanterinkatu 15 B 7\n00100 Helsinki",
    "en-moving-no-closing": "Hello,\n\nplease update my address.\n\n"
    "Hans Muller\n5 High Street\nLondon SW1A 1AA",
    # after the closing, but announced or in a P.S.
    "de-announced-after-closing": "Hallo,\n\nbitte Karte sperren.\n\nMit freundlichen Grüßen\nHans Müller\n\n"
    "Neue Anschrift:\nMusterstraße 5\n80331 München",
    "de-ps-announced": "Hallo,\n\nbitte Karte sperren.\n\nViele Grüße\nHans Müller\n\n"
    "PS: meine neue Adresse lautet:\n\nMusterstraße 5\n80331 München",
    "de-ps-address": "Hallo,\n\nbitte Karte sperren.\n\nViele Grüße\nHans Müller\n\n"
    "PS: Neue Karte an Musterstraße 5, 80331 München.",
    "de-sentence-after-closing": "Hallo,\n\nbitte Karte sperren.\n\nViele Grüße\nHans\n\n"
    "Die Filiale in der Hauptstr. 12 war heute zu",
    "fi-ps-announced": "Hei,\n\nkortti pitää sulkea.\n\nTerveisin\nMatti\n\n"
    "PS: Uusi osoitteeni:\nPohjoisranta 4\n00170 Helsinki",
    "en-ps-address": "Hi,\n\nplease block my card.\n\nThanks\nHans\n\n"
    "P.S. New card to 5 High Street, please.",
    "de-ps-amount": "Hallo,\n\nbitte Karte sperren.\n\nViele Grüße\nHans\n\n"
    "PS: bitte 2000 Euro in bar bereitstellen",
}


@pytest.mark.parametrize("raw", CONTENT.values(), ids=CONTENT.keys())
def test_address_as_content_is_kept(raw: str) -> None:
    cleaned = clean_message(raw)
    assert cleaned.text == raw
    assert dict(cleaned.removed)["signature"] == 0


def test_signature_after_an_address_announced_in_the_body_is_still_removed() -> None:
    raw = (
        "Sehr geehrte Damen und Herren,\n\nmeine neue Anschrift lautet:\nMusterstraße 5\n80331 München\n\n"
        "Mit freundlichen Grüßen\nHans Müller\nMusterstraße 5\n80331 München\nTel. 089 123456"
    )
    cleaned = clean_message(raw)
    assert cleaned.text == raw.rsplit("\nMusterstraße 5\n80331 München\nTel.", 1)[0]
    assert dict(cleaned.removed)["signature"] == 3
