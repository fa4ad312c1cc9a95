"""Rules that must not fire on a client's own sentences (bank clients talk about registers and mailings)."""

from __future__ import annotations

import pytest

from postroom.cleaning import clean_message
from postroom.cleaning.charset import decode_bytes
from postroom.cleaning.html import html_to_text
from postroom.cleaning.signatures import is_disclaimer


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


# --- the audit's rules (tests/cleaning/audit_cases.yaml): precise enough to keep the client's words, and
# still removing what they removed before -------------------------------------------------------------------

SIGNED = "Hello,\n\nplease send me the annual statement.\n\nBest regards\nHannah Carter"


@pytest.mark.parametrize(
    "sentence",
    [
        "I want to report unauthorised use of my debit card.",
        "I received this email in error, it was meant for my neighbour.",
        "The payment was intended for the recipient's business account.",
        "I would prefer not to receive paper statements.",
        "I don't think this email was sent by you.",
        "I got an email notice and an email from an external sender claiming to be you.",
        "Auf meinem Konto sehe ich eine unbefugte Nutzung meiner Karte.",
        "Ich habe diese E-Mail irrtümlich erhalten.",
        "Ich bin nicht der richtige Empfänger dieser Mail.",
        "Olen saanut tämän viestin erehdyksessä.",
    ],
)
def test_legal_words_in_a_client_sentence_are_no_disclaimer(sentence: str) -> None:
    assert not is_disclaimer([sentence])
    raw = f"Hallo,\n\n{sentence}\n\nBitte prüfen Sie das."
    assert clean_message(raw).text == raw  # no closing below it, and not the first paragraph either


@pytest.mark.parametrize(
    "disclaimer",
    [
        "This email and any files transmitted with it are confidential and intended solely for the use of "
        "the individual or entity to whom they are addressed. If you have received this email in error "
        "please notify the system manager.",
        "This e-mail (including any attachments) is confidential. If you are not the intended recipient, "
        "please notify the sender. Any unauthorised use is prohibited.",
        "If you received this message by mistake, please delete it.",
        "CONFIDENTIALITY NOTICE: The contents of this email message are intended solely for the addressee.",
        "You are receiving this email because you signed up. If you prefer not to receive these emails, "
        "unsubscribe here.",
        "This email was sent to john@example.com by Example Ltd. Unsubscribe | Update your preferences",
        "Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren "
        "Sie bitte den Absender. Die unbefugte Weitergabe dieser Mail ist nicht gestattet.",
        "Dieses E-Mail ist nur für den Empfänger bestimmt. Falls Sie diese E-Mail fälschlicherweise "
        "erhalten haben, löschen Sie diese bitte.",
        "Tämä viesti voi sisältää luottamuksellista tietoa. Jos olet saanut viestin erehdyksessä, ilmoita "
        "lähettäjälle ja poista viesti.",
        "Tämä sähköpostiviesti on tarkoitettu ainoastaan vastaanottajalle. Jos et ole viestin oikea "
        "vastaanottaja, ilmoita lähettäjälle.",
    ],
)
def test_disclaimers_are_still_removed(disclaimer: str) -> None:
    assert is_disclaimer([disclaimer])
    assert clean_message(f"{SIGNED}\n\n{disclaimer}\n").text == SIGNED


@pytest.mark.parametrize(
    "banner",
    [
        "[EXTERNAL] This email originated from outside of the organization.",
        "CAUTION: This email originated outside of Northbank. Do not click links.",
        "[EXTERN] Diese E-Mail stammt von einem externen Absender.",
        "HUOMIO: Tämä viesti on tullut organisaation ulkopuolelta.",
    ],
)
def test_external_banners_at_the_top_are_removed(banner: str) -> None:
    assert clean_message(f"{banner}\n\n{SIGNED}").text == SIGNED


def test_a_first_paragraph_with_other_legal_words_stays() -> None:
    raw = "Any unauthorised use of this e-mail is prohibited, says your footer.\n\nWhy?\n\nThanks\nTom"
    assert clean_message(raw).text == raw


STILL_CUT = [
    # a real unquoted attribution (address or time, ":") still cuts what follows
    "On Tue, Mar 12, 2024 at 10:15 AM Northbank <service@northbank.co.uk> wrote:\n\nDear Ben, card sent.",
    "Am 12.03.24 um 10:15 schrieb Musterbank Online-Banking\n<online@musterbank.de>:\nIhre TAN-Liste kommt.",
    # a header block with a time and another mail-header field (Priority) is still a quote
    "From: Northbank <service@northbank.co.uk>\nSent: Tuesday, March 12, 2024 10:15 AM\n"
    "To: Ben <ben@example.com>\nPriority: High\nSubject: Card\n\nDear Ben, card sent.",
    # "-- " delimiters: a sign-off inside the signature, Thunderbird's doubled delimiter
    "-- \nMit freundlichen Grüßen\nHans Müller\nMuster GmbH\nTel. 089 1234567",
    "-- \n-- \nHans Müller\nMuster GmbH\nTel. 089 1234567",
    # mobile signatures naming the app or device; a company signature with no closing
    "Sent with BlackBerry Work (www.blackberry.com)",
    "Holen Sie sich Outlook für Android<https://aka.ms/AAb9ysg>",
    "Skickat från min iPhone",
    "John Smith\nHead of Treasury\nACME Ltd\nTel +44 20 7946 0000\nwww.acme.example",
]


@pytest.mark.parametrize("tail", STILL_CUT)
def test_markers_still_cut(tail: str) -> None:
    own = "Danke, bitte die Karte sperren."
    assert clean_message(f"{own}\n\n{tail}\n").text == own


@pytest.mark.parametrize(
    "raw",
    [
        # the client quoting the bank: a time, but "your", no address
        'Hi,\n\nOn 12/03/2024 at 14:30 your colleague wrote:\n\n"The money arrives tomorrow."\n\nIt has not.',
        "Hallo,\n\nam 04.03.2024 um 10:15 schrieb ich Ihnen:\n\nBitte Karte sperren.\n\nNichts geschah.",
        # one "--" with a sentence and then a sign-off after it
        "Hallo,\nzu Ihrer Frage:\n--\nDie Steuer-ID lautet 12 345 678 901. Bitte ändern Sie die Daten.\n\n"
        "Danke und viele Grüße\nMichael",
        # a client's details list under an announcing line: no time in the date, other keys
        "Hallo,\n\nich habe falsch überwiesen, die Daten:\n\nVon: Girokonto 1234\nAn: Sparkonto 5678\n"
        "Datum: 12.03.2024\nBetrag: 500 EUR\n\nBitte zurückbuchen.",
    ],
)
def test_client_lines_shaped_like_markers_stay(raw: str) -> None:
    assert clean_message(raw).text == raw


def test_a_header_block_announced_as_a_forward_or_a_resent_mail_is_still_a_quote() -> None:
    header = (
        "Von: Anna Becker <anna@example.de>\nGesendet: Freitag, 9. Februar 2024 10:15\n"
        "An: service@musterbank.de\nBetreff: Adresse\n\n"
    )
    note = "Hallo,\n\nbitte sehen Sie die weitergeleitete Nachricht unten:"
    assert clean_message(f"{note}\n\n{header}Die Miete ist fällig.").text == note
    note = "Guten Tag,\n\nich schicke Ihnen meine Mail vom 09.02. noch einmal:"
    cleaned = clean_message(f"{note}\n\n{header}Meine neue Adresse lautet Hauptstr. 5, 80331 München.")
    assert cleaned.text == f"{note}\n\nMeine neue Adresse lautet Hauptstr. 5, 80331 München."  # step 5a
    assert "kept_forwarded" in cleaned.flags


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Bitte auf dieses Konto:\n\nFI21 1234 5600 0007 85\nTilinumero: Nordea", None),
        ("Hi,\n\nsee it.\n\n[image: image.png]\n[cid:image001.png@01DA7B3C.1C2D3E40]\n\nThanks\nAnna",
         "Hi,\n\nsee it.\n\nThanks\nAnna"),
    ],
)
def test_account_details_stay_and_image_placeholders_go(raw: str, kept: str | None) -> None:
    assert clean_message(raw).text == (kept or raw)


def test_outlook_quote_with_a_left_border_is_still_a_quote() -> None:
    html = (
        "<p>Ja, bitte.</p><blockquote style='border:none;border-left:solid #CCCCCC 1.0pt;padding:0cm 0cm 0cm "
        "6.0pt;margin-left:4.8pt'><p>Sollen wir die Karte sperren?</p></blockquote>"
    )
    assert "> Sollen wir die Karte sperren?" in html_to_text(html)[0].split("\n")
    assert clean_message(html, "html").text == "Ja, bitte."


def test_gmail_indent_is_the_writers_text_and_a_preheader_is_hidden() -> None:
    html = (
        "<div style='opacity:0;max-height:0;overflow:hidden'>Preheader</div><div>Diese Buchungen:</div>"
        "<blockquote style='margin:0 0 0 40px;border:none;padding:0px'><div>AMZN 59,99 EUR</div></blockquote>"
        "<div style='font-size:0'><span style='font-size:14px'>kenne ich nicht.</span></div>"
    )
    assert html_to_text(html)[0].split("\n") == ["Diese Buchungen:", "AMZN 59,99 EUR", "kenne ich nicht."]


@pytest.mark.parametrize(
    ("data", "label", "text", "fell_back"),
    [
        (b"12,50 \x80 \x84kostenlos\x93 \x96 M\xe4rz", "iso-8859-1", "12,50 € „kostenlos“ – März", False),
        (b"undefined \x81 byte", "latin1", "undefined \x81 byte", False),
        ("€45 in Málaga".encode(), "iso-8859-1", "€45 in Málaga", True),  # UTF-8 under a Latin-1 label
        (b"M\xe4rz \x80", "us-ascii", "März €", True),
        (b"Gr\xfc\xdfe", "iso-8859-15", "Grüße", False),
    ],
)
def test_latin1_labels_are_read_as_windows_1252(data: bytes, label: str, text: str, fell_back: bool) -> None:
    assert decode_bytes(data, label) == (text, fell_back)


def test_only_mixed_text_parts_are_joined() -> None:
    """iOS Mail's text/plain + photo + text/plain are one text; the parts of an alternative are not."""
    part = "--B\nContent-Type: text/plain; charset=utf-8\n\n{}\n"
    image = "--B\nContent-Type: image/jpeg\nContent-Disposition: inline; filename=a.jpg\n\n/9j/\n"
    head = "From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/{}; boundary=B\n\n"
    mixed = head.format("mixed") + part.format("Hallo,") + image + part.format("die Karte ist weg.")
    assert clean_message(mixed + "--B--\n", "rfc822").text == "Hallo,\n\ndie Karte ist weg."
    alternative = head.format("alternative") + part.format("Hallo.") + part.format("Hallo!") + "--B--\n"
    assert clean_message(alternative, "rfc822").text == "Hallo."
