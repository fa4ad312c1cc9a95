"""HTML to text: visible text only, structure kept, quotes and signature containers marked."""

from __future__ import annotations

import pytest

from postroom.cleaning import clean_message
from postroom.cleaning.html import html_to_text


def test_scripts_styles_comments_and_tracking_are_dropped() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style><script>var a=1;</script></head>"
        "<body><!-- comment --><p>Hallo <b>Welt</b></p><img src='https://t.example/p.gif' width=1 height=1>"
        "<span style='display: none'>preheader</span><p>Link: <a href='https://track.example/?u=1'>hier</a></p>"
        "<noscript>no</noscript><svg><text>svg</text></svg></body></html>"
    )
    text, flags = html_to_text(html)
    assert text == "Hallo Welt\n\nLink: hier"
    assert flags == []


def test_blocks_lists_tables_and_breaks() -> None:
    html = "<div>eins<br>zwei</div><ul><li>a</li><li>b</li></ul><table><tr><td>x</td><td>y</td></tr></table>"
    text, _ = html_to_text(html)
    assert text.split("\n") == ["eins", "zwei", "", "- a", "- b", "", "x y"]


def test_blockquote_becomes_quoted_lines_and_is_removed() -> None:
    html = (
        "<p>Neu</p><div>On Mon, 4 Mar 2024, Bank wrote:</div>"
        "<blockquote>Alt<blockquote>Älter</blockquote></blockquote>"
    )
    text, _ = html_to_text(html)
    assert text.split("\n") == ["Neu", "", "On Mon, 4 Mar 2024, Bank wrote:", "> Alt", "> > Älter"]
    assert clean_message(html, "html").text == "Neu"


def test_signature_container_gets_a_delimiter() -> None:
    html = "<div>Text</div><div class='gmail_signature'>Max<br>0170 1234567</div>"
    assert html_to_text(html)[0] == "Text\n-- \nMax\n0170 1234567"
    assert clean_message(html, "html").text == "Text"


def test_pre_keeps_line_breaks() -> None:
    text, _ = html_to_text("<pre>a  b\n  c</pre>")
    assert text == "a  b\n  c"


def test_entities_and_nbsp() -> None:
    assert html_to_text("<p>100&nbsp;&euro; &amp; mehr&#33;</p>")[0] == "100 € & mehr!"


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("<<x>>", "html", "<<x>>"),
        ("Bitte <<Kundennummer>> angeben", "html", "Bitte <<Kundennummer>> angeben"),
        ("<p>Nr.: <<Kundennummer>>, <<Address Line>>, <<Title>></p>", "text",
         "Nr.: <<Kundennummer>>, <<Address Line>>, <<Title>>"),
        ("<p>Anna <anna@example.de>, &lt;&lt;y&gt;&gt;, 3 < 4</p>", "html",
         "Anna <anna@example.de>, <<y>>, 3 < 4"),
        ("<div>" * 300 + "tief <<x>>" + "</div>" * 300, "html", "tief <<x>>"),  # the tag-stripping fallback
    ],
)
def test_plain_text_angle_brackets_survive(raw: str, fmt: str, expected: str) -> None:
    assert clean_message(raw, fmt).text == expected  # type: ignore[arg-type]


def test_real_tags_are_still_removed_next_to_text_brackets() -> None:
    html = (
        "<html><body><p class=MsoNormal>Hallo <b>Welt</b><o:p></o:p> <st1:City>Berlin</st1:City>"
        "<br/><FONT color=red>rot</FONT> <x-custom-tag>x</x-custom-tag> &lt;&lt;Name&gt;&gt;</p>"
        "</body></html>"
    )
    assert html_to_text(html)[0] == "Hallo Welt Berlin\nrot x <<Name>>"
