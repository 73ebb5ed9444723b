from __future__ import annotations

import pytest

from pipeline.core.html_text import html_to_text
from pipeline.core.text_decoding import decode_document


def test_utf8_with_bom_and_crlf():
    decoded = decode_document(b"\xef\xbb\xbfa\r\nb\rc\n")
    assert decoded.text == "a\nb\nc\n" and decoded.problems == [] and decoded.encoding == "utf-8"


def test_latin1_is_decoded_with_a_problem_not_silently():
    decoded = decode_document("Montréal clinic".encode("cp1252"))
    assert decoded.text == "Montréal clinic"
    assert "byte 0xE9 at offset 5" in decoded.problems[0]


def test_binary_empty_and_oversize_are_fatal():
    assert decode_document(b"\x00\x01\x02abc").fatal
    assert "empty file" in decode_document(b"   \n").problems[0]
    big = decode_document(b"x" * 101, max_bytes=100)
    assert big.fatal and "over the" in big.problems[0]


def test_mostly_control_characters_is_binary():
    assert decode_document(bytes(range(1, 32)) * 50).fatal


def test_html_is_reduced_to_lines_of_text():
    text = html_to_text(
        "<html><body><h1>Summary &amp; Overview</h1><p>CPT 32994: T</p><script>x()</script></body></html>"
    )
    lines = [line for line in text.splitlines() if line]
    assert lines == ["## Summary & Overview", "CPT 32994: T"]


TEXT = "CPT 32994: Ablation, Zürich — 東京\r\nKey payers covered include Aetna.\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_a_byte_order_mark_is_decoded_and_not_a_problem(encoding):
    decoded = decode_document(TEXT.encode(encoding))
    assert decoded.text == TEXT.replace("\r\n", "\n") and decoded.problems == [] and not decoded.fatal
    assert decoded.encoding == encoding.removesuffix("-sig").replace("utf-8", "utf-8")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_bom_are_recognized_by_their_nuls_not_called_binary(encoding):
    decoded = decode_document(TEXT.encode(encoding))
    assert not decoded.fatal, decoded.problems
    assert decoded.text == TEXT.replace("\r\n", "\n") and decoded.encoding == encoding and decoded.problems == []


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02abc",
        b"\x00\x01\x02abc" * 10,
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        b"\x00\x00\x00\x01" * 100,
        b"text then a NUL\x00 and more text after it, as in a corrupt export....",
    ],
)
def test_binary_with_nuls_is_still_binary(data):
    assert decode_document(data).fatal
