"""The layout registry: each layout is a recogniser (does this sheet look like me? where are my columns?) and
the columns it loads, each with how its text becomes a typed value.

``recognise(sheet)`` returns ``Recognized`` (or None when the sheet is not of that layout); the folder reader
(``folder.py``) asks every layout in ``LAYOUTS`` in turn, so a new layout (the NCCI files) is one more module
and one more entry here. The typing happens in DuckDB (``load.py``) from the ``Cell`` kinds below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.contracts.table_contract import TableContract
from pipeline.medicare_policy.releases import Release
from pipeline.medicare_policy.sheets import Sheet

# How a cell's text becomes a value (SQL in load.py):
TEXT = "text"  # trimmed, blank = NULL
CODE = "code"  # upper-case; trailing non-printing bytes stripped (and counted)
MODIFIER = "modifier"  # blank = NULL (the global service)
NUMBER = "number"  # a decimal; anything else is an unreadable value (the line is quarantined)
MONEY = "money"  # "$3,307.24 " -> 3307.24; "." = none (NULL)
PERCENT = "percent"  # "20%" -> 20
PRICED = "priced"  # NA indicator: 'NA' -> false, blank -> true
YES_NO = "yes_no"  # Y -> true, N / blank -> false / NULL
CHANGED = "changed"  # '*' -> true, blank -> NULL
PADDED_3 = "padded_3"  # GLOB DAYS: digits padded to 3 (an xlsx may store 0 for 000)
APC = "apc"  # digits padded to 4
CPT_BLANKED = "cpt_blanked"  # a description: kept for Level II codes only (CPT descriptions are AMA text)
NUMERIC_KINDS = (NUMBER, MONEY, PERCENT)


@dataclass(frozen=True)
class Cell:
    target: str
    kind: str
    source: str  # the CMS column name, for reasons


@dataclass
class Recognized:
    layout: Layout
    sheet: Sheet
    data_start: int  # index into sheet.records of the first data record
    positions: dict[str, int | tuple[int, int]]  # target -> cell index (or fixed-width slice)
    release: Release
    variant: str = "standard"
    notes: list[str] = field(default_factory=list)

    @property
    def slot(self) -> tuple[str, int, str, str]:
        """Files of one slot hold the same facts: they must agree (conflict rule in folder.py)."""
        return (self.layout.name, self.release.data_year, self.release.label, self.variant)

    def describe_slot(self) -> str:
        variant = "" if self.variant == "standard" else f" {self.variant}"
        return f"{self.layout.name} {self.release.label}{variant}"


class LayoutError(ValueError):
    """The sheet is of this layout but cannot be loaded (a needed column missing, no release): rejected."""


@dataclass(frozen=True)
class Layout:
    name: str
    contract: TableContract
    cells: tuple[Cell, ...]
    recognise: Callable[[Sheet], Recognized | None]
    title: str  # what a user calls the file


def header_name(text: str) -> str:
    """A header cell compared by its words: case, runs of spaces and line breaks do not matter."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def find_columns(names: list[str], wanted: dict[str, Callable[[str], bool]]) -> tuple[dict[str, int], list[str]]:
    """target -> index of the first column whose normalized name matches; and the targets not found."""
    found, missing = {}, []
    for target, matches in wanted.items():
        index = next((i for i, name in enumerate(names) if name and matches(name)), None)
        if index is None:
            missing.append(target)
        else:
            found[target] = index
    return found, missing


def registry() -> tuple[Layout, ...]:
    from pipeline.medicare_policy import asc_addendum_aa, opps_addendum_b, pfs_rvu

    return (pfs_rvu.LAYOUT, opps_addendum_b.LAYOUT, asc_addendum_aa.LAYOUT)


def recognise(sheet: Sheet) -> Recognized | None:
    """The first layout that recognises the sheet; LayoutError when one does but the sheet cannot be loaded."""
    for layout in registry():
        found = layout.recognise(sheet)
        if found is not None:
            return found
    return None
