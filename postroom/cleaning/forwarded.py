"""Cover notes: a content-free reminder over the client's own earlier e-mail keeps that e-mail.

A client who re-sends a request writes "Erinnerung – siehe unten." / "Following up on my email below – any
update?" / "Lähetän viestini uudelleen." and forwards or quotes the earlier e-mail under it. The quote
stage removes the earlier e-mail, so only the reminder would reach the classifier. When

* the newest part, without greeting, closing, signature and disclaimer, is short (at most 40 words) and
  every sentence of it is a reminder (`_REMINDER`: re-sending, following up, no answer yet …), a pointer
  to the message below (`_POINTER`: "see below", "siehe unten" …) or a courtesy ("Could someone please
  look at it?", "Bitte um Bearbeitung.", "Kiitos."); a note with pointers only needs the earlier
  message's sender to share a name with the note's closing or the e-mail's From header; and
* below it, to the end of the body, comes one forwarded or quoted earlier message (separator line,
  header block "Von:/Gesendet:/An:/Betreff:", attribution "On … wrote:" with or without ">" lines); and
* that message is not the bank's own (its sender in the header or attribution is not a service address
  or name — "Kundenservice", "Customer Service", "Bank", "service@…", "noreply@…" — and it has no
  "Kundenservice" / "Customer Service" title line),

the earlier message's own text is kept after the cover note: cleaned like any body (its quotes, signature
and disclaimer removed; its separator and header block stay labelled "quote"; a ">" quote is read with one
level of ">" removed). A cover note over a cover note is followed down to three levels.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from postroom.cleaning.patterns import GREETING
from postroom.cleaning.quotes import (
    _FORWARD,
    _SEPARATOR,
    _SEPARATOR_DECORATED,
    _UNDERSCORES,
    _attribution,
    _header_block,
    _header_key,
    _lotus_preamble,
    quote_level,
)
from postroom.cleaning.signatures import _name_like, sign_off_match

MAX_COVER_WORDS = 40
MAX_SENTENCE_WORDS = 25
MAX_DEPTH = 3

# A sentence that says the earlier e-mail is being sent again or is still unanswered (a reminder).
_REMINDER = re.compile(
    "|".join(
        (
            # English
            r"\bre-?send(?:ing)?\b"
            r"(?! (?:(?:the|an?|my) )?(?:attachments?|files?|documents?|forms?|scans?|cop(?:y|ies))\b)",
            r"\bsending (?:this|it|my \w+) again\b|\bforwarding\b.{0,40}\bagain\b",
            r"\bfollow(?:ing)?[- ]?up\b|\bany (?:update|news|progress|feedback)s?\b",
            r"\bwhat(?:'s| is) the (?:status|update)\b|\breminder\b|\bchasing\b",
            r"\b(?:haven't|have not|hasn't|has not|didn't|did not|not yet|never) (?:yet )?"
            r"(?:heard back|heard from you|(?:received|got|had) (?:a |an |any )?(?:reply|response|answer))",
            r"\bno (?:reply|response|answer|feedback) (?:yet|so far)\b",
            r"\bstill waiting for (?:a |an |your )?(?:reply|response|answer)\b",
            r"\bjust checking\b[^.?!]{0,60}\b(?:yet|already)\b|\bchecking in (?:on|about) (?:this|my)\b",
            r"\b(?:anyone|anybody|someone|somebody|you)\b[^.?!]{0,30}"
            r"\b(?:looked|look|got round|gotten round|had a chance)\b[^.?!]{0,30}\byet\b",
            # German
            r"\bnoch ?(?:ein)?mal\b|\bnochmals\b|\berneut\b|\bnachfass|\bnachhak|\berinnerung\b",
            r"\b(?:keine|keinerlei) (?:antwort|rückmeldung|reaktion)\b",
            r"\bniemand (?:\w+ )?(?:gemeldet|geantwortet|reagiert)\b",
            r"\bnichts (?:mehr )?(?:von ihnen )?gehört\b",
            r"\bbereits (?:am [\d.]+ )?(?:geschrieben|angefragt|gemeldet)\b",
            r"\bwie ist der (?:aktuelle )?stand\b|\bgibt es (?:hierzu |dazu )?(?:schon )?(?:etwas )?neues\b",
            r"\bwie sieht es (?:hier|da)?mit (?:\w+ ){0,3}aus\b",
            r"\bhat sich (?:schon |bereits )?(?:jemand|wer) (?:darum|die sache|das|meine anfrage) "
            r"(?:angesehen|angeschaut|gekümmert)",
            r"\bhaben sie (?:meine (?:mail|e-?mail|nachricht|anfrage)|das) (?:schon|bereits) "
            r"(?:gesehen|bearbeitet|erhalten)\b",
            # Finnish
            r"\buudelleen\b|\buudestaan\b|\bmuistutu?s\b|\bmuistutan\b|\bvastaamatta\b",
            r"\b(?:en|emme) ole (?:vielä )?saanut (?:mitään )?(?:vastausta|vastauksen)\b",
            r"\bvastausta ei ole (?:vielä )?(?:tullut|kuulunut)\b|\bei ole (?:vielä )?vastattu\b",
            r"\bonko (?:asiassa |asiaan |tähän )?(?:tullut )?(?:mitään )?(?:uutta|edistystä)\b",
            r"\bmikä on tilanne\b",
            r"\bonko (?:kukaan|joku) (?:jo )?ehtinyt (?:katsoa|käsitellä)\b",
            r"\bmiten (?:asiani|asia|pyyntöni|hakemukseni) etenee\b",
        )
    ),
    re.IGNORECASE,
)
# A sentence that only points to the message below ("see below", "siehe unten", "alla oleva viesti").
_POINTER = re.compile(
    "|".join(
        (
            r"\bsee (?:below|(?:the|my) (?:\w+ )?(?:message|e-?mail|mail|request)s? below)\b",
            r"\b(?:message|e-?mail|mail|request|enquiry|inquiry|note|query)s? below\b",
            r"\bbelow (?:message|e-?mail|mail|request)\b",
            r"\b(?:my|the) (?:earlier|previous|last|original|first) "
            r"(?:message|e-?mail|mail|request|enquiry)\b",
            r"\bsiehe unten\b|\bs\. unten\b|\bunten ?stehende|\bunten (?:angehängte|weitergeleitete)",
            r"\bmeine[rn]? (?:mail|e-?mail|nachricht|anfrage|schreiben) (?:vom|von|unten)\b",
            r"\balla(?:oleva\w*| oleva\w*)?\b",
            r"\b(?:aiempi|aiemman|aiempaan|edellinen|edellisen|edelliseen|aikaisempi|aikaisemman) "
            r"(?:viesti|sähköposti)",
        )
    ),
    re.IGNORECASE,
)
# Courtesy sentences that carry no request of their own (matched against the whole sentence).
_COURTESY = re.compile(
    r"^(?:(?:many |thanks? |thank you )?(?:thanks|thank you)(?: (?:in advance|very much|a lot))?"
    r"|cheers|please|pls"
    r"|(?:could|can|would) (?:someone|somebody|anyone|you) (?:please )?"
    r"(?:look (?:at|into)|check|handle|process|deal with|reply(?: to)?|respond(?: to)?|get back to me(?: on)?"
    r"|take care of)(?: (?:it|this|that|my request|the matter))?(?: please)?"
    r"|please (?:look (?:at|into)|check|handle|process|reply|respond|advise|help|get back to me)"
    r"(?: (?:it|this|that|my request|the matter))?"
    r"|i look forward to (?:hearing from you|your (?:reply|response|answer))"
    r"|(?:danke|vielen dank|besten dank|herzlichen dank)(?: (?:im voraus|schon mal|vorab))?"
    r"|bitte(?: um)? (?:(?:eine )?(?:kurze )?(?:bearbeitung|rückmeldung|antwort|prüfung|info)"
    r"|prüfen|bearbeiten|antworten)"
    r"|(?:ich freue mich auf|ich bitte um) (?:ihre )?(?:rückmeldung|antwort|bearbeitung)"
    r"|(?:kiitos|kiitoksia)(?: (?:jo )?etukäteen)?|pyydän (?:vastausta|käsittelemään asian)"
    r")$",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?:])\s+(?=[^\w\s]*[A-ZÄÖÜÅ])|(?<=[!?])\s+")
# The earlier message is the bank's own when its sender reads like a service desk.
_BANK_SENDER = re.compile(
    r"\b(?:bank|kundenservice|kundendienst|kundenbetreuung|customer (?:service|care|support)|service ?team"
    r"|asiakaspalvelu|pankki|no-?reply|do-?not-?reply)\b"
    r"|(?:^|[<\s:\"'])(?:service|kundenservice|support|noreply|no-reply|donotreply|asiakaspalvelu|info)@",
    re.IGNORECASE,
)
_BANK_TITLE = re.compile(
    r"^(?:ihr |your )?(?:kundenservice|customer service|asiakaspalvelu|kundendienst)(?: team)?$",
    re.IGNORECASE,
)
_TRAILING = " \t,.!?:;-–—~"
_NOT_NAMES = frozenset(
    {"from", "von", "lähettäjä", "sent", "gesendet", "wrote", "schrieb", "kirjoitti", "mailto", "und", "and"}
)

Relabel = Callable[[list[str], int], list[str]]


def _sentences(lines: list[str]) -> list[str]:
    text = " ".join(line.strip() for line in lines)
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip(_TRAILING)]


def cover_note(content: list[str]) -> str | None:
    """"reminder" or "pointer" when the lines (closing and signature already gone) are a content-free cover
    note, else None: every sentence is a reminder, a pointer to the message below or a courtesy."""
    lines = [line for line in content if line.strip()]
    if lines and GREETING.match(lines[0].strip()):
        head, comma, rest = lines[0].strip().partition(",")
        if comma and rest.strip() and len(head.split()) <= 4:
            lines[0] = rest.strip()  # "Hallo, wie sieht es hiermit aus?": the note after the greeting
        elif len(lines[0].split()) <= 8:
            lines = lines[1:]
    while lines and (sign_off_match(lines[-1]) or _name_like(lines[-1], max_words=3)):
        lines = lines[:-1]
    if not lines or sum(len(line.split()) for line in lines) > MAX_COVER_WORDS:
        return None
    reminder = pointer = False
    for sentence in _sentences(lines):
        if len(sentence.split()) > MAX_SENTENCE_WORDS:
            return None
        if _REMINDER.search(sentence):
            reminder = True
        elif _POINTER.search(sentence):
            pointer = True
        elif not _COURTESY.match(" ".join(sentence.strip(_TRAILING).split())):
            return None
    return "reminder" if reminder else "pointer" if pointer else None


def _names(text: str) -> set[str]:
    """Lower-cased name parts of a sender ("Merle Schmidt <merle.schmidt@example.org>" -> merle, schmidt)."""
    text = re.sub(r"@[\w.-]+", " ", text)  # the domain is no name (clients share example.de, gmail.com …)
    return {word.lower() for word in re.findall(r"[^\W\d_]{3,}", text)} - _NOT_NAMES


def _skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip(" \t>"):
        i += 1
    return i


def _older_message(lines: list[str], start: int) -> tuple[int, str, bool] | None:
    """Where the earlier message's own text begins, its sender text, and whether it is ">"-quoted.

    `start` is the first line of the older part. None when the older part is not one recognisable message.
    """
    i = _skip_blank(lines, start)
    if i >= len(lines):
        return None
    sender = ""
    span = _attribution(lines, i) if not quote_level(lines[i]) else 0
    if span:
        sender = " ".join(lines[i : i + span])
        body = _skip_blank(lines, i + span)
        quoted = body < len(lines) and quote_level(lines[body]) > 0
        return body, sender, quoted
    if quote_level(lines[i]):
        return i, sender, True  # a ">" block with no attribution
    stripped = lines[i].strip()
    if (
        _SEPARATOR.match(stripped)
        or _SEPARATOR_DECORATED.match(stripped)
        or _FORWARD.match(stripped)
        or _UNDERSCORES.match(stripped)
    ):
        i = _skip_blank(lines, i + 1)
    # the header block, possibly under a few Lotus Notes lines ("Name/Org", date and time)
    for j in range(i, min(i + 7, len(lines))):
        if _header_key(lines[j]) is None:
            continue
        begin, dated = _lotus_preamble(lines, j)
        end = _header_block(lines, j, preamble_dated=dated)
        if end is not None and begin <= i:
            from_lines = [lines[k] for k in range(begin, end) if _header_key(lines[k]) == "from"]
            sender = " ".join(from_lines) or " ".join(lines[begin:j])
            return _skip_blank(lines, _past_long_header(lines, end)), sender, False
        break
    if i > start and i < len(lines) and _header_key(lines[i]) is None:
        return i, sender, False  # a separator with no header block under it
    return None


def _past_long_header(lines: list[str], end: int) -> int:
    """A header block cut short by a long To:/Cc: list goes on to its Subject line, when one follows."""
    for k in range(end, min(end + 60, len(lines))):
        if not lines[k].strip(" \t>"):
            break
        if _header_key(lines[k]) == "subject":
            return k + 1
    return end


def _dequote(line: str) -> str:
    return re.sub(r"^(\s*)> ?", r"\1", line, count=1)


def _bank_wrote(sender: str, lines: list[str]) -> bool:
    if _BANK_SENDER.search(sender):
        return True
    return any(_BANK_TITLE.match(" ".join(line.strip(" \t>").split())) for line in lines)


def keep_forwarded(
    lines: list[str], labels: list[str], relabel: Relabel, depth: int = 0, writer: str | None = None
) -> bool:
    """Relabel the earlier message under a cover note as the client's text; True when done.

    `lines` may be changed in place (one level of ">" removed from a kept quote); `relabel(sub, depth)`
    labels the earlier message's lines the way the whole body is labelled; `writer` is the From header of
    the e-mail, when known.
    """
    if depth >= MAX_DEPTH:
        return False
    older = [i for i, label in enumerate(labels) if label == "quote" and lines[i].strip()]
    if not older:
        return False
    start = older[0]
    # the older part must run to the end: no text of the client's own after it
    if any(label in ("body", "closing") and lines[k].strip() for k, label in enumerate(labels) if k > start):
        return False
    content = [line for line, label in zip(lines[:start], labels[:start], strict=True) if label == "body"]
    kind = cover_note(content)
    if kind is None:
        return False
    found = _older_message(lines, start)
    if found is None:
        return False
    body, sender, quoted = found
    if kind == "pointer":
        # "see below" alone: keep the message only when it is visibly the writer's own
        closing = [lines[k] for k in range(start) if labels[k] == "closing"]
        names = _names(" ".join(line for line in closing if _name_like(line, max_words=3)))
        if not (names | _names(writer or "")) & _names(sender):
            return False
    end = len(lines)
    if quoted:
        end = body
        while end < len(lines) and (quote_level(lines[end]) or not lines[end].strip()):
            end += 1
        if any(lines[k].strip() for k in range(end, len(lines))):
            return False  # more than one message below the cover note
    sub = [_dequote(line) for line in lines[body:end]] if quoted else list(lines[body:end])
    if not any(line.strip() for line in sub) or _bank_wrote(sender, sub):
        return False
    sub_labels = relabel(sub, depth + 1)
    kept = [line for line, label in zip(sub, sub_labels, strict=True) if label in ("body", "closing")]
    if not any(line.strip() for line in kept):
        return False
    lines[body:end] = sub
    labels[body:end] = sub_labels
    return True
