"""Cover notes over the client's own earlier e-mail: the earlier e-mail is kept after the note.

QA found that re-sent requests ("WG: … / Ich schicke meine Mail vom 09.02. noch einmal" over a forwarded
address change) reached the classifier as the reminder line only. A content-free cover note over a
forwarded or quoted earlier message of the client keeps that message's own text (its header, quotes,
signature and disclaimer removed); a reply with content of its own, and a quoted reply of the bank, are
cleaned as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postroom.cleaning import CLEANER_VERSION, CleanedEmail, clean_message
from postroom.cleaning.forwarded import cover_note

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CORPUS = REPO_ROOT / "examples" / "demo" / "corpus.jsonl"

DE_FORWARD = """\
Hallo,

ich schicke meine Mail vom 09.02. noch einmal, da ich noch keine Antwort erhalten habe.

Viele Grüße
Anna Becker

---------- Weitergeleitete Nachricht ----------
Von: Anna Becker <anna.becker@example.de>
Datum: Mo., 9. Feb. 2026 um 10:15 Uhr
Betreff: Adressänderung
An: <service@nordhafen-bank.example>

Guten Tag,

ich bin umgezogen. Meine neue Anschrift lautet:
Lindenallee 7
80331 München

Mit freundlichen Grüßen
Anna Becker
--\x20
Anna Becker
Tel. 0171 1234567
"""

DE_ORIGINAL = """\
Erinnerung – siehe unten. Bitte um Bearbeitung.

Gruß
Horst

-----Ursprüngliche Nachricht-----
Von: Horst Jensen <h.jensen@example.de>
Gesendet: Montag, 9. Februar 2026 04:02
An: service@nordhafen-bank.example
Betreff: Adressänderung

Neue Adresse ab sofort: Wandsbeker Chaussee 157, 22089 Hamburg. Danke.

Gruß
Horst Jensen

Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat sind, informieren Sie
bitte sofort den Absender und löschen Sie diese E-Mail.
"""

DE_QUOTE = """\
Ich hatte Ihnen das bereits am 09.06. geschrieben und bisher keine Rückmeldung erhalten.

Am 09.06.2026 um 11:33 schrieb Jürgen Dittmer <juergen.dittmer@example.de>:
> Hallo,
>
> bitte sperren Sie meine Kreditkarte, sie ist gestohlen worden.
>
> Am 01.06.2026 um 09:00 schrieb Nordhafen Bank <service@nordhafen-bank.example>:
>> Sehr geehrter Herr Dittmer, vielen Dank für Ihre Nachricht.
>
> Jürgen
"""

EN_QUOTE = """\
Following up on my email below - any update?

Thanks,
Anna

On Mon, 2 Feb 2026 at 10:15, Anna Becker <anna.becker@example.com> wrote:
> Hello,
>
> my debit card was declined at two shops today. Could you check whether it is blocked?
>
> Best regards
> Anna Becker
> --
> Anna Becker | +49 170 1234567
"""

EN_FORWARD = """\
Resending, see below. I haven't heard back yet. Could someone please look at it?

Best
Chloe

-----Original Message-----
From: Chloe Souza <chloe_souza@example.com>
Sent: Sunday, September 20, 2026 1:51 PM
To: service@nordhafen-bank.example
Subject: Order fee higher than price list

Good afternoon,

The fee for my last order was 4.55 EUR, but your price list says 4.90 euros flat. Could you correct this?

Thank you,
Chloe Souza
"""

FI_FORWARD = """\
Hei,

Lähetän viestini uudelleen, koska en ole saanut vastausta.

Ystävällisin terveisin
Matti

-------- Välitetty viesti --------
Aihe: Osoitteenmuutos
Päivämäärä: 2.2.2026 klo 10.15
Lähettäjä: Matti Meikäläinen <matti.meikalainen@example.fi>
Vastaanottaja: asiakaspalvelu@nordhafen-bank.example

Hei,

osoitteeni on muuttunut. Uusi osoitteeni on Mannerheimintie 12 A 5, 00100 Helsinki.

Terveisin
Matti Meikäläinen
"""

FI_ORIGINAL = """\
Muistutus: alla oleva viesti on vielä vastaamatta.

-----Alkuperäinen viesti-----
Lähettäjä: Liisa Virtanen <liisa.virtanen@example.fi>
Lähetetty: maanantai 2. helmikuuta 2026 9.00
Vastaanottaja: asiakaspalvelu@nordhafen-bank.example
Aihe: Tiliote

Hei, tarvitsen tiliotteen tammikuulta PDF-muodossa.

Liisa
"""

FI_QUOTE = """\
Lähetän viestini uudelleen, katso alla oleva viesti.

ke 4.2.2026 klo 10.15 Matti Meikäläinen <matti.meikalainen@example.fi> kirjoitti:
> Hei,
>
> korttini on hukassa, voitteko sulkea sen ja lähettää uuden kortin?
>
> Terveisin
> Matti
"""


@pytest.mark.parametrize(
    ("raw", "cover", "kept", "dropped"),
    [
        pytest.param(
            DE_FORWARD,
            "noch einmal",
            ["ich bin umgezogen", "Lindenallee 7", "80331 München"],
            ["Weitergeleitete", "Von:", "Betreff:", "0171 1234567"],
            id="de-forward",
        ),
        pytest.param(
            DE_ORIGINAL,
            "siehe unten",
            ["Neue Adresse ab sofort: Wandsbeker Chaussee 157"],
            ["Ursprüngliche", "Gesendet:", "vertrauliche"],
            id="de-original-message",
        ),
        pytest.param(
            DE_QUOTE,
            "keine Rückmeldung",
            ["bitte sperren Sie meine Kreditkarte"],
            ["Am 09.06.2026", "schrieb Nordhafen", "vielen Dank für Ihre Nachricht", ">"],
            id="de-quote",
        ),
        pytest.param(
            EN_QUOTE,
            "any update",
            ["my debit card was declined"],
            ["wrote:", "+49 170", ">"],
            id="en-quote",
        ),
        pytest.param(
            EN_FORWARD,
            "Resending",
            ["The fee for my last order was 4.55 EUR"],
            ["Original Message", "From:", "Subject:"],
            id="en-original-message",
        ),
        pytest.param(
            FI_FORWARD,
            "uudelleen",
            ["osoitteeni on muuttunut", "Mannerheimintie 12 A 5"],
            ["Välitetty", "Lähettäjä:", "Aihe:"],
            id="fi-forward",
        ),
        pytest.param(
            FI_ORIGINAL,
            "Muistutus",
            ["tarvitsen tiliotteen tammikuulta"],
            ["Alkuperäinen", "Lähetetty:"],
            id="fi-original-message",
        ),
        pytest.param(
            FI_QUOTE,
            "uudelleen",
            ["korttini on hukassa"],
            ["kirjoitti", ">"],
            id="fi-quote",
        ),
    ],
)
def test_cover_note_keeps_the_earlier_message(
    raw: str, cover: str, kept: list[str], dropped: list[str]
) -> None:
    cleaned = clean_message(raw)
    assert cover in cleaned.text
    assert cleaned.text.index(cover) < cleaned.text.index(kept[0])  # the note first, then the request
    for words in kept:
        assert words in cleaned.text
    for words in dropped:
        assert words not in cleaned.text
    assert "kept_forwarded" in cleaned.flags
    metadata = cleaned.metadata()
    assert metadata["flags"].count("kept_forwarded") == 1
    assert metadata["removed_lines"]["quote"] >= 1  # the separator and header lines are still removed
    assert metadata["cleaner_version"] == CLEANER_VERSION == "7"


def test_kept_message_is_cleaned_like_a_body() -> None:
    cleaned = clean_message(DE_FORWARD)
    assert cleaned.text.endswith("Mit freundlichen Grüßen\nAnna Becker")  # closing kept, signature gone
    assert cleaned.language == "de"
    assert cleaned.metadata()["removed_lines"] == {"quote": 5, "signature": 3, "disclaimer": 0}


def test_cover_note_over_a_cover_note() -> None:
    inner = "\n".join("> " + line if line else ">" for line in EN_QUOTE.splitlines())
    raw = (
        "Any update? Still waiting for a reply.\n\n"
        "On Tue, 10 Feb 2026 at 09:00, Anna Becker <a@b.example> wrote:\n"
    )
    cleaned = clean_message(raw + inner)
    assert "Following up on my email below" in cleaned.text
    assert "my debit card was declined" in cleaned.text
    assert ">" not in cleaned.text


# --- unchanged: replies with content of their own, the bank's own answers ---------------------------------

BANK_QUOTE_EN = """\
Any update? See below.

Anna

On Mon, 2 Feb 2026 at 10:15, Nordhafen Bank Customer Service <service@nordhafen-bank.example> wrote:
> Dear Ms Becker,
>
> We have opened an investigation with the beneficiary's bank regarding your transfer.
>
> Kind regards
> Customer Service
"""

BANK_FORWARD_DE = """\
Erinnerung – siehe unten. Bitte um Rückmeldung.

-----Ursprüngliche Nachricht-----
Von: Nordhafen Bank Kundenservice <service@nordhafen-bank.example>
Gesendet: Freitag, 26. Dezember 2025 08:16
An: anna.becker@example.de
Betreff: Ihre Anfrage

Sehr geehrte Frau Becker, wir haben Ihre Anfrage an die Fachabteilung weitergeleitet.

Mit freundlichen Grüßen
Svenja Krüger
Kundenservice
"""

BANK_TITLE_ONLY = """\
Resending - still no answer.

On 3 Feb 2026, at 10:00, Svenja Krüger wrote:
> Guten Tag Frau Becker,
>
> Ihre Karte wird morgen verschickt.
>
> Svenja Krüger
> Kundenservice
"""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(BANK_QUOTE_EN, "Any update? See below.\n\nAnna", id="en-bank-quote"),
        pytest.param(
            BANK_FORWARD_DE, "Erinnerung – siehe unten. Bitte um Rückmeldung.", id="de-bank-forward"
        ),
        pytest.param(BANK_TITLE_ONLY, "Resending - still no answer.", id="bank-title-line"),
    ],
)
def test_cover_note_over_the_banks_reply_keeps_only_the_note(raw: str, expected: str) -> None:
    """Decision: the bank's own answer is never the client's request, so it stays removed."""
    cleaned = clean_message(raw)
    assert cleaned.text == expected
    assert "kept_forwarded" not in cleaned.flags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "Thanks, but my card is still blocked. Any update?\n\nAnna\n\n"
            "On Mon, 2 Feb 2026 at 10:15, Anna Becker <anna.becker@example.com> wrote:\n"
            "> Hello, my card was declined.\n",
            "Thanks, but my card is still blocked. Any update?\n\nAnna",
            id="en-own-content",
        ),
        pytest.param(
            "Hallo,\n\ndie Karte ist immer noch gesperrt, obwohl Sie sie freischalten wollten. Ich schreibe "
            "Ihnen erneut und bitte um sofortige Freischaltung.\n\nGruß\nAnna\n\n"
            "Am 09.02.2026 um 10:15 schrieb Anna Becker <anna.becker@example.de>:\n"
            "> Bitte Karte entsperren.\n",
            "Hallo,\n\ndie Karte ist immer noch gesperrt, obwohl Sie sie freischalten wollten. Ich schreibe "
            "Ihnen erneut und bitte um sofortige Freischaltung.\n\nGruß\nAnna",
            id="de-own-content-with-erneut",
        ),
        pytest.param(
            "Hei,\n\nkortti on edelleen suljettu. Lähetän viestin uudelleen, koska asia on kiireellinen ja "
            "tarvitsen korttia huomenna matkalla.\n\nMatti\n\n"
            "-----Alkuperäinen viesti-----\nLähettäjä: Matti <m@example.fi>\n"
            "Lähetetty: 2.2.2026 10.15\nAihe: Kortti\n\nAvatkaa kortti.\n",
            "Hei,\n\nkortti on edelleen suljettu. Lähetän viestin uudelleen, koska asia on kiireellinen ja "
            "tarvitsen korttia huomenna matkalla.\n\nMatti",
            id="fi-own-content",
        ),
        pytest.param(
            "Please see the message below from my landlord.\n\n-----Original Message-----\n"
            "From: Harbour Estates <office@harbour.example>\nSent: Monday, February 2, 2026 10:15 AM\n"
            "Subject: Rent\n\nYour rent is overdue.\n",
            "Please see the message below from my landlord.",
            id="see-below-third-party",
        ),
        pytest.param(
            "I am re-sending the attachment.\n\n-----Original Message-----\nFrom: Anna Becker <a@b.example>\n"
            "Sent: Monday, February 2, 2026 10:15 AM\nSubject: Form\n\nHere is the form.\n",
            "I am re-sending the attachment.",
            id="resending-an-attachment",
        ),
    ],
)
def test_reply_with_own_content_is_unchanged(raw: str, expected: str) -> None:
    cleaned = clean_message(raw)
    assert cleaned.text == expected
    assert "kept_forwarded" not in cleaned.flags


def test_see_below_alone_needs_the_writers_own_message() -> None:
    forward = (
        "-----Original Message-----\nFrom: Anna Becker <anna.becker@example.com>\n"
        "Sent: Monday, February 2, 2026 10:15 AM\nSubject: Card\n\nPlease send me a new card.\n"
    )
    assert "new card" in clean_message("See below.\n\nRegards\nAnna\n\n" + forward).text
    assert "new card" not in clean_message("See below.\n\n" + forward).text  # whose message? not known
    rfc822 = (
        "From: Anna Becker <anna.becker@example.com>\nSubject: Fwd: Card\nContent-Type: text/plain; "
        "charset=utf-8\n\nSee below.\n\n" + forward
    )
    assert "new card" in clean_message(rfc822, "rfc822").text  # the From header says it is hers


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Erinnerung - siehe unten."], "reminder"),
        (["I sent the message below on 29 January and haven't heard back.",
          "Could someone please look at it?"], "reminder"),
        (["Leider habe ich auf die untenstehende Nachricht",
          "noch keine Rückmeldung bekommen. Bitte um Bearbeitung."], "reminder"),
        (["Hallo,", "siehe unten.", "Gruß", "Merle"], "pointer"),
        (["Katso alla oleva viesti. Kiitos!"], "pointer"),
        (["Thanks, but my card is still blocked. Any update?"], None),
        (["Please block my card."], None),
        ([""], None),
    ],
)  # fmt: skip
def test_cover_note_detection(lines: list[str], expected: str | None) -> None:
    assert cover_note(lines) == expected


# --- the demo corpus: every re-sent request now reaches the classifier ------------------------------------

DEMO_COVER_NOTES = {
    "nhb-2026-000012": "App fast den ganzen Vormittag nicht erreichbar",
    "nhb-2026-000038": "fractional shares",
    "nhb-2026-000039": "gym membership",
    "nhb-2026-000059": "Neue Adresse ab sofort: Wandsbeker Chaussee 157",
    "nhb-2026-000132": "annual tax certificate",
    "nhb-2026-000161": "Dauerauftrag",
    "nhb-2026-000169": "bank confirmation of balances",
    "nhb-2026-000239": "online banking is locked",
    "nhb-2026-000246": "cancel my open order",
    "nhb-2026-000248": "Alster Logistik AG zu kaufen",
    "nhb-2026-000297": "password reset",
    "nhb-2026-000303": "per Lastschrift",
    "nhb-2026-000313": "Wertpapiere aus ihrem Depot",
    "nhb-2026-000322": "monthly account fee",
    "nhb-2026-000330": "savings plan",
    "nhb-2026-000381": "per Lastschrift",
    "nhb-2026-000397": "open a business account",
    "nhb-2026-000402": "Fehler 503",
    "nhb-2026-000406": "price list",
    "nhb-2026-000419": "Auslandszahlung",
    "nhb-2026-000430": "Geschäftskonto",
}


def _demo_records() -> dict[str, dict[str, str]]:
    with DEMO_CORPUS.open(encoding="utf-8") as handle:
        return {record["message_id"]: record for record in map(json.loads, handle)}


def _clean_demo(record: dict[str, str]) -> CleanedEmail:
    if "raw" in record:
        return clean_message(record["raw"], "rfc822")
    return clean_message(record["body"], "text")


@pytest.mark.parametrize(("message_id", "request_words"), sorted(DEMO_COVER_NOTES.items()))
def test_demo_cover_notes_keep_the_request(message_id: str, request_words: str) -> None:
    cleaned = _clean_demo(_demo_records()[message_id])
    assert request_words in cleaned.text
    assert "kept_forwarded" in cleaned.flags
    for header in ("Von:", "From:", "Betreff:", "Subject:", "Ursprüngliche Nachricht", "Original Message"):
        assert header not in cleaned.text
    assert "nordhafen-bank.example" not in cleaned.text


def test_demo_corpus_keeps_forwarded_only_under_cover_notes() -> None:
    """No other demo e-mail (replies to the bank, quoted bank answers) keeps a quoted message."""
    kept = {mid for mid, record in _demo_records().items() if "kept_forwarded" in _clean_demo(record).flags}
    assert kept == set(DEMO_COVER_NOTES)
