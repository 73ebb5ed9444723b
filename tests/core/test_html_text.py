"""Saved web pages through selectolax/Lexbor: blocks become lines, tables become pipe tables."""

from __future__ import annotations

from pipeline.core.html_text import MAX_NESTING, cap_nesting, declared_charset, html_to_text, looks_like_html


def test_blocks_headings_lists_and_key_lines():
    text = html_to_text(
        "<body><h2>Billing Code Overview</h2><p>One <b>bold</b> line</p>"
        "<p><strong>Service type:</strong> x<br><b>Typical site of service:</b> y</p>"
        "<ul><li>a</li><li>b</ul><script>z()</script><style>p{}</style><nav>menu</nav></body>"
    )
    assert text.splitlines() == [
        "## Billing Code Overview",
        "One bold line",
        "Service type: x",
        "Typical site of service: y",
        "- a",
        "- b",
    ]


def test_table_becomes_a_pipe_table_and_nothing_inside_is_lost():
    text = html_to_text(
        "<table><caption>Modifiers</caption><tr><td>Modifier</td><td>When</td></tr>"
        "<tr><td><code>59</code></td><td>a | b <em>c</em><p>d</p></td></tr>"
        "<tr><td colspan=2>note</td></tr></table>"
    )
    assert text.splitlines() == [
        "Modifiers",
        "| Modifier | When |",
        "|---|---|",
        "| 59 | a \\| b c d |",
        "| note | |",
    ]


def test_sniffing_and_charset():
    assert looks_like_html("\n  <!DOCTYPE html><p>x</p>")
    assert looks_like_html("<div>x</div>")
    assert not looks_like_html("Summary & Overview\n<p> is a tag name")
    assert declared_charset(b'<html><head><meta charset="ISO-8859-1">') == "windows-1252"
    assert declared_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">') == (
        "windows-1252"
    )
    assert declared_charset(b"<html><p>none</p>") is None


def test_nesting_is_capped_like_browsers_do_and_text_is_kept():
    deep = "<div>" * (MAX_NESTING * 8) + "deep text" + "</div>" * (MAX_NESTING * 8)
    capped, dropped = cap_nesting(deep)
    assert dropped == MAX_NESTING * 7
    assert "deep text" in html_to_text(capped)
    shallow = "<p>x</p>" * 5000
    assert cap_nesting(shallow) == (shallow, 0)
