"""Word ``.docx`` → Markdown lines, with python-docx (MIT).

The body is read in document order: a paragraph in a Heading or Title style becomes a ``#`` heading, a
paragraph in a list (numbered or bulleted, by its list style or its numbering properties) a ``- item``, a
table a pipe table (a merged cell counted once), any other paragraph a line of text; a soft line break
inside a paragraph starts a new line.  Runs are joined as Word shows them, so a word split over two runs
(as spell-checking and editing leave it) is one word.  Page headers and footers are left out: they repeat on
every page and state no fact of the document.  A table inside a table cell is flattened into the cell's text
and reported.
"""

from __future__ import annotations

import io
import re
import zipfile

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from pipeline.documents.formats.conversion import Conversion
from pipeline.documents.formats.markdown import heading, list_item, one_line, pipe_table

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def convert_docx(data: bytes) -> Conversion:
    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        return Conversion.rejected(f"Word file cannot be opened ({exc}); it may be damaged or not a .docx")
    lines: list[str] = []
    problems: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            _paragraph(block, lines)
        elif isinstance(block, Table):
            _table(block, lines, problems)
    return Conversion("\n".join(lines) + "\n", problems)


def _paragraph(paragraph: Paragraph, lines: list[str]) -> None:
    text = paragraph.text
    if not text.strip():
        if lines and lines[-1] != "":
            lines.append("")
        return
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    level = _heading_level(style)
    if level is not None:
        lines += ["", heading(text, level), ""]
    elif _is_list_item(paragraph, style):
        lines.append(list_item(text))
    else:
        if lines and lines[-1].startswith("- "):
            lines.append("")  # the list has ended: this paragraph does not continue its last item
        # A Word paragraph is a paragraph: the blank line keeps the parser from joining it to the next one
        # as if it were a hard-wrapped line of text.
        lines += [*(one_line(part) for part in text.split("\n") if part.strip()), ""]


def _heading_level(style: str) -> int | None:
    if style.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(style.strip())
    return int(match.group(1)) if match else None


def _is_list_item(paragraph: Paragraph, style: str) -> bool:
    properties = paragraph._p.pPr
    return style.lower().startswith("list") or (properties is not None and properties.numPr is not None)


def _table(table: Table, lines: list[str], problems: list[str]) -> None:
    rows: list[list[str]] = []
    nested = 0
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                continue
            seen.add(id(cell._tc))
            nested += len(cell.tables)
            cells.append(one_line(cell.text))
        rows.append(cells)
    if nested:
        problems.append(
            f"Word: a table holds {nested} table(s) inside its cells; their text was read as part of the cell"
        )
    if rows:
        lines += ["", *pipe_table(rows), ""]
