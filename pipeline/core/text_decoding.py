"""Turn the raw bytes of a document into text, or explain why they are not text.

Documents arrive from many editors: UTF-8 with or without a BOM, CRLF line endings, the occasional
Windows-1252 export, and web pages saved from a browser.  HTML is recognized by its content (any file
name) and converted to the plain text the parser reads (``pipeline/core/html_text.py``); a page in a
legacy encoding is decoded with the charset its ``<meta>`` declares, as a browser would.  Every other
deviation from plain UTF-8 is reported as a problem, so nothing is coerced silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.core.html_text import declared_charset, html_to_text_and_problems, looks_like_html

DEFAULT_MAX_DOCUMENT_BYTES = 5 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
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
    if not data.strip():
        return DecodedText(None, None, ["empty file: no text to parse"], fatal=True)
    if data.startswith(_UTF16_BOMS):
        decoded = DecodedText(data.decode("utf-16", errors="replace"), "utf-16")
        decoded.problems.append("file is UTF-16, not UTF-8; decoded from its byte-order mark")
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
        text, problems = html_to_text_and_problems(text)
        decoded.problems.extend(problems)
        decoded.is_html = True
    decoded.text = text
    return decoded


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
