"""Shared regular expressions: dates, times, e-mail addresses, phone numbers, URLs, greetings."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+|\[mailto:|mailto:", re.IGNORECASE)
URL = re.compile(r"\bhttps?://\S+|\bwww\.[\w-]+\.\w+", re.IGNORECASE)
# 12.03.2024, 3/12/24, 2024-03-12, 12 Mar 2024, Mar 12, 2024, 12. März 2024, 12. maaliskuuta 2024
DATE = re.compile(
    r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b"
    r"|\b\d{1,2}\.? ?(?:jan|feb|mar|mär|apr|may|mai|jun|jul|aug|sep|oct|okt|nov|dec|dez)"
    r"[a-zäöü]*\.?,? \d{2,4}\b"
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{2,4}\b"
    r"|\b\d{1,2}\. ?\w+(?:kuuta|kuu) \d{4}\b"
    r"|\b(?:mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|ma|ti|ke|to|pe|la|su)"
    r"[a-z]{0,7}\.?,? \d{1,2}[. ]",
    re.IGNORECASE,
)
TIME = re.compile(r"\b\d{1,2}[:.]\d{2}(?::\d{2})?(?: ?[ap]\.?m\.?)?\b", re.IGNORECASE)
# Phone numbers: +49 (0)30 1234-567, 0171 1234567, (415) 782-7802, 713.853.3103, 040 123 4567
PHONE = re.compile(r"(?<![\w/.])(?:\+|00)?\(?\d{1,4}\)?(?:[ .\-/]?\(?\d{1,5}\)?){2,6}(?![\w/])")
PHONE_LABEL = re.compile(
    r"^\W*(?:tel|telefon|phone|ph|fon|fax|telefax|mobil|mobile|mob|cell|handy|gsm|puh|puhelin|p|m|t|f|"
    r"direct|direkt|office|work|matkapuhelin|gsm|switchboard|vaihde)\b\.?\s*[:.]?",
    re.IGNORECASE,
)

# The greeting that opens a message ("Hi,", "Sehr geehrte Damen und Herren,", "Hei,")
GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|to whom|hallo|liebe[rs]?|sehr geehrte[rs]?"
    r"|guten (?:tag|morgen|abend)|moin|servus|grüß gott|grüezi|hei|moi|terve|hyvä|arvoisa)\b",
    re.IGNORECASE,
)

_DATE_ONLY = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}")
# IBAN, printed in groups of four or not: DE89 3704 0044 0532 0130 00, FI2112345600000785, GB33 BUKB 2020 …
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def phone_like(text: str) -> bool:
    """True when `text` contains something shaped like a phone number (at least 7 digits); an IBAN is not."""
    for match in PHONE.finditer(IBAN.sub(" ", text)):
        candidate = match.group(0).strip()
        if sum(ch.isdigit() for ch in candidate) >= 7 and not _DATE_ONLY.fullmatch(candidate):
            return True
    return False
