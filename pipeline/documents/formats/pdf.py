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
            return Page(width, height, _segments(textpage, height))
        finally:
            textpage.close()
    finally:
        page.close()


def _segments(textpage, height: float) -> list[Segment]:
    """The page's text runs with their boxes.  PDFium's text comes line by line (CR LF between lines); a line
    whose text was drawn as one run is one rectangle, and only a line of several runs (a table row) needs its
    characters placed, one box each, to split its text between its rectangles.  Asking PDFium for the text
    inside each rectangle instead scans the whole page per rectangle: several times slower."""
    count = textpage.count_chars()
    text = textpage.get_text_range(0, count) if count > 0 else ""
    if len(text) != count:  # characters outside the Basic Multilingual Plane: index by rectangle instead
        return _segments_by_rectangle(textpage, height)
    segments: list[Segment] = []
    start = 0
    for line in text.split("\r\n"):
        end = start + len(line)
        if line.strip():
            rects = [textpage.get_rect(i) for i in range(textpage.count_rects(start, len(line)))]
            for (left, bottom, right, top), piece in zip(rects, _split_line(textpage, start, line, rects), strict=True):
                segments.append(Segment(left, right, height - top, height - bottom, piece))
        start = end + 2
    return segments


def _split_line(textpage, start: int, line: str, rects: list[tuple[float, float, float, float]]) -> list[str]:
    """The line's text cut at its rectangles' left edges.  Characters run left to right along a line, so each
    cut is found by bisection over the line's visible characters: a few boxes asked per cut, not one per
    character; if the order is not left to right after all, every visible character is placed one by one."""
    if len(rects) <= 1:
        return [line] * len(rects)
    visible = [offset for offset, char in enumerate(line) if char.strip()]

    def middle(position: int) -> float:
        left, _, right, _ = textpage.get_charbox(start + visible[position])
        return (left + right) / 2

    cuts, low = [], 0
    for rect in rects[1:]:
        edge, high = rect[0] - 0.5, len(visible)
        while low < high:
            mid = (low + high) // 2
            if middle(mid) < edge:
                low = mid + 1
            else:
                high = mid
        cuts.append(low)
    bounds = [0, *(visible[cut] if cut < len(visible) else len(line) for cut in cuts), len(line)]
    pieces = [line[bounds[i] : bounds[i + 1]] for i in range(len(rects))]
    if all(piece.strip() for piece in pieces):
        return pieces
    return _split_line_by_each_character(textpage, start, line, rects)


def _split_line_by_each_character(textpage, start: int, line: str, rects) -> list[str]:
    pieces = [""] * len(rects)
    for offset, char in enumerate(line):
        if not char.strip():
            pieces[max(i for i in range(len(rects)) if not i or pieces[i])] += char
            continue
        left, _, right, _ = textpage.get_charbox(start + offset)
        centre = (left + right) / 2
        inside = [i for i, rect in enumerate(rects) if rect[0] - 0.5 <= centre <= rect[2] + 0.5]
        pieces[inside[0] if inside else 0] += char
    return pieces


def _segments_by_rectangle(textpage, height: float) -> list[Segment]:
    segments = []
    for index in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(index)
        text = textpage.get_text_bounded(left, bottom, right, top)
        segments.append(Segment(left, right, height - top, height - bottom, text))
    return segments


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
