"""Reads pipe-table lines one by one and loads the rows of the modifier table.

A table is a header row, a ``|---|`` separator and rows; a blank or non-table line ends it.  A modifier
table whose header has no separator line is still read (exports often drop it).  A row that cannot be
loaded (wrong number of cells, a code that is not two letters/digits, a modifier row with no table
above it) becomes a problem naming the line; nothing is dropped silently.
"""

from __future__ import annotations

from pipeline.core.modifier_table import (
    ModifierColumns,
    ModifierRow,
    is_separator_row,
    looks_like_modifier_row,
    modifier_columns,
    read_modifier_row,
    split_table_row,
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

    def read(self, text: str, number: int) -> None:
        if self.header is not None:
            self._read_row(split_table_row(text), text, number)
            return
        if self.pending is not None and is_separator_row(text):
            self._start(*self.pending)
            self.pending = None
            return
        cells = split_table_row(text)
        if self.pending is not None:
            columns = modifier_columns(self.pending[0])
            if columns is not None and looks_like_modifier_row(cells):
                self._start(*self.pending)
                self.pending = None
                self._read_row(cells, text, number)
                return
            self._flag_orphan(self.pending)
        self.pending = (cells, number)

    @property
    def active(self) -> bool:
        return self.pending is not None or self.header is not None

    def end(self) -> None:
        if self.pending is not None:
            self._flag_orphan(self.pending)
        self.pending = self.header = self.columns = None

    def missing_table_problems(self) -> list[str]:
        if not self.saw_modifier_table:
            return ["no modifier table (a pipe table with a 'Modifier' column)"]
        if self.modifier_rows == 0:
            return ["modifier table has a header but no rows (document may be truncated)"]
        return []

    def _start(self, header: list[str], number: int) -> None:
        self.header, self.columns = header, modifier_columns(header)
        if self.columns is None:
            return
        self.saw_modifier_table = True
        if self.columns.ignored:
            names = ", ".join(repr(name) for name in self.columns.ignored)
            self.problems.append(
                f"line {number}: modifier table column(s) {names} ignored (not a modifier, description or "
                "when-to-use column); their text is kept in the document sections"
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
