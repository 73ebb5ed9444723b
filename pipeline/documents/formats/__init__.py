"""Binary and packaged document formats (PDF, Word, RTF, e-mail) read into the text the parser reads.

``parse_any_document`` is the parser's entry point for raw file bytes: it recognises the format by content
(``sniff``; never by the file name), converts the file with its library into Markdown lines (headings,
``- item`` lists, pipe tables) or, for an HTML e-mail, the HTML body, and parses that with the pure parser
(``pipeline.core.document_parser.parse_text``).  Bytes of no such format (text, saved web pages) go to
``parse_document`` exactly as before.  What the conversion could not do well becomes a problem of the
document, the way decoding notes do (the document is ``partial``); a file that cannot be read at all (a
scanned PDF without a text layer, a damaged archive) is ``rejected`` with the reason.  The format is
recorded in the document's ``encoding`` (``pdf``, ``docx``, ``rtf``, ``eml``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

from pipeline.core.document_parser import ParsedDocument, parse_document, parse_text, reject_oversize
from pipeline.core.domains import PARSED, PARTIAL, REJECTED
from pipeline.core.known_names import KnownNames
from pipeline.core.text_decoding import DEFAULT_MAX_DOCUMENT_BYTES
from pipeline.documents.formats.conversion import Conversion
from pipeline.documents.formats.sniff import DOCX, EML, LEGACY_OFFICE, OTHER_ZIP, PDF, RTF, sniff

__all__ = ["Conversion", "convert", "formats_fingerprint", "parse_any_document", "sniff"]


@functools.cache
def _converters() -> dict[str, Callable[[bytes], Conversion]]:
    # Imported on first use: a folder of text documents never loads PDFium or python-docx.
    from pipeline.documents.formats.docx import convert_docx
    from pipeline.documents.formats.eml import convert_eml
    from pipeline.documents.formats.pdf import convert_pdf
    from pipeline.documents.formats.rtf import convert_rtf

    return {
        PDF: convert_pdf,
        DOCX: convert_docx,
        RTF: convert_rtf,
        EML: convert_eml,
        LEGACY_OFFICE: lambda _: Conversion.rejected(
            "legacy binary Office file (Word 97-2003 .doc or similar): not read; save it as .docx, PDF or text"
        ),
        OTHER_ZIP: lambda _: Conversion.rejected(
            "zip archive that is not a Word .docx (a spreadsheet, a presentation or a zip of files): not read; "
            "save the overview as .docx, PDF or text, or unpack the archive into the folder"
        ),
    }


def convert(data: bytes) -> tuple[str, Conversion] | None:
    """(format, conversion) for the bytes of a PDF, Word, RTF or e-mail file; None for anything else."""
    kind = sniff(data)
    if kind is None:
        return None
    try:
        return kind, _converters()[kind](data)
    except Exception as exc:  # noqa: BLE001 - a library's failure on one malformed file is that file's problem
        return kind, Conversion.rejected(f"{kind.upper()} file cannot be read: {type(exc).__name__}: {exc}")


def parse_any_document(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES, known_names: KnownNames | None = None
) -> ParsedDocument:
    """Parse raw file bytes of any supported form. Never raises for bad content."""
    if len(data) > max_bytes:
        return reject_oversize(len(data), max_bytes)
    converted = convert(data)
    if converted is None:
        return parse_document(data, max_bytes=max_bytes, known_names=known_names)
    kind, conversion = converted
    if conversion.fatal or conversion.text is None:
        return ParsedDocument(status=REJECTED, problems=conversion.problems, encoding=kind)
    if not conversion.text.strip():
        return ParsedDocument(status=REJECTED, problems=[f"{kind.upper()} file holds no text"], encoding=kind)
    parsed = parse_text(conversion.text, known_names=known_names, from_html=conversion.from_html)
    parsed.encoding = kind
    if conversion.problems:
        parsed.problems[:0] = conversion.problems
        if parsed.status == PARSED:
            parsed.status = PARTIAL
    return parsed


def formats_fingerprint() -> str:
    """Hash of the converters' source and the libraries' versions: a new converter or library re-parses."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    package = Path(__file__).parent
    for module in sorted(package.glob("*.py")):
        digest.update(module.read_bytes())
    for library in ("pypdfium2", "lxml", "striprtf"):
        digest.update(f"{library}={version(library)}".encode())
    return digest.hexdigest()[:16]
