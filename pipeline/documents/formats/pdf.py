"""PDF → Markdown lines, with pypdfium2 (PDFium, the engine of Chrome's PDF viewer; Apache-2.0/BSD-3).

PDFium reports the text of a page as rectangles: one per run of text drawn together (a table cell, a line
of a paragraph, a page number), each with its box; ``pdf_layout`` rebuilds lines, paragraphs, headings
and tables from those boxes.  Why PDFium rather than pdfminer.six/pdfplumber or pypdf: docs/documents.md
("PDF: which library"), measured by ``benchmarks/pdf_libraries_benchmark.py``.

A PDF with no text on any page is a scan (an image of print): it is rejected with that reason, because
nothing here recognises text in images (no OCR).  Pages without text inside a PDF that has some are
reported, since their content is not read.
"""

from __future__ import annotations

import pypdfium2 as pdfium

from pipeline.documents.formats.conversion import Conversion
from pipeline.documents.formats.pdf_layout import Page, Segment, layout


def pdf_pages(data: bytes) -> list[Page]:
    document = pdfium.PdfDocument(data)
    try:
        return [_page(document[index]) for index in range(len(document))]
    finally:
        document.close()


def _page(page) -> Page:
    try:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            segments = []
            for index in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(index)
                text = textpage.get_text_bounded(left, bottom, right, top)
                segments.append(Segment(left, right, height - top, height - bottom, text))
            return Page(width, height, segments)
        finally:
            textpage.close()
    finally:
        page.close()


def convert_pdf(data: bytes) -> Conversion:
    try:
        pages = pdf_pages(data)
    except pdfium.PdfiumError as exc:
        return Conversion.rejected(f"PDF cannot be opened ({exc}); it may be damaged or password-protected")
    return convert_pages(pages)


def convert_pages(pages: list[Page]) -> Conversion:
    """The Markdown of positioned pages (shared by every PDF library the benchmark compares)."""
    blank = [number for number, page in enumerate(pages, start=1) if not any(s.text.strip() for s in page.segments)]
    if not pages:
        return Conversion.rejected("PDF has no pages")
    if len(blank) == len(pages):
        what = "its page holds" if len(pages) == 1 else f"its {len(pages)} pages hold"
        return Conversion.rejected(
            f"scanned PDF, no text layer: {what} only images; text in images is not recognised (no OCR): "
            "save or export the document as a PDF with text, Word or HTML"
        )
    result = layout(pages)
    problems = list(result.problems)
    if blank:
        shown = ", ".join(str(number) for number in blank[:10]) + (" …" if len(blank) > 10 else "")
        problems.append(
            f"PDF: {len(blank)} of {len(pages)} pages have no text layer (page {shown}: images only); "
            "their content was not read (no OCR)"
        )
    return Conversion("\n".join(result.lines) + "\n", problems)
