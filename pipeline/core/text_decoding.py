"""Turn the raw bytes of a document into text, or explain why they are not text.

Documents arrive from many editors: UTF-8 with or without a BOM, CRLF line
endings, the occasional Windows-1252 export and HTML copied from a web page.
Every deviation from plain UTF-8 is reported as a problem so nothing is coerced
silently.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

DEFAULT_MAX_DOCUMENT_BYTES = 5 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_HTML_SNIFF = re.compile(r"<\s*(?:!doctype\s+html|html|body|head|div|p|h[1-6]|table|br)\b", re.IGNORECASE)
_HTML_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:p|div|br|h[1-6]|tr|li|ul|ol|table|thead|tbody|section|article|body|html|head|title)\b[^>]*>",
    re.IGNORECASE,
)
_HTML_CELL_TAG = re.compile(r"<\s*/?\s*t[dh]\b[^>]*>", re.IGNORECASE)
_HTML_DROP_BLOCK = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_ANY_TAG = re.compile(r"<[^>]*>")
_HTML_TITLE = re.compile(r"<\s*title\b[^>]*>.*?<\s*/\s*title\s*>", re.IGNORECASE | re.DOTALL)


@dataclass(slots=True)
class DecodedText:
    """Text ready for parsing (or None when the bytes are not a text document)."""

    text: str | None
    encoding: str | None
    problems: list[str] = field(default_factory=list)
    fatal: bool = False


def decode_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> DecodedText:
    """Decode bytes to normalized text (LF line endings, no BOM)."""
    if len(data) > max_bytes:
        return DecodedText(None, None, [oversize_problem(len(data), max_bytes)], fatal=True)
    if not data.strip():
        return DecodedText(None, None, ["empty file: no text to parse"], fatal=True)

    problems: list[str] = []
    if data.startswith(_UTF16_BOMS):
        encoding = "utf-16"
        text = data.decode("utf-16", errors="strict")
        problems.append("file is UTF-16, not UTF-8; decoded from its byte-order mark")
    else:
        if b"\x00" in data:
            offset = data.index(b"\x00")
            return DecodedText(
                None, None, [f"binary file: NUL byte at offset {offset}; not a text document"], fatal=True
            )
        if data.startswith(_UTF8_BOM):
            data = data[len(_UTF8_BOM) :]
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1].hex().upper()
            text, encoding = _decode_legacy(data)
            problems.append(
                f"not valid UTF-8 (byte 0x{bad} at offset {exc.start}); decoded as {encoding}, "
                "check accented characters and re-save the file as UTF-8"
            )
    if _looks_binary(text):
        return DecodedText(None, None, ["binary file: mostly control characters; not a text document"], True)

    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _HTML_SNIFF.search(text, 0, 4000):
        text = strip_html(text)
        problems.append("document is wrapped in HTML; markup was removed before parsing")
    return DecodedText(text, encoding, problems)


def oversize_problem(size_bytes: int, max_bytes: int) -> str:
    return (
        f"file is {size_bytes / 1_048_576:.1f} MB, over the {max_bytes / 1_048_576:.1f} MB limit "
        "for one overview document (raise CPT_MAX_DOCUMENT_BYTES if this is genuine)"
    )


def strip_html(text: str) -> str:
    """Keep the visible text of an HTML page, one block element per line."""
    text = _HTML_DROP_BLOCK.sub("", text)
    text = _HTML_TITLE.sub("\n", text)
    text = _HTML_CELL_TAG.sub(" | ", text)
    text = _HTML_BLOCK_TAG.sub("\n", text)
    text = _HTML_ANY_TAG.sub("", text)
    text = html.unescape(text)
    return "\n".join(line.strip() for line in text.split("\n"))


def _decode_legacy(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    return len(_CONTROL_CHARS.findall(sample)) > max(8, len(sample) // 20)
