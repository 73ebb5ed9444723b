"""The text form every converter writes: the Markdown the parser already reads.

Headings as ``#`` lines, list items as ``- item`` lines, tables as pipe tables with a separator row under the
header, paragraphs separated by blank lines.  The parser reads these forms from Markdown documents
(``pipeline/core/logical_lines.py``, ``table_reader.py``), so a converted PDF or Word file is read by the
same rules as a typed one.
"""

from __future__ import annotations

from collections.abc import Sequence


def heading(text: str, level: int = 2) -> str:
    return f"{'#' * max(1, min(level, 6))} {one_line(text)}"


def list_item(text: str) -> str:
    return f"- {one_line(text)}"


def pipe_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """A pipe table: the first row is the header.  Every row gets the header's number of cells."""
    if not rows:
        return []
    width = max(len(row) for row in rows)
    lines = [_pipe_row(rows[0], width), "|" + "---|" * width]
    lines += [_pipe_row(row, width) for row in rows[1:]]
    return lines


def _pipe_row(cells: Sequence[str], width: int) -> str:
    padded = [*cells, *[""] * (width - len(cells))]
    return "| " + " | ".join(one_line(cell).replace("|", "\\|") for cell in padded) + " |"


def one_line(text: str) -> str:
    return " ".join(text.split())
