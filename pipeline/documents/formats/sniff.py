"""Which binary or packaged document format a file's bytes are, by content (never by its name).

A PDF starts with ``%PDF-`` (or has it within its first kilobyte and ends with ``%%EOF``: some writers put
junk before the header); a Word file is a
zip archive holding ``word/document.xml``; an RTF file starts with ``{\\rtf``; an e-mail starts with RFC 822
header lines and has a ``From:``, ``Subject:``, ``Date:`` or ``MIME-Version:`` header among them.  Anything
else (text, saved web pages) is left to the text decoder.
"""

from __future__ import annotations

import io
import re
import zipfile

PDF, DOCX, RTF, EML = "pdf", "docx", "rtf", "eml"
# Containers that are not read, recognised only to say so: a legacy binary Office file (Word 97-2003 .doc,
# Excel .xls) and any other zip archive (.xlsx, .pptx, .odt, a zip of files).
LEGACY_OFFICE, OTHER_ZIP = "legacy office", "zip"
FORMATS = (PDF, DOCX, RTF, EML, LEGACY_OFFICE, OTHER_ZIP)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_ZIP_MAGIC = b"PK\x03\x04"
_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,60}:[ \t]*\S?")
_WRITTEN_BY_MAIL_PROGRAMS = frozenset({b"mime-version", b"message-id", b"received", b"return-path"})
_MAIL_HEADER_LOOKAHEAD = 64 * 1024


def sniff(data: bytes) -> str | None:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-") or (
        b"%PDF-" in data[:1024] and b"%%EOF" in data[-2048:]
    ):  # junk before the header is allowed (as readers do) only when the file also ends like a PDF
        return PDF
    if data.startswith(_ZIP_MAGIC):
        return DOCX if _is_word_archive(data) else OTHER_ZIP
    if data.startswith(_OLE_MAGIC):
        return LEGACY_OFFICE
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == b"{\\rtf":
        return RTF
    return EML if _starts_with_mail_headers(data) else None


def _is_word_archive(data: bytes) -> bool:
    if b"word/document.xml" not in data:  # the member's name is stored uncompressed: a quick no
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _starts_with_mail_headers(data: bytes) -> bool:
    """The file opens with a block of ``Name: value`` lines (continuation lines indented), ended by a blank
    line, holding a header only a mail program writes (``MIME-Version``, ``Message-ID``, ``Received``) and
    ``From``: a text document that starts with "Service type:" is not an e-mail, and neither is a message
    pasted into a text file (From/Sent/To/Subject only), which the text path reads as it always has."""
    head = data[:_MAIL_HEADER_LOOKAHEAD]
    names: set[bytes] = set()
    for line in head.splitlines():
        if not line.strip():
            return b"from" in names and bool(names & _WRITTEN_BY_MAIL_PROGRAMS)
        if line[:1] in (b" ", b"\t") and names:
            continue
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(b":", 1)[0].strip().lower())
    return False
