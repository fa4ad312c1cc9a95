"""HTML to plain text for the cleaner: visible text only, block structure kept as lines.

Dropped: scripts, styles, <head>, comments, images (tracking pixels), forms, hidden elements and link
targets (anchor text is kept). Kept as structure: blocks and <br> become line breaks, paragraphs are
separated by a blank line (not Outlook's margin-less `p.MsoNormal` paragraphs: each is one line, an
empty one a blank line, as Outlook shows them), list items get "- ", table cells are joined with spaces.
Quotation markup (<blockquote>, Yahoo's quoted div) becomes "> "-prefixed lines, and known signature
containers (Gmail, Outlook, Thunderbird, Windows Mail) are preceded by a "-- " line, so that the plain-text
rules downstream treat HTML and plain mail the same way. The walk is iterative (no recursion limit) and
the input is capped at MAX_HTML_CHARS characters.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

MAX_HTML_CHARS = 1_000_000  # beyond this only the beginning is read (flag "html_truncated")

_SKIP_TAGS = frozenset(
    {
        "script", "style", "head", "title", "meta", "link", "noscript", "template", "svg", "object",
        "embed", "iframe", "img", "input", "select", "textarea", "button", "map", "area", "audio",
        "video", "canvas", "xml", "o:p",
    }
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "main", "nav", "ol",
        "section", "table", "tbody", "thead", "tfoot", "tr", "ul", "body", "html", "caption",
    }
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"})
_QUOTE_CLASSES = ("yahoo_quoted",)
_SIGNATURE_MARKERS = ("gmail_signature", "moz-signature", "signature")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all", re.IGNORECASE)
_ZERO_OPACITY = re.compile(r"(?:^|[;\s])opacity\s*:\s*0(?:\.0*)?\s*(?:!important\s*)?(?:;|$)", re.IGNORECASE)
_ZERO_SIZE = re.compile(
    r"(?:^|[;\s])(?:max-)?(?:height|width)\s*:\s*0(?:px)?\s*(?:!important\s*)?(?:;|$)", re.IGNORECASE
)
_OVERFLOW_HIDDEN = re.compile(r"overflow\s*:\s*hidden", re.IGNORECASE)
_TAG = re.compile(r"<[/!?A-Za-z][^>]{0,2000}>")
# Outlook's (Word's) paragraph style and its margins in the style sheet: "p.MsoNormal, li.MsoNormal, …
# {margin:0cm; margin-bottom:.0001pt; …}"
_MSO_NORMAL_RULE = re.compile(r"\bp\.MsoNormal\b[^{}]{0,200}\{([^{}]{0,2000})\}", re.IGNORECASE)
_MARGIN = re.compile(r"\bmargin(-top|-bottom)?\s*:\s*([^;]*)", re.IGNORECASE)
_LENGTH = re.compile(r"^-?(\d*\.?\d*)")
# Element names of HTML (current and obsolete) and of the mail clients' markup; any other "<name" is text.
_HTML_TAGS = frozenset(
    {
        *lxml.html.defs.tags, *_SKIP_TAGS, *_BLOCK_TAGS, "main", "template", "picture", "data", "bdi",
        "dialog", "image", "plaintext", "xmp", "listing", "nobr", "spacer", "frame", "noframes", "noembed",
        "bgsound", "multicol", "layer", "ilayer", "nolayer", "menuitem", "rb", "rtc", "slot", "search",
    }
)  # fmt: skip
_TAG_START = re.compile(r"<(/?)([A-Za-z][^\s/<>]*)")
_ELEMENT_NAME = re.compile(r"[a-z][a-z0-9]*(?:[:\-][a-z0-9_.\-]+)+")  # o:p, st1:place, x-custom-element
_PLACEHOLDER = re.compile(r"<(<[A-Za-z][^<>\n]{0,200}>)>")  # <<Kundennummer>>, <<Address Line>>
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
_WS = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SPACES = re.compile(r"  +")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u034f]")


class _Writer:
    """Collects inline text into lines, prefixing each with the current quotation depth."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buffer: list[str] = []
        self.quote_depth = 0
        self.pre_depth = 0

    def text(self, value: str | None) -> None:
        if not value:
            return
        value = _INVISIBLE.sub("", value)
        if self.pre_depth:
            pieces = value.replace("\r\n", "\n").split("\n")
            for i, piece in enumerate(pieces):
                if i:
                    self.newline(force=True)
                self.buffer.append(piece.replace("\xa0", " "))
            return
        self.buffer.append(_WS.sub(" ", value))

    def newline(self, force: bool = False) -> None:
        """End the current line; with `force`, an empty line is emitted too (a <br>)."""
        line = "".join(self.buffer)
        line = line.rstrip() if self.pre_depth else _SPACES.sub(" ", line).strip()
        self.buffer = []
        if not line and not force:
            return
        prefix = "> " * self.quote_depth
        self.lines.append((prefix + line).rstrip() if line else prefix.rstrip())

    def blank(self) -> None:
        self.newline()
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append(("> " * self.quote_depth).rstrip())

    def result(self) -> str:
        self.newline()
        lines = self.lines
        start, end = 0, len(lines)
        while start < end and not lines[start]:
            start += 1
        while end > start and not lines[end - 1]:
            end -= 1
        return "\n".join(lines[start:end])


def _drop_blocks(html: str) -> str:
    """Remove <script>, <style> and <head> blocks in linear time (the regex-free fallback path)."""
    lower = html.lower()
    tags = ("script", "style", "head")
    nxt = {tag: lower.find("<" + tag) for tag in tags}
    pieces: list[str] = []
    pos = 0
    while True:
        found = [(i, tag) for tag, i in nxt.items() if i >= 0]
        if not found:
            break
        start, tag = min(found)
        pieces.append(html[pos:start])
        end = lower.find("</" + tag, start)
        if end < 0:
            return "".join(pieces)
        close = lower.find(">", end)
        pos = len(html) if close < 0 else close + 1
        for other in tags:
            if 0 <= nxt[other] < pos:
                nxt[other] = lower.find("<" + other, pos)
    pieces.append(html[pos:])
    return "".join(pieces)


def _tag(el: lxml.etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _is_hidden(el: lxml.etree._Element) -> bool:
    """Not shown: display:none and the like, and newsletter "preheaders" (opacity:0, or max-height:0 with
    overflow:hidden). font-size:0 alone is not hidden: layouts use it between inline blocks."""
    style = el.get("style")
    if style and (
        _HIDDEN_STYLE.search(style)
        or _ZERO_OPACITY.search(style)
        or (_ZERO_SIZE.search(style) and _OVERFLOW_HIDDEN.search(style))
    ):
        return True
    return el.get("hidden") is not None


def _classes(el: lxml.etree._Element) -> str:
    return f"{el.get('class') or ''} {el.get('id') or ''}".lower()


_NO_BORDER = re.compile(r"(?:^|;)\s*border\s*:\s*none\b", re.IGNORECASE)
# Outlook quotes with "border:none;border-left:solid #CCCCCC 1.0pt": a border after all
_A_BORDER = re.compile(
    r"border(?:-(?:left|right|top|bottom))?(?:-style)?\s*:[^;]*\b(?:solid|dotted|dashed|double|groove|ridge)\b",
    re.IGNORECASE,
)


def _is_quote(el: lxml.etree._Element, tag: str) -> bool:
    """A quotation: <blockquote> or Yahoo's quoted div. Not Gmail's "indent" button, a <blockquote
    style="margin:0 0 0 40px;border:none;padding:0px"> around the writer's own lines (quotes carry a border,
    type="cite" or a gmail_quote class)."""
    if tag == "div":
        return any(c in _classes(el) for c in _QUOTE_CLASSES)
    if tag != "blockquote":
        return False
    if (el.get("type") or "").lower() == "cite" or "quote" in _classes(el):
        return True
    style = el.get("style") or ""
    return not (_NO_BORDER.search(style) and not _A_BORDER.search(style))


def _is_signature(el: lxml.etree._Element, tag: str) -> bool:
    if tag != "div":
        return False
    if el.get("data-signatureblock") == "true":
        return True
    names = _classes(el).split()
    return any(marker in names for marker in _SIGNATURE_MARKERS)


def _zero_length(value: str) -> bool:
    """A CSS length of (nearly) zero: "0", "0cm", ".0001pt"."""
    match = _LENGTH.match(value.strip())
    try:
        return match is not None and float(match.group(1)) < 0.01
    except ValueError:  # no number ("auto")
        return False


def _margin_less_paragraphs(root: lxml.etree._Element) -> bool:
    """Does the style sheet give Outlook's paragraphs (`p.MsoNormal`) no top and bottom margin, as Outlook's
    own does ("{margin:0cm; …}")? Then each such paragraph is one line on screen, and an empty one
    (`<p class=MsoNormal><o:p>&nbsp;</o:p></p>`) is the blank line between paragraphs."""
    for style in root.iter("style"):
        for rule in _MSO_NORMAL_RULE.finditer(style.text or ""):
            top = bottom = False
            for side, value in _MARGIN.findall(rule.group(1)):
                values = value.split()
                if not side and values:
                    top = _zero_length(values[0])
                    bottom = _zero_length(values[2] if len(values) >= 3 else values[0])
                elif side == "-top":
                    top = _zero_length(value)
                elif side == "-bottom":
                    bottom = _zero_length(value)
            return top and bottom
    return False


def _mso_line(el: lxml.etree._Element, tag: str, margin_less: bool) -> bool:
    """An Outlook paragraph shown as one line (see `_margin_less_paragraphs`)."""
    return margin_less and tag == "p" and "msonormal" in _classes(el).split()


def _empty_paragraph(el: lxml.etree._Element) -> bool:
    """A paragraph with no text and no image: Outlook's blank line."""
    return not _WS.sub("", el.text_content()) and next(el.iter("img"), None) is None


def _is_tag(match: re.Match[str]) -> bool:
    name = match.group(2).lower()
    return name in _HTML_TAGS or _ELEMENT_NAME.fullmatch(name) is not None


def _escape_text_brackets(html: str) -> str:
    """`html` with the "<" of plain-text angle brackets escaped, so the parser keeps them as text.

    A "<" starts a tag only before an element name of HTML or of mail clients' markup (`<o:p>`); in
    `<<Kundennummer>>` (a placeholder), `<anna@example.com>` or `<x>` it is text, and so is the inner "<"
    of `<<name>>` even for an element name (`<<Address>>`): no HTML writer puts a bare "<" before a tag.
    """
    html = _PLACEHOLDER.sub(lambda m: "<&lt;" + m.group(1)[1:] + ">", html)
    return _TAG_START.sub(lambda m: m.group(0) if _is_tag(m) else "&lt;" + m.group(0)[1:], html)


def _strip_tags(html: str) -> str:
    """The text of `html` with its tags removed: the fallback when lxml builds no tree."""
    return _WS.sub(" ", _TAG.sub(" ", _drop_blocks(html))).replace("&lt;", "<").strip()


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Convert an HTML body to text; return (text, flags). Never raises."""
    flags: list[str] = []
    if len(html) > MAX_HTML_CHARS:
        cut = html.rfind("<", 0, MAX_HTML_CHARS)
        html = html[: cut if cut > MAX_HTML_CHARS // 2 else MAX_HTML_CHARS]
        flags.append("html_truncated")
    html = _escape_text_brackets(_XML_DECL.sub("", html, count=1).replace("\x00", ""))
    if not html.strip():
        return "", flags
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, recover=True)
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except (lxml.etree.ParserError, ValueError, lxml.etree.XMLSyntaxError):
        return _strip_tags(html), [*flags, "html_parse_error"]
    writer = _Writer()
    margin_less = _margin_less_paragraphs(root)
    skipped: lxml.etree._Element | None = None
    walker = lxml.etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        tag = _tag(el)
        if event == "start":
            if not tag or tag in _SKIP_TAGS or _is_hidden(el):
                skipped = el
                walker.skip_subtree()
                continue
            if tag == "br":
                writer.newline(force=True)
            elif tag == "hr":
                writer.blank()
            elif _is_quote(el, tag):
                writer.newline()
                writer.quote_depth += 1
            elif tag == "blockquote":
                writer.newline()
            elif _is_signature(el, tag) and el.text_content().strip():
                writer.newline()
                writer.lines.append(("> " * writer.quote_depth) + "-- ")
            elif _mso_line(el, tag, margin_less):
                writer.newline()
            elif tag in _PARAGRAPH_TAGS:
                writer.blank()
                if tag == "pre":
                    writer.pre_depth += 1
            elif tag == "li":
                writer.newline()
                writer.text("- ")
            elif tag in _BLOCK_TAGS:
                writer.newline()
            elif tag in ("td", "th"):
                writer.text(" ")
            writer.text(el.text)
            continue
        # event == "end"
        if el is skipped:
            skipped = None
        elif _is_quote(el, tag):
            writer.newline()
            writer.quote_depth = max(0, writer.quote_depth - 1)
        elif tag == "blockquote":
            writer.newline()
        elif _mso_line(el, tag, margin_less):
            if _empty_paragraph(el):
                writer.blank()
            else:
                writer.newline()
        elif tag in _PARAGRAPH_TAGS:
            writer.blank()
            if tag == "pre":
                writer.pre_depth = max(0, writer.pre_depth - 1)
        elif tag in _BLOCK_TAGS or tag == "li":
            writer.newline()
        elif tag in ("td", "th"):
            writer.text(" ")
        writer.text(el.tail)
    text = writer.result()
    if not text.strip() and _TAG.search(html):
        # libxml2 gives up on pathological input (e.g. nesting deeper than 256): strip the tags instead
        stripped = _strip_tags(html)
        if stripped:
            return stripped, [*flags, "html_parse_error"]
    return text, flags
