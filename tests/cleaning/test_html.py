"""HTML to text: visible text only, structure kept, quotes and signature containers marked."""

from __future__ import annotations

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
