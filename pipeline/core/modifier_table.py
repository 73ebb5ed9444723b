"""The modifier table: a pipe table (markdown, plain text or converted from an HTML ``<table>``).

Columns are found by their header, in any order: the first header naming a modifier holds the code,
one naming a description, one naming when to use it.  "When to Use" may be missing (NULL, no problem);
any other column is ignored and named in a problem.  Emphasis and backticks in cells are removed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.core.domains import MODIFIER_CODE

MODIFIER_PATTERN = re.compile(MODIFIER_CODE)
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
# '*word*' and '_word_' emphasis; an underscore inside a word (snake_case) stays.
_EMPHASIS = re.compile(r"\*+|(?<!\w)_+(?=\S)|(?<=\S)_+(?!\w)")
_DESCRIPTION_WORDS = ("description", "descriptor", "meaning", "definition", "name")
_WHEN_WORDS = ("when", "usage", "use", "applies", "guidance")
_CACHED_HEADER_CELLS, _CACHED_HEADER_CHARS = 12, 400


@dataclass(frozen=True, slots=True)
class ModifierRow:
    modifier_code: str
    description: str | None
    when_to_use: str | None
    line_number: int


@dataclass(frozen=True, slots=True)
class ModifierColumns:
    code: int
    description: int | None
    when_to_use: int | None
    ignored: tuple[str, ...]


def split_table_row(line: str) -> list[str]:
    """Cells of a pipe-table row, with or without outer pipes; ``\\|`` is a literal pipe."""
    if len(line) <= _KEPT_ROW_CHARS:
        return list(_kept_cells(line))
    return _split_table_row(line)


# Table rows recur from document to document (the same modifiers, described the same way): their cells and
# readings are kept.  Only short rows, so the kept ones stay small.
_KEPT_ROW_CHARS = 400


@lru_cache(maxsize=4096)
def _kept_cells(line: str) -> tuple[str, ...]:
    return tuple(_split_table_row(line))


def _split_table_row(line: str) -> list[str]:
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|") and not stripped.endswith("\\|"):
        stripped = stripped[:-1]
    if "\\|" not in stripped:
        return [cell.strip() for cell in stripped.split("|")]
    return [cell.strip().replace("\\|", "|") for cell in _UNESCAPED_PIPE.split(stripped)]


def is_separator_row(line: str) -> bool:
    """'|---|:---:|' (at least one dash per cell)."""
    cells = split_table_row(line)
    return bool(cells) and all(cell and "-" in cell and not cell.strip(":-") for cell in cells)


def clean_cell(cell: str) -> str:
    """Drop markdown emphasis and code marks: '**50**', '`RT`', '*Both sides*'."""
    if "*" in cell or "_" in cell or "`" in cell:
        cell = _EMPHASIS.sub("", cell.replace("`", ""))
    return " ".join(cell.split())


def modifier_columns(header: list[str]) -> ModifierColumns | None:
    # Most documents repeat one of a few headers; the answer depends on the cells alone and is immutable.
    # Only short headers are cached, so a giant pipe line cannot pin memory.
    if len(header) <= _CACHED_HEADER_CELLS and sum(map(len, header)) <= _CACHED_HEADER_CHARS:
        return _modifier_columns(tuple(header))
    return _modifier_columns.__wrapped__(tuple(header))


@lru_cache(maxsize=1024)
def _modifier_columns(header: tuple[str, ...]) -> ModifierColumns | None:
    lowered = [clean_cell(cell).casefold() for cell in header]
    code = next((i for i, cell in enumerate(lowered) if "modifier" in cell), None)
    if code is None:
        return None
    description = _column(lowered, _DESCRIPTION_WORDS, taken={code})
    when = _column(lowered, _WHEN_WORDS, taken={code, description})
    used = {code, description, when}
    ignored = tuple(clean_cell(header[i]) or f"column {i + 1}" for i in range(len(header)) if i not in used)
    return ModifierColumns(code, description, when, ignored)


def _column(lowered: list[str], words: tuple[str, ...], taken: set[int | None]) -> int | None:
    for index, cell in enumerate(lowered):
        if index not in taken and any(word in cell.split() or cell.startswith(word) for word in words):
            return index
    return None


def read_modifier_row(cells: list[str], columns: ModifierColumns, number: int) -> ModifierRow | str:
    """The row, or the problem that stops it from loading."""
    if len(cells) <= _CACHED_HEADER_CELLS and sum(map(len, cells)) <= _KEPT_ROW_CHARS:
        values = _kept_row_values(tuple(cells), columns.code, columns.description, columns.when_to_use)
    else:
        values = _row_values(cells, columns.code, columns.description, columns.when_to_use)
    if values is None:
        return f"line {number}: modifier {cells[columns.code][:40]!r} is not two letters/digits"
    return ModifierRow(*values, number)


def _row_values(
    cells: Sequence[str], code_column: int, description_column: int | None, when_column: int | None
) -> tuple[str, str | None, str | None] | None:
    """Code, description and when-to-use of a row; None when its code is not two letters/digits."""
    code = clean_cell(cells[code_column]).upper()
    if not MODIFIER_PATTERN.fullmatch(code):
        return None
    return code, _value(cells, description_column), _value(cells, when_column)


_kept_row_values = lru_cache(maxsize=4096)(_row_values)


def looks_like_modifier_row(cells: list[str]) -> bool:
    return bool(cells) and bool(MODIFIER_PATTERN.fullmatch(clean_cell(cells[0]).upper()))


def _value(cells: Sequence[str], column: int | None) -> str | None:
    if column is None:
        return None
    value = clean_cell(cells[column])
    if len(value) < 24 and (not value or value.strip(" .").casefold() == "not available"):
        return None
    return value
