"""Quoted replies and forwards: which lines of a plain-text body belong to earlier messages.

Two kinds of markers are recognised (English, German, Finnish, plus common French/Spanish/Italian/
Dutch/Scandinavian/Russian forms):

* hard splitters — everything from the marker on is the older thread: "-----Original Message-----",
  "-----Ursprüngliche Nachricht-----", "-----Alkuperäinen viesti-----", forwarded-message markers,
  Outlook/Lotus header blocks (From/Von/Lähettäjä, Sent/Gesendet/Lähetetty, To/An/Vastaanottaja,
  Subject/Betreff/Aihe …), and an attribution line ("On … wrote:", "Am … schrieb …:",
  "… kirjoitti …:") that is *not* followed by ">"-quoted lines (Gmail/Outlook "unquoted" style). Since they
  cut the rest of the e-mail, they are strict: such an attribution ends in ":" and names an address or a
  time; a header block's date has a time, it holds no other "Key: value" lines ("Amount:", "Summa:"), and it
  is not announced by the client ("… Details:");
* ">"-quoted blocks, together with the attribution line just above them: removed, but text after them
  is kept (bottom-posting and inline answers are the client's words too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postroom.cleaning.patterns import DATE, EMAIL, GREETING, TIME
from postroom.cleaning.signatures import closing_name, introduces_content

_QUOTED = re.compile(r"^\s*>")

_SEPARATOR_WORDS = (
    r"original(?:e)?[ -]?(?:message|nachricht|mail)|ursprüngliche (?:nachricht|e-?mail)|alkuperäinen viesti"
    r"|forwarded (?:message|e-?mail)|weitergeleitete (?:nachricht|e-?mail)|välitetty viesti"
    r"|edelleenlähetetty viesti"
    r"|message d'origine|message transféré|mensaje original|mensaje reenviado|messaggio originale"
    r"|messaggio inoltrato|oorspronkelijk bericht|doorgestuurd bericht|originalmeddelande"
    r"|vidarebefordrat meddelande"
    r"|opprinnelig melding|videresendt melding|oprindelig meddelelse|videresendt meddelelse|reply message"
    r"|исходное сообщение|пересылаемое сообщение"
)
_SEPARATOR = re.compile(rf"^\s*[-_=*<>\s]*(?:{_SEPARATOR_WORDS})\s*:?\s*[-_=*<>\s]*$", re.IGNORECASE)
_SEPARATOR_DECORATED = re.compile(rf"^\s*[-_=*]{{2,}}.{{0,10}}(?:{_SEPARATOR_WORDS})", re.IGNORECASE)
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*forwarded by\b|begin forwarded message\s*:"
    r"|(?:anfang|beginn) der weitergeleiteten (?:nachricht|e-?mail)\s*:"
    r"|alku(?:peräinen)? (?:välitetty|edelleenlähetetty) viesti\s*:"
    r"|début du message (?:réexpédié|transféré)\s*:"
    r"|inicio del mensaje reenviado\s*:|-{2,}\s*weitergeleitet von\b)",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*[_\-=]{8,}\s*$")

# Header lines of a quoted message (Outlook, Lotus Notes, Apple, webmail; en/de/fi and a few more).
_HEADER_KEYS = {
    "from": "from", "von": "from", "lähettäjä": "from", "lähettäjä(t)": "from", "sender": "from",
    "de": "from", "van": "from", "från": "from", "fra": "from", "absender": "from", "sent": "date",
    "gesendet": "date", "lähetetty": "date", "date": "date", "datum": "date", "päivämäärä": "date",
    "päiväys": "date", "envoyé": "date", "enviado": "date", "verzonden": "date", "skickat": "date",
    "sendt": "date", "inviato": "date", "sent at": "date", "gesendet am": "date", "to": "to", "an": "to",
    "vastaanottaja": "to", "á": "to", "à": "to", "para": "to", "aan": "to", "till": "to", "til": "to",
    "empfänger": "to", "cc": "cc", "kopio": "cc", "bcc": "cc", "kopie": "cc", "blindkopie": "cc",
    "subject": "subject", "betreff": "subject", "aihe": "subject", "objet": "subject", "asunto": "subject",
    "onderwerp": "subject", "ämne": "subject", "emne": "subject", "oggetto": "subject", "reply-to": "cc",
    "antwort an": "cc", "vastausosoite": "cc", "importance": "cc", "wichtigkeit": "cc", "tärkeys": "cc",
    "от": "from", "отправлено": "date", "дата": "date", "кому": "to", "копия": "cc", "тема": "subject",
}  # fmt: skip
_HEADER_LINE = re.compile(
    r"^(?:[\s>]|=09|=20)*\*?\s*("
    + "|".join(sorted((re.escape(k) for k in _HEADER_KEYS), key=len, reverse=True))
    + r")\s*\*?\s*:",
    re.IGNORECASE,
)

_ATTRIBUTION = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\W*on\b.{3,300}\b(?:wrote|writes|said|sent)\s*:?\s*$",
        r"^.{1,250}\b(?:wrote|writes)\s*:\s*$",
        r"^\W*quoting\b.{1,200}:\s*$",
        r"^\W*am\b.{3,300}\bschrieb\b.{0,200}:?\s*$",
        r"^.{1,250}\bschrieb\b.{0,150}:\s*$",
        r"^.{1,250}\b(?:hat|haben) am\b.{1,120}\bgeschrieben\s*:\s*$",
        r"^\W*zitat von\b.{1,200}:\s*$",
        r"^.{1,300}\bkirjoitti\b.{0,200}:?\s*$",
        r"^\W*lainaus\b.{1,200}:\s*$",
        r"^\W*le\b.{3,300}\ba écrit\s*:?\s*$",
        r"^.{1,300}\b(?:escribió|ha scritto|schreef|skrev|kirjutas|napisał|napsal)\b.{0,150}:?\s*$",
        r"^.{1,300}(?:написал|написала|пишет)\s*:?\s*$",
    )
]


_ATTRIBUTION_WORDS = re.compile(
    r"wrote|writes|schrieb|geschrieben|kirjoitti|écrit|escribió|scritto|schreef|skrev|kirjutas|napisał|napsal|"
    r"написал|пишет",
    re.IGNORECASE,
)
_QP_WS = re.compile(r"=(?:09|20)")  # undecoded quoted-printable tabs and spaces (old Lotus Notes mail)
_DATE_LED = re.compile(
    r"^\W*(?:on|am|le|el|il|op|den|\d|mon|tue|wed|thu|fri|sat|sun|ma|ti|ke|to|pe|la|su|mo|di|mi|do|fr|sa|so)\b",
    re.IGNORECASE,
)


@dataclass
class QuoteScan:
    """Per-line result: `quoted[i]` is True for lines of older messages."""

    quoted: list[bool]
    hard_split: int | None  # index of the first line of an unquoted older message, if any
    attributions: int = 0  # attribution lines ("On … wrote:") found above quoted blocks


def quote_level(line: str) -> int:
    """Number of leading ">" quotation marks."""
    level = 0
    for ch in line:
        if ch == ">":
            level += 1
        elif ch not in " \t":
            break
    return level


def _header_key(line: str) -> str | None:
    match = _HEADER_LINE.match(line)
    if match is None:
        return None
    return _HEADER_KEYS.get(match.group(1).lower())


# "Key: value" lines that are not among the header keys: other mail-header fields are allowed in a block.
_KEY_VALUE = re.compile(r"^[\s>*]*([^\W\d_][\w .\-/()]{0,25}?)\s*\*?:\s*\S")
_OTHER_HEADER_FIELDS = frozenset(
    {
        "sent by", "author", "attachments", "attachment", "anlagen", "anlage", "anhang", "anhänge",
        "liitteet", "liite", "priority", "priorität", "organization", "organisation", "message-id",
        "in-reply-to", "references", "received", "return-path", "content-type", "mime-version",
        "thread-topic", "thread-index", "categories", "kategorien", "signed-by", "mailed-by", "security",
        "sender", "reply to", "delivered-to", "mailto", "smtp", "http", "https", "please respond to", "tags",
        "flag",
    }
)  # fmt: skip


def _has_time(text: str) -> bool:
    """A clock time outside the dates of `text` ("10:15", "klo 10.15"; not the "14.03" of "14.03.2024")."""
    return bool(TIME.search(DATE.sub(" ", text)))


def _other_key(line: str) -> bool:
    """A "Key: value" line whose key is neither a header key nor another mail-header field."""
    if _header_key(line) is not None:
        return False
    match = _KEY_VALUE.match(line)
    if match is None:
        return False
    key = " ".join(match.group(1).lower().split())
    return key not in _OTHER_HEADER_FIELDS and not key.startswith("x-")


def _header_block(lines: list[str], start: int, preamble_dated: bool = False) -> int | None:
    """If a quoted-message header block starts at `start`, return the index where it ends.

    A block needs a From- or Date-like line besides one more key (a Subject, or a From with an address),
    so that "From: my savings account / To: my current account" in a client's text is not a header. A date
    counts only with a time, as mail clients write it ("Datum: 14.03.2024" heads a letter, "Date: 12/03/2024"
    is a payment's), and a block with other "Key: value" lines among its keys ("Amount: £250.00", "Saaja:",
    "Summa:") is a list of the client's details. `preamble_dated` says that Lotus Notes lines with a date
    stand right above the block.
    """
    if _header_key(lines[start]) is None:
        return None
    keys: dict[str, str] = {}
    i = start
    blanks = 0
    last = start
    while i < len(lines) and i < start + 30:
        line = lines[i]
        key = _header_key(line)
        if key is not None:
            keys.setdefault(key, line)
            last = i
            blanks = 0
        elif not line.strip(" \t>") or line.strip() in ("=09", "=20"):
            blanks += 1
            if blanks > 2:
                break
        elif i - last > 2 or blanks:  # continuation lines of a long To:/Cc: value
            break
        i += 1
    if any(_other_key(lines[k]) for k in range(start, last + 1)):
        return None
    if "date" in keys and not any(
        _has_time(lines[k]) for k in range(start, last + 1) if _header_key(lines[k]) == "date"
    ):
        del keys["date"]
    cats = set(keys)
    if preamble_dated:
        cats.add("date")
    if len(cats) < 2:
        return None
    from_value = keys.get("from", "")
    addressy = bool(EMAIL.search(from_value) or "<" in from_value or "/" in from_value or "@" in from_value)
    if "subject" in cats and ({"from", "date"} & cats):
        return last + 1
    if "from" in cats and "date" in cats and (addressy or "to" in cats):
        return last + 1
    return None


def _lotus_preamble(lines: list[str], start: int) -> tuple[int, bool]:
    """Extend a header block upwards over Lotus Notes lines (name@org, date/time, 'on <date>').

    Returns the new start and whether a date was seen among those lines.
    """
    i = start
    dated = False
    while i > 0 and start - i < 6:
        prev = lines[i - 1]
        stripped = _QP_WS.sub("", prev).strip()
        if not stripped:
            if prev and i - 1 > 0 and lines[i - 2].strip():  # whitespace-only line inside the block
                i -= 1
                continue
            break
        has_date = bool(DATE.search(stripped) and _has_time(stripped) and len(stripped) < 120)
        lotus = (
            has_date
            or (re.search(r"\S@\S", stripped) and len(stripped.split()) <= 6)
            or re.search(r"\bplease respond to\b", stripped, re.IGNORECASE)
        )
        if not lotus or quote_level(prev):
            if dated and i < start and _bare_name(stripped) and not quote_level(prev):
                i -= 1  # "Lindy Donoho" above "12/01/2000 02:22 PM"
            break
        dated = dated or has_date
        i -= 1
    return i, dated


def _bare_name(text: str) -> bool:
    words = text.split()
    return 1 <= len(words) <= 4 and all(
        w[:1].isupper() and w.replace(".", "").replace("-", "").isalpha() for w in words
    )


def _attribution(lines: list[str], i: int) -> int:
    """Number of lines (1-3) forming an attribution line starting at `i`, or 0."""
    first = lines[i].strip()
    if not first or len(first) > 300:
        return 0
    window = lines[i : i + 3]
    if not any(":" in line for line in window) and not _ATTRIBUTION_WORDS.search(first):
        return 0
    joined = first
    for span in range(1, 4):
        if span > 1:
            nxt = lines[i + span - 1].strip() if i + span - 1 < len(lines) else ""
            if not nxt or quote_level(lines[i + span - 1]):
                return 0
            joined = f"{joined} {nxt}"
        if any(p.match(joined) for p in _ATTRIBUTION) and (
            joined.endswith(":") or EMAIL.search(joined) or DATE.search(joined) or TIME.search(joined)
        ):
            return span
        if joined.endswith(":") and EMAIL.search(joined) and (DATE.search(joined) or TIME.search(joined)):
            return span  # "2017-02-28 14:54 GMT+01:00 Name <a@b.c>:", "26.06.2014, 14:41, "X" <a@b.c>:"
        if span == 1 and not (_DATE_LED.match(first) or "@" in first or "<" in first):
            return 0  # only date-led or address-bearing attributions are wrapped over several lines
    return 0


# "schrieb ich Ihnen", "I wrote to you", "kirjoitin": the client tells of an earlier message of their own;
# "Herr Braun schrieb mir am …", "X wrote to me on …", "kirjoitti minulle": of one written to them. A mail
# client writes neither (the object pronouns are matched in lower case only: "schrieb Mir Hossain <…>:" is a
# name).
_FIRST_PERSON = re.compile(
    r"\b(?:i|we) (?:\w+ ){0,2}(?:wrote|write|said|sent)\b|\b(?:schrieb|schrieben|habe|haben) (?:ich|wir)\b"
    r"|\b(?:ich|wir) (?:\w+ ){0,3}(?:schrieb|schrieben|geschrieben)\b|\bkirjoit(?:in|imme)\b"
    r"|\b(?:wrote|writes|said|sent|replied)(?: back)?(?: to)? (?-i:me|us)\b"
    r"|\b(?:schrieb|schrieben|schreibt|hat|hatte|haben)(?: \w+)? (?-i:mir|mich|uns)\b"
    r"|\b(?:minulle|meille|minua|meitä)\b",
    re.IGNORECASE,
)
# "your colleague wrote:", "you wrote:", "Neuvojanne … kirjoitti" (your advisor): the client quoting the bank
# in a sentence (a mail client names the writer); only with no address in the line, since a sender may be
# called "Ihr Kundenservice". Finnish "your" is a suffix: -nne/-si on an agent noun ("neuvojanne",
# "virkailijasi", "työntekijänne"; not the names Janne or Anne) or on a few others ("pankkinne", "kollegasi").
_SECOND_PERSON = re.compile(
    r"\b(?:you|your|yours|ihr|ihre|ihrem|ihren|ihrer|sie|ihnen|te|teidän|sinun|teille|sinulle)\b"
    r"|\b\w{3,}j[aä](?:nne|si)\b|\b(?:pankki|kollega|yhteyshenkilö|asiakaspalvelu)(?:nne|si)\b",
    re.IGNORECASE,
)


def _unquoted_attribution(lines: list[str], i: int, span: int) -> int:
    """`span` (perhaps longer) when the attribution at `i`, with no ">" lines under it, is a real one; else 0.

    With no quote to attach to, an attribution cuts everything after it, so it must look like a mail client's
    line: it ends in ":" (a wrapped one within three lines) and names an address, or a time and no "you"
    ("Am 12.03.2024 um 10:15 schrieb Kundenservice <service@…>:"). A sentence of the client's ("am 04.03.2024
    schrieb ich Ihnen bereits …", "neuvojanne kirjoitti 5.3.2024, että …", "In your letter of 5 March you
    wrote:", "On 12/03/2024 at 14:30 your colleague wrote:") is not.
    """
    text = " ".join(line.strip() for line in lines[i : i + span])
    while not text.endswith(":") and span < 3 and i + span < len(lines):
        nxt = lines[i + span].strip()
        if not nxt or quote_level(lines[i + span]):
            break
        text = f"{text} {nxt}"
        span += 1
    if not text.endswith(":") or _FIRST_PERSON.search(text):
        return 0
    if _greeting_only_above(lines, i) and _signed_by_other(lines[i + span :], text):
        return 0  # "Hei, / Mikko Salo kirjoitti 5.3.2024 klo 13.10: / "…" / Nyt … / Kiitos, / Eeva Nieminen"
    if EMAIL.search(text):
        return span
    return span if _has_time(text) and not _SECOND_PERSON.search(text) else 0


def _greeting_only_above(lines: list[str], i: int) -> bool:
    """Is a greeting ("Hei,", "Sehr geehrte Damen und Herren,") all the text above line `i`?"""
    above = [line.strip() for line in lines[:i] if line.strip()]
    return len(above) == 1 and len(above[0].split()) <= 8 and bool(GREETING.match(above[0]))


_WORD = re.compile(r"[^\W\d_]{2,}")


def _signed_by_other(lines: list[str], writer: str) -> bool:
    """Do `lines` end with a closing whose name is not in `writer` (an attribution or a pasted From line)?

    An earlier message under a reply header is the writer's own: when it ends with a closing, that names the
    writer ("Mikko Salo wrote:" … "Terveisin / Mikko Salo"), or the bank, which is no person's name. A
    closing with another person's name ("Kiitos, / Eeva Nieminen") is the client's, under text of their own.
    """
    name = closing_name(lines)
    if name is None:
        return False
    return not {w.lower() for w in _WORD.findall(name)} & {w.lower() for w in _WORD.findall(writer)}


def _quoted_follows(lines: list[str], i: int) -> int | None:
    """Index of the first '>' line after `i` when only blank lines (at most 3) lie in between."""
    j = i
    while j < len(lines) and j < i + 4:
        if quote_level(lines[j]):
            return j
        if lines[j].strip():
            return None
        j += 1
    return None


def _hard_split_at(lines: list[str], i: int) -> int | None:
    """If an unquoted older message starts at line `i`, return the index where it starts."""
    line = lines[i]
    stripped = line.strip()
    if not stripped:
        return None
    if _SEPARATOR.match(stripped) or _SEPARATOR_DECORATED.match(stripped) or _FORWARD.match(stripped):
        return i
    if _UNDERSCORES.match(stripped):
        j = i + 1
        while j < len(lines) and j < i + 3 and not lines[j].strip():
            j += 1
        if j < len(lines) and _header_key(lines[j]) and _header_block(lines, j):
            return i
        return None
    if _header_key(line):
        begin, dated = _lotus_preamble(lines, i)
        end = _header_block(lines, i, preamble_dated=dated)
        if end and not _announced(lines, begin, end):
            return begin
    return None


# An announcing line with these words introduces a forward or the client's re-sent earlier e-mail (a cover
# note, step 5a), not the client's own details.
_FORWARD_WORDS = re.compile(
    r"\b(?:forward\w*|fwd|weiter(?:ge)?leit\w*|välit\w*|below|unten\w*|nachstehend\w*|alla|original\w*"
    r"|ursprünglich\w*|alkuperäi\w*|again|re-?send\w*|earlier|previous|noch ?(?:ein)?mal|nochmals|erneut"
    r"|vorherig\w*|uudelleen|uudestaan|aiemm?\w*|edellis\w*)\b"
    r"|\b(?:meine[rn]?|my|the) (?:e-?mail|mail|message|nachricht|anfrage|request) (?:vom|von|of|from)\b",
    re.IGNORECASE,
)


# A client reporting a mail they received ("I received the message below this morning", "ich habe diese Mail
# bekommen", "sain alla olevan viestin"): the received wording and a word for the message, in one paragraph.
_RECEIVED = re.compile(
    r"\b(?:received|got|been sent|bekommen|erhalten|bekam|erhielt|zugeschickt|zugesandt|sain|saimme"
    r"|saanut|saaneet)\b",
    re.IGNORECASE,
)
_MESSAGE_WORD = re.compile(
    r"\b(?:e-?mails?|mails?|messages?|texts?|sms|nachricht(?:en)?)\b|-mail\b|\w*(?:viest|sähköpost)\w*",
    re.IGNORECASE,
)


def _announced(lines: list[str], begin: int, end: int) -> bool:
    """Does the client's text above a header block (lines `begin` to `end`) announce it as their content?

    Yes under a line announcing it ("I made a payment to the wrong account yesterday. Details:", "ich habe
    heute diese Mail bekommen, angeblich von Ihnen:"), not a forward ("see the forwarded message below:").
    Also under a paragraph reporting a received mail ("I received the message below this morning … Is this
    genuine?") when the client's own closing ends the e-mail after it: a name the block's From line does not
    hold ("Thanks, / Margaret Ellis"), so that the client's text after the pasted mail is kept with it.
    """
    above = begin - 1
    while above >= 0 and _header_key(lines[above]) is not None and not quote_level(lines[above]):
        above -= 1  # an earlier line of the same block ("From: …" above the "Sent: …" a scan reaches next)
    for k in range(above, max(above - 3, -1), -1):
        text = lines[k].strip()
        if not text:
            continue
        if quote_level(lines[k]):
            return False
        if introduces_content(text) and not _FORWARD_WORDS.search(text):
            return True
        top = k
        while top > 0 and lines[top - 1].strip() and not quote_level(lines[top - 1]):
            top -= 1
        reported = " ".join(line.strip() for line in lines[top : k + 1])  # the paragraph ending at line k
        if not (_RECEIVED.search(reported) and _MESSAGE_WORD.search(reported)):
            return False
        first_key = next(n for n in range(begin, end) if _header_key(lines[n]) is not None)
        senders = [line for line in lines[first_key:end] if _header_key(line) == "from"]
        writer = lines[begin:first_key] + senders  # Lotus Notes lines above the keys name the sender too
        return _signed_by_other(lines[end:], " ".join(writer))
    return False


def scan_quotes(lines: list[str]) -> QuoteScan:
    """Label every line as own text (False) or older thread (True)."""
    n = len(lines)
    quoted = [False] * n
    attributions = 0
    i = 0
    while i < n:
        line = lines[i]
        if quote_level(line):
            quoted[i] = True
            i += 1
            continue
        split = _hard_split_at(lines, i) if not quoted[i] else None
        if split is not None:
            for k in range(split, n):
                quoted[k] = True
            return QuoteScan(quoted, split)
        span = _attribution(lines, i)
        if span:
            follows = _quoted_follows(lines, i + span)
            if follows is None:
                span = _unquoted_attribution(lines, i, span)
                if not span:
                    i += 1
                    continue
                for k in range(i, n):
                    quoted[k] = True
                return QuoteScan(quoted, i)
            for k in range(i, follows):
                quoted[k] = True
            attributions += 1
            i = follows
            continue
        i += 1
    # blank lines between two quoted lines belong to the quote
    last_quoted = None
    for k in range(n):
        if quoted[k]:
            gap = range(last_quoted + 1, k) if last_quoted is not None else range(0)
            if len(gap) and all(not lines[m].strip() for m in gap):
                for m in gap:
                    quoted[m] = True
            last_quoted = k
    return QuoteScan(quoted, None, attributions)
