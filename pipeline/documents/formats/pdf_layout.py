"""A PDF's positioned text → the Markdown lines the parser reads.

A PDF has no paragraphs, headings or tables: only pieces of text placed on pages.  This module rebuilds them
from positions alone, so any PDF library that reports where its text is (``Segment``) can feed it:

- pieces on one baseline form a line; pieces far apart on a line are separate cells;
- running lines (the browser's date and page title at the top, the URL and "Page 1 of 2" at the bottom, a
  page number alone) are dropped: a line in the top or bottom band of a page that repeats on another page
  (digits ignored), or that is only a page number;
- a line in a larger font than the body is a heading (a heading wrapped over lines is joined);
- lines of one paragraph are joined; a line that stops well short of the right margin ends its paragraph,
  so "Service type: …" and "Typical site of service: …" stay two lines;
- two or more cells aligned on consecutive lines are a table: the first line is its header and fixes the
  columns, a line whose first column is empty continues the row above (a cell wrapped in its box);
- a table that ends one page and starts the next is one table: the repeated header row is dropped; a
  continuation whose columns do not match is kept as a second table, and that is reported.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pipeline.documents.formats.markdown import heading, one_line, pipe_table


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of text on a page: its box in points, measured from the page's top-left corner."""

    x0: float
    x1: float
    top: float
    bottom: float
    text: str

    @property
    def size(self) -> float:
        return max(self.bottom - self.top, 0.1)


@dataclass(slots=True)
class Page:
    width: float
    height: float
    segments: list[Segment]


@dataclass(slots=True)
class _Line:
    cells: list[Segment]

    @property
    def text(self) -> str:
        return one_line(" ".join(cell.text for cell in self.cells))

    @property
    def top(self) -> float:
        return min(cell.top for cell in self.cells)

    @property
    def bottom(self) -> float:
        return max(cell.bottom for cell in self.cells)

    @property
    def x0(self) -> float:
        return self.cells[0].x0

    @property
    def x1(self) -> float:
        return self.cells[-1].x1

    @property
    def size(self) -> float:
        return max(cell.size for cell in self.cells)


@dataclass(slots=True)
class _Table:
    anchors: list[float]
    rows: list[list[str]]
    page: int
    bottom: float = 0.0


@dataclass(slots=True)
class Layout:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


RUNNING_BAND = 0.09  # the top and bottom share of a page where browsers and word processors print running lines
_PAGE_NUMBER = re.compile(r"^\W*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\W*$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_CELL_GAP = 0.9  # a gap wider than this many text heights separates two cells of a line
_HEADING_SIZE = 1.18  # a line this many times the body text height is a heading
_PARAGRAPH_GAP = 0.75  # more blank space than this many text heights between lines starts a new paragraph
_HEADING_LINE_GAP = 0.45  # lines of one wrapped heading are closer than this many of their heights
_SHORT_LINE = 0.82  # a line ending before this share of the text width ends its paragraph
_ALIGN = 4.0  # points: cells whose left edges are this close are in one column


def layout(pages: list[Page]) -> Layout:
    result = Layout()
    page_lines = [_lines(page.segments) for page in pages]
    running = _running_lines(pages, page_lines)
    kept = [
        [line for line in lines if _running_key(line.text) not in running.get(index, set())]
        for index, lines in enumerate(page_lines)
    ]
    body_size = _body_size(kept)
    left = min((line.x0 for lines in kept for line in lines), default=0.0)
    right = max((line.x1 for lines in kept for line in lines), default=0.0)
    _Writer(result, body_size, left, right).write(kept)
    return result


def _lines(segments: list[Segment]) -> list[_Line]:
    """Segments grouped by baseline, top to bottom; within a line, near pieces merged into cells."""
    lines: list[list[Segment]] = []
    for segment in sorted(segments, key=lambda s: (round(s.bottom, 1), s.x0)):
        if not segment.text.strip():
            continue
        if lines and abs(lines[-1][-1].bottom - segment.bottom) <= 0.4 * min(lines[-1][-1].size, segment.size):
            lines[-1].append(segment)
        else:
            lines.append([segment])
    return [_Line(_cells(sorted(pieces, key=lambda s: s.x0))) for pieces in lines]


def _cells(pieces: list[Segment]) -> list[Segment]:
    cells = [pieces[0]]
    for piece in pieces[1:]:
        last = cells[-1]
        if piece.x0 - last.x1 <= _CELL_GAP * min(last.size, piece.size):
            joiner = "" if last.text.endswith((" ", "-")) or piece.text.startswith(" ") else " "
            cells[-1] = Segment(
                last.x0, max(last.x1, piece.x1), min(last.top, piece.top), max(last.bottom, piece.bottom),
                last.text + joiner + piece.text,
            )  # fmt: skip
        else:
            cells.append(piece)
    return cells


def _running_key(text: str) -> str:
    return _DIGITS.sub("#", text.casefold())


def _running_lines(pages: list[Page], page_lines: list[list[_Line]]) -> dict[int, set[str]]:
    """Per page, the keys of its lines that are running headers, footers or page numbers."""
    banded: list[set[str]] = []
    numbered: list[set[str]] = []  # lines with a page number in one of their cells ("https://… | Page 1 of 1")
    for page, lines in zip(pages, page_lines, strict=True):
        band = page.height * RUNNING_BAND
        in_band = [line for line in lines if line.top < band or line.bottom > page.height - band]
        banded.append({_running_key(line.text) for line in in_band})
        numbered.append(
            {_running_key(line.text) for line in in_band if any(_PAGE_NUMBER.match(c.text) for c in line.cells)}
        )
    counts = Counter(key for keys in banded for key in keys)
    return {
        index: {key for key in keys if len(pages) > 1 and counts[key] > 1} | numbered[index]
        for index, keys in enumerate(banded)
    }


def _body_size(pages: list[list[_Line]]) -> float:
    sizes = Counter()
    for lines in pages:
        for line in lines:
            sizes[round(line.size, 0)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


class _Writer:
    def __init__(self, result: Layout, body_size: float, left: float, right: float):
        self.result = result
        self.out = result.lines
        self.body_size = body_size
        self.right_edge = left + (right - left) * _SHORT_LINE
        self.paragraph: list[str] = []
        self.heading: list[str] = []
        self.heading_size = 0.0
        self.table: _Table | None = None
        self.previous: _Line | None = None

    def write(self, pages: list[list[_Line]]) -> None:
        for number, lines in enumerate(pages, start=1):
            self.previous = None
            for line in lines:
                self._line(line, number)
            self._flush_text()
        self._flush_table()

    def _line(self, line: _Line, page: int) -> None:
        gap = line.top - self.previous.bottom if self.previous is not None else None
        self.previous = line
        if self.table is not None and self._continues_table(line, page, gap):
            return
        self._flush_table()
        if len(line.cells) >= 2 and self._starts_table(line, page):
            return
        if line.size >= self.body_size * _HEADING_SIZE:
            self._flush_paragraph()
            # Glyph boxes vary with the letters (descenders, capitals): a heading wrapped over lines is one
            # heading while its lines are close and of about one size.
            same_heading = (
                gap is not None
                and gap < _HEADING_LINE_GAP * line.size
                and abs(line.size - self.heading_size) <= 0.25 * max(line.size, self.heading_size)
            )
            if self.heading and not same_heading:
                self._flush_heading()
            self.heading.append(line.text)
            self.heading_size = max(line.size, self.heading_size) if same_heading else line.size
            return
        self._flush_heading()
        if gap is not None and gap > _PARAGRAPH_GAP * self.body_size:
            self._flush_paragraph()
        self.paragraph.append(line.text)
        if line.x1 < self.right_edge:
            self._flush_paragraph()

    def _starts_table(self, line: _Line, page: int) -> bool:
        self._flush_text()
        self.table = _Table([cell.x0 for cell in line.cells], [[cell.text for cell in line.cells]], page, line.bottom)
        return True

    def _continues_table(self, line: _Line, page: int, gap: float | None) -> bool:
        table = self.table
        assert table is not None
        if page != table.page:
            return self._continues_on_next_page(line, page)
        if gap is not None and gap > 2.5 * self.body_size:
            return False
        columns = [self._column(cell) for cell in line.cells]
        if None in columns or (len(line.cells) == 1 and columns[0] == 0 and len(table.rows) > 1):
            return False
        row = [""] * len(table.anchors)
        for column, cell in zip(columns, line.cells, strict=True):
            row[column] = one_line(f"{row[column]} {cell.text}")
        if row[0]:
            table.rows.append(row)
        else:  # the first column is empty: the cells of the row above wrapped onto this line
            last = table.rows[-1]
            for column, text in enumerate(row):
                if text:
                    last[column] = one_line(f"{last[column]} {text}")
        table.bottom = line.bottom
        return True

    def _continues_on_next_page(self, line: _Line, page: int) -> bool:
        """The first line of a page right after a table that ended the page before."""
        table = self.table
        assert table is not None
        if len(line.cells) < 2:
            return False
        header = [one_line(cell) for cell in table.rows[0]]
        texts = [cell.text for cell in line.cells]
        if len(texts) != len(table.anchors):
            self.result.problems.append(
                f"PDF: the table on page {table.page} seems to continue on page {page} with "
                f"{len(texts)} columns instead of {len(table.anchors)}; read as two tables, check the rows there"
            )
            return False
        table.anchors = [cell.x0 for cell in line.cells]
        table.page = page
        if [one_line(text) for text in texts] == header:
            return True  # the header row repeated at the top of the page: dropped
        table.rows.append([one_line(text) for text in texts])
        return True

    def _column(self, cell: Segment) -> int | None:
        anchors = self.table.anchors if self.table else []
        candidates = [index for index, anchor in enumerate(anchors) if anchor <= cell.x0 + _ALIGN]
        if not candidates:
            return None
        column = candidates[-1]
        following = anchors[column + 1] if column + 1 < len(anchors) else None
        if following is not None and cell.x1 > following + _ALIGN:
            return None  # spans into the next column: not a cell of this table
        return column

    def _flush_table(self) -> None:
        if self.table is None:
            return
        if len(self.table.rows) >= 2:
            self._blank()
            self.out.extend(pipe_table(self.table.rows))
            self.out.append("")
        else:  # a single line of spaced-out text is not a table
            self.paragraph.append(" ".join(self.table.rows[0]))
            self._flush_paragraph()
        self.table = None

    def _flush_text(self) -> None:
        self._flush_heading()
        self._flush_paragraph()

    def _flush_heading(self) -> None:
        if self.heading:
            self._blank()
            self.out.append(heading(" ".join(self.heading), 1 if self.heading_size > 1.5 * self.body_size else 2))
            self.out.append("")
            self.heading = []

    def _flush_paragraph(self) -> None:
        if self.paragraph:
            self._blank()
            self.out.append(_join_wrapped(self.paragraph))
            self.paragraph = []

    def _blank(self) -> None:
        if self.out and self.out[-1] != "":
            self.out.append("")


def _join_wrapped(lines: list[str]) -> str:
    """One paragraph's lines as one line.  A line ending in a hyphen is joined without a space and the hyphen
    kept: browsers and word processors wrap at the hyphen of "non-physician", and rarely hyphenate words."""
    text = lines[0]
    for line in lines[1:]:
        text = text + line if text.endswith("-") and not text.endswith(" -") else f"{text} {line}"
    return text
