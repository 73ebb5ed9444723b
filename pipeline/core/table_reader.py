"""Reads pipe-table lines one by one and loads the rows of the modifier table and of a payer table.

A table is a header row, a ``|---|`` separator and rows; a blank or non-table line ends it.  A modifier
table whose header has no separator line is still read (exports often drop it).  A row that cannot be
loaded (wrong number of cells, a code that is not two letters/digits, a modifier row with no table
above it) becomes a problem naming the line; nothing is dropped silently.

Box-drawn and fixed-width tables (see ``text_tables``) wrap long cells onto continuation lines: a line
whose key cell (the modifier code, the payer name) is empty continues the row above, cell by cell; a
``|---|`` border between rows only closes the row.  Empty cells past the header's width (a spreadsheet's
padding) are not a ragged row.  A table whose header names a payer column (``Payer | Coverage notes``)
lists payers, one per row.
"""

from __future__ import annotations

from pipeline.core.modifier_table import (
    ModifierColumns,
    ModifierRow,
    clean_cell,
    is_separator_row,
    looks_like_modifier_row,
    modifier_columns,
    read_modifier_row,
    split_table_row,
)

# A payer table's name column: "Payer", "Payer name", "Payers" … or one of these exactly.
_PAYER_HEADERS = frozenset(
    {"health plan", "health plans", "plan", "plans", "insurer", "insurers", "carrier", "carriers"}
)


class TableReader:
    def __init__(self, problems: list[str], modifiers: list[ModifierRow]):
        self.problems = problems
        self.modifiers = modifiers
        self.header: list[str] | None = None
        self.columns: ModifierColumns | None = None
        self.pending: tuple[list[str], int] | None = None  # a row that may be a header
        self.saw_modifier_table = False
        self.modifier_rows = 0
        self.last_row_ragged = False
        self.payer_column: int | None = None
        self.payers: list[str] = []  # payer names, one per row of a payer table, as written
        self.payer_table_line: int | None = None
        self.row: tuple[list[str], int, str] | None = None  # the row read last: continuation lines join it

    def read(self, text: str, number: int) -> None:
        if self.header is not None:
            if _is_separator(text):  # a box-drawn table's border between rows
                self._flush_row()
                return
            cells = split_table_row(text)
            while len(cells) > len(self.header) and not cells[-1]:
                cells.pop()
            if self._continues_row(cells):
                previous, first, first_text = self.row
                self.row = ([f"{a} {b}".strip() for a, b in zip(previous, cells, strict=True)], first, first_text)
                return
            self._flush_row()
            self.row = (cells, number, text)
            return
        if self.pending is not None and _is_separator(text):
            self._start(*self.pending)
            self.pending = None
            return
        if self.pending is None and _is_separator(text):  # a box-drawn table's top border
            return
        cells = split_table_row(text)
        if self.pending is not None and len(cells) == len(self.pending[0]) and cells[:1] == [""] and any(cells):
            # a header cell wrapped onto a second line ("When to" / "Use")
            self.pending = ([f"{a} {b}".strip() for a, b in zip(self.pending[0], cells, strict=True)], self.pending[1])
            return
        if self.pending is not None:
            columns = modifier_columns(self.pending[0])
            # Without a |---| line, only a row of short labels is a payer table's header ("Payers⇥Aetna, Cigna" is a
            # key and its value, not a table).
            payer_header = (
                columns is None
                and payer_column(self.pending[0]) is not None
                and all(len(cell.split()) <= 4 and "," not in cell for cell in self.pending[0])
            )
            if (columns is not None and looks_like_modifier_row(cells)) or (
                payer_header and len(cells) == len(self.pending[0])
            ):
                self._start(*self.pending)
                self.pending = None
                self.row = (cells, number, text)
                return
            self._flag_orphan(self.pending)
        self.pending = (cells, number)

    @property
    def active(self) -> bool:
        return self.pending is not None or self.header is not None

    def end(self) -> None:
        self._flush_row()
        if self.pending is not None:
            self._flag_orphan(self.pending)
        self.pending = self.header = self.columns = self.payer_column = None

    def _continues_row(self, cells: list[str]) -> bool:
        """An empty key cell (modifier code, payer name) under a row: the row's cells wrapped onto this line."""
        key = self.columns.code if self.columns is not None else self.payer_column
        if key is None or self.row is None or key >= len(cells) or cells[key]:
            return False  # the common case, settled by one cell
        return len(cells) == len(self.row[0]) and any(cells)

    def _flush_row(self) -> None:
        if self.row is None:
            return
        cells, number, text = self.row
        self.row = None
        self.last_row_ragged = False
        if self.payer_column is not None:
            self._read_payer_row(cells, text, number)
        else:
            self._read_row(cells, text, number)

    def _read_payer_row(self, cells: list[str], text: str, number: int) -> None:
        if len(cells) != len(self.header):
            self.last_row_ragged = True
            self.problems.append(
                f"line {number}: payer table row has {len(cells)} cells, expected {len(self.header)}; "
                f"row not loaded: {text[:120]!r}"
            )
            return
        name = clean_cell(cells[self.payer_column]).strip(" .;,")
        if name and name.casefold() != "not available":
            self.payers.append(name)

    def missing_table_problems(self) -> list[str]:
        if not self.saw_modifier_table:
            return ["no modifier table (a pipe table with a 'Modifier' column)"]
        if self.modifier_rows == 0:
            return ["modifier table has a header but no rows (document may be truncated)"]
        return []

    def _start(self, header: list[str], number: int) -> None:
        self.header, self.columns = header, modifier_columns(header)
        if self.columns is None:
            self._start_payer_table(header, number)
            return
        self.saw_modifier_table = True
        if self.columns.ignored:
            names = ", ".join(repr(name) for name in self.columns.ignored)
            self.problems.append(
                f"line {number}: modifier table column(s) {names} ignored (not a modifier, description or "
                "when-to-use column); their text is kept in the document sections"
            )

    def _start_payer_table(self, header: list[str], number: int) -> None:
        column = payer_column(header)
        if column is None:
            return
        self.payer_column, self.payer_table_line = column, number
        ignored = [clean_cell(header[i]) or f"column {i + 1}" for i in range(len(header)) if i != column]
        if ignored:
            names = ", ".join(repr(name) for name in ignored)
            self.problems.append(
                f"line {number}: payer table column(s) {names} ignored (only the payer names are read); their "
                "text is kept in the document sections"
            )

    def _read_row(self, cells: list[str], text: str, number: int) -> None:
        if self.columns is None:
            return
        self.modifier_rows += 1
        if len(cells) != len(self.header):
            self.last_row_ragged = True
            self.problems.append(
                f"line {number}: modifier table row has {len(cells)} cells, expected {len(self.header)}; "
                f"row not loaded: {text[:120]!r}"
            )
            return
        row = read_modifier_row(cells, self.columns, number)
        if isinstance(row, str):
            self.problems.append(row)
        else:
            self.modifiers.append(row)

    def _flag_orphan(self, row: tuple[list[str], int]) -> None:
        """A pipe row with no table header above it (e.g. a table broken by a blank line) is not loaded;
        say so when it looks like a modifier row, rather than dropping it silently."""
        cells, number = row
        if looks_like_modifier_row(cells):
            self.problems.append(
                f"line {number}: modifier row outside a table (no header and |---| line above); not loaded"
            )


def payer_column(header: list[str]) -> int | None:
    """The column of a payer table's header that names the payers (``Payer``, ``Health plan`` …), if any."""
    if len(header) > 12:
        return None
    for index, cell in enumerate(header):
        name = clean_cell(cell).casefold().strip(" :")
        if name.startswith("payer") or name in _PAYER_HEADERS:
            return index
    return None


def _is_separator(text: str) -> bool:
    # Only '|', '-', ':' and spaces: most rows are settled without splitting them again.
    return "-" in text and not text.strip("|-: \t") and is_separator_row(text)
