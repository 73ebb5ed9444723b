"""Turn the raw bytes of a document into text, or explain why they are not text.

Documents arrive from many editors: UTF-8 with or without a BOM, CRLF line endings, the occasional
Windows-1252 export, and web pages saved from a browser.  HTML is recognized by its content (any file
name) and converted to the plain text the parser reads (``pipeline/core/html_text.py``); a page in a
legacy encoding is decoded with the charset its ``<meta>`` declares, as a browser would.  UTF-16 and
UTF-32 are decoded, not a problem: by their byte-order mark, or, without one, by their pattern of NUL
bytes (ASCII text in UTF-16LE has a NUL in every odd byte; UTF-32 three in every four), and only when the
whole file decodes strictly in that encoding.  Every other deviation from plain UTF-8 (a legacy 8-bit
encoding) is reported as a problem, so nothing is coerced silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.core.html_text import convert_page, declared_charset, looks_like_html

DEFAULT_MAX_DOCUMENT_BYTES = 5 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
# Longest first: the UTF-32LE mark begins with the UTF-16LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_NUL_SAMPLE = 4096  # bytes looked at to recognize UTF-16/32 without a byte-order mark
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20)])  # the same characters, as bytes


@dataclass(slots=True)
class DecodedText:
    """Text ready for parsing (or None when the bytes are not a text document)."""

    text: str | None
    encoding: str | None
    problems: list[str] = field(default_factory=list)
    fatal: bool = False
    is_html: bool = False


def decode_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> DecodedText:
    """Decode bytes to normalized text (LF line endings, no BOM; HTML converted to text)."""
    if len(data) > max_bytes:
        return DecodedText(None, None, [oversize_problem(len(data), max_bytes)], fatal=True)
    if not data or data.isspace():  # the ASCII whitespace ``bytes.strip`` removes, without copying the file
        return DecodedText(None, None, ["empty file: no text to parse"], fatal=True)
    wide = _decode_wide(data)
    if wide is not None:
        decoded = wide
    elif b"\x00" in data:
        offset = data.index(b"\x00")
        return DecodedText(None, None, [f"binary file: NUL byte at offset {offset}; not a text document"], fatal=True)
    else:
        decoded = _decode_8bit(data.removeprefix(_UTF8_BOM))
    if _looks_binary(decoded.text):
        return DecodedText(None, None, ["binary file: mostly control characters; not a text document"], True)
    text = decoded.text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if looks_like_html(text):
        page = convert_page(text)
        text = page.text
        decoded.problems.extend(page.problems)
        decoded.is_html = not page.preformatted  # a text file saved as a web page reads as plain text
    decoded.text = text
    return decoded


def _decode_wide(data: bytes) -> DecodedText | None:
    """UTF-16 or UTF-32 text, by its byte-order mark or its NUL pattern; None when the bytes are neither."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            try:
                return DecodedText(body.decode(encoding), encoding.removesuffix("-le").removesuffix("-be"))
            except UnicodeDecodeError:
                if encoding.startswith("utf-32"):
                    continue  # FF FE 00 00 may be UTF-16LE text whose first character is NUL: try that
                text = body.decode(encoding, errors="replace")
                return DecodedText(
                    text,
                    encoding.removesuffix("-le").removesuffix("-be"),
                    [f"file is {encoding.upper()} by its byte-order mark but has invalid sequences; shown as U+FFFD"],
                )
    encoding = _wide_encoding_by_nuls(data)
    if encoding is None:
        return None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None  # the pattern was a coincidence: the bytes are judged as they are
    return None if "\x00" in text else DecodedText(text.removeprefix("\ufeff"), encoding)


def _wide_encoding_by_nuls(data: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark: where the NUL bytes fall in each group of four (text in the Latin
    range has its high bytes zero). None unless one layout clearly fits."""
    sample = data[: _NUL_SAMPLE - _NUL_SAMPLE % 4]
    if len(sample) < 16 or b"\x00" not in sample:  # too few bytes to tell a pattern from chance
        return None
    groups = len(sample) // 4
    zeros = [sample[i::4][:groups].count(0) / groups for i in range(4)]
    mostly, rarely = 0.9, 0.1
    if len(data) % 4 == 0:
        if zeros[0] <= rarely and min(zeros[1:]) >= mostly:
            return "utf-32-le"
        if zeros[3] <= rarely and min(zeros[:3]) >= mostly:
            return "utf-32-be"
    if len(data) % 2:
        return None
    odd, even = (zeros[1] + zeros[3]) / 2, (zeros[0] + zeros[2]) / 2
    if even <= rarely and odd >= 0.5:
        return "utf-16-le"
    if odd <= rarely and even >= 0.5:
        return "utf-16-be"
    return None


def _decode_8bit(data: bytes) -> DecodedText:
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        error = exc
    charset = declared_charset(data) if looks_like_html(data[:2048].decode("latin-1")) else None
    if charset is not None and charset != "utf-8":
        try:
            return DecodedText(data.decode(charset), charset)
        except (UnicodeDecodeError, LookupError):
            pass
    text, encoding = _decode_legacy(data)
    bad = data[error.start : error.start + 1].hex().upper()
    problem = (
        f"not valid UTF-8 (byte 0x{bad} at offset {error.start}); decoded as {encoding}, "
        "check accented characters and re-save the file as UTF-8"
    )
    return DecodedText(text, encoding, [problem])


def oversize_problem(size_bytes: int, max_bytes: int) -> str:
    return (
        f"file is {size_bytes / 1_048_576:.1f} MB, over the {max_bytes / 1_048_576:.1f} MB limit "
        "for one overview document (raise CPT_MAX_DOCUMENT_BYTES if this is genuine)"
    )


def _decode_legacy(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    if sample.isascii():  # counted in C: the bytes left after deleting every control character
        encoded = sample.encode("ascii")
        controls = len(encoded) - len(encoded.translate(None, _CONTROL_BYTES))
    else:
        controls = len(_CONTROL_CHARS.findall(sample))
    return controls > max(8, len(sample) // 20)
