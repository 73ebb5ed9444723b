"""Text tables in the shapes people paste and print → the pipe rows the table reader reads.

Three shapes are rewritten, one output line per input line (so line numbers in problems stay true and
every line stays in its section):

- a block pasted from a spreadsheet: two or more consecutive lines with tab-separated cells, the first
  one a header row.  Empty trailing cells (spreadsheets pad rows to the widest one) are dropped down to
  the header's width; a row with fewer cells is padded with empty ones (a spreadsheet leaves trailing
  empty cells out);
- a box-drawn table: ``+-----+-----+`` (or ``+=====+``, or Unicode ``┌──┬──┐``/``├──┼──┤``) border lines
  become ``|---|---|`` separators and ``│`` becomes ``|``.  Rows stay as they are: a cell wrapped onto
  the next line leaves the code cell of that line empty, and the table reader joins it to the row above;
- a fixed-width table: a header line underlined with runs of dashes (``--------  ------------``).  The
  dash runs give the columns; the header and every following line up to a blank line are cut at those
  columns into pipe rows (a wrapped cell again leaves the code cell empty).

Each rule looks at one line and its neighbours, so the rewrite is linear in the text.
"""

from __future__ import annotations

import re

_BOX_CHARACTERS = frozenset("+-=:─━═┌┐└┘├┤┬┴┼╔╗╚╝╠╣╦╩╬╒╕╘╛╞╡╤╧╪╓╖╙╜╟╢╥╨╫┏┓┗┛┣┫┳┻╋ ")
_BOX_CORNERS = frozenset("+┌┐└┘├┤┬┴┼╔╗╚╝╠╣╦╩╬╒╕╘╛╞╡╤╧╪╓╖╙╜╟╢╥╨╫┏┓┗┛┣┫┳┻╋")
_BOX_RULES = frozenset("-=─━═")
_VERTICALS = str.maketrans({"│": "|", "┃": "|", "║": "|"})
_DASH_RUNS = re.compile(r"-{2,}")
_BOX_TEXT = re.compile("[│┃║┌├└╔╠╚┏┣┗╒╞╘╓╟╙]")  # a Unicode box's verticals and left corners
# A dash underline: two or more runs of dashes with spaces between, alone on its line.
_UNDERLINE = re.compile(r"^[ \t]*-{2,}[ \t]+-{2,}[ \t-]*$", re.MULTILINE)
_LONGEST_TABLE_LINE = 2_000  # a longer line is prose (or an attack), never a row to cut into columns


def normalize_text_tables(text: str) -> str:
    """The text with tab-separated, box-drawn and fixed-width tables rewritten as pipe rows."""
    boxed = "+-" in text or "+=" in text or (not text.isascii() and _BOX_TEXT.search(text) is not None)
    tabbed = "\t" in text
    underlined = ("-- " in text or "--\t" in text) and _UNDERLINE.search(text) is not None
    if not (boxed or tabbed or underlined):
        return text  # most documents (a markdown table's |---| is no underline): nothing to rewrite
    lines = text.split("\n")
    if boxed:
        _box_tables(lines)
    if tabbed:
        _tab_blocks(lines)
    if underlined:
        _fixed_width_tables(lines)
    return "\n".join(lines)


def _box_tables(lines: list[str]) -> None:
    for index, line in enumerate(lines):
        if "│" in line or "┃" in line or "║" in line:
            lines[index] = line.translate(_VERTICALS)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _is_box_border(stripped) and (_is_pipe_row(lines, index - 1) or _is_pipe_row(lines, index + 1)):
            columns = max(1, sum(1 for c in stripped[1:-1] if c in _BOX_CORNERS) + 1)
            lines[index] = "|" + "---|" * columns


def _is_box_border(stripped: str) -> bool:
    return (
        len(stripped) >= 3
        and len(stripped) <= _LONGEST_TABLE_LINE
        and stripped[0] in _BOX_CORNERS
        and stripped[-1] in _BOX_CORNERS
        and any(c in _BOX_RULES for c in stripped)
        and all(c in _BOX_CHARACTERS for c in stripped)
    )


def _is_pipe_row(lines: list[str], index: int) -> bool:
    if not 0 <= index < len(lines):
        return False
    stripped = lines[index].strip()
    return stripped.startswith("|") or _is_box_border(stripped)


def _tab_blocks(lines: list[str]) -> None:
    start = 0
    while start < len(lines):
        if not _has_inner_tab(lines[start]):
            start += 1
            continue
        end = start
        while end < len(lines) and _has_inner_tab(lines[end]):
            end += 1
        header = _tab_cells(lines[start])
        if end - start >= 2 and _is_header(header):
            width = len(header)
            for index in range(start, end):
                cells = _tab_cells(lines[index])  # trailing empty cells dropped: padding past the header
                cells += [""] * (width - len(cells))
                lines[index] = _pipe_row(cells) if any(cells) else ""  # an empty spreadsheet row ends the table
        start = end


def _has_inner_tab(line: str) -> bool:
    """A row of a pasted block: a tab between or after cells ('Cigna⇥' has an empty last cell)."""
    return "\t" in line.strip(" \r\n") and "|" not in line and len(line) <= _LONGEST_TABLE_LINE


def _tab_cells(line: str) -> list[str]:
    cells = [" ".join(cell.split()) for cell in line.strip("\r\n ").split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _is_header(cells: list[str]) -> bool:
    """A header row names its columns: two or more, none of them a 'Key:' (tab-aligned key lines are not a
    table)."""
    return len([c for c in cells if c]) >= 2 and not any(c.endswith(":") for c in cells)


def _fixed_width_tables(lines: list[str]) -> None:
    index = 1
    while index < len(lines):
        line = lines[index]
        columns = _underline_columns(line) if "--" in line else None
        header = lines[index - 1]
        if columns is None or not header.strip() or "|" in header or len(header) > _LONGEST_TABLE_LINE:
            index += 1
            continue
        lines[index - 1] = _pipe_row(_cut(header, columns))
        lines[index] = "|" + "---|" * len(columns)
        index += 1
        while index < len(lines) and lines[index].strip() and len(lines[index]) <= _LONGEST_TABLE_LINE:
            if _underline_columns(lines[index]) is None:
                lines[index] = _pipe_row(_cut(lines[index], columns))
            else:
                lines[index] = "|" + "---|" * len(columns)
            index += 1


def _underline_columns(line: str) -> list[int] | None:
    """Start columns of a dash underline ``----  -----  ----`` (two or more runs, nothing else on the line)."""
    if len(line) > _LONGEST_TABLE_LINE or line.strip(" -") or line.count("-") < 4:
        return None
    expanded = line.expandtabs()
    runs = [match.start() for match in _DASH_RUNS.finditer(expanded)]
    return runs if len(runs) >= 2 else None


def _cut(line: str, columns: list[int]) -> list[str]:
    """Cells of a fixed-width line; a word running over a column start stays in the column it started in."""
    expanded = line.expandtabs()
    bounds = [0]
    for column in columns[1:]:
        column = min(max(column, bounds[-1]), len(expanded))  # cuts only move right: a line costs its length
        while 0 < column < len(expanded) and expanded[column - 1] != " " and expanded[column] != " ":
            column += 1
        bounds.append(column)
    bounds.append(len(expanded))
    return [" ".join(expanded[a:b].split()) for a, b in zip(bounds, bounds[1:], strict=False)]


def _pipe_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
