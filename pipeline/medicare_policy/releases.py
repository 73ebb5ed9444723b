"""The release rule, written down once.

A release names which quarterly file of a schedule a row comes from, so that a user sees what priced it and the
marts can take the latest one of each data year.

1. The file's own title lines decide where they state the release: a PFS title naming ``RVU25D`` (or a month
   and year, e.g. ``OCTOBER 2025`` / ``2025 ... OCTOBER RELEASE``); an OPPS or ASC title or rate-column name
   naming a month and year (``April 2026 Payment Rate``).
2. Otherwise the name of the zip member, then of the folder entry: ``RVU25D.zip``, ``rvu26c-updated-…zip``,
   ``PPRRVU25_JAN.csv``, ``PPRRVU2025_Oct.csv``, ``january-2025-opps-addendum-b.zip``,
   ``2026 January Web Addendum B.12.29.25.csv``, ``July 2026 ASC Addenda - Addendum AA.07.08.26.csv``.
3. Neither: the file is rejected (a release cannot be guessed).

Labels: PFS ``RVUyyQ`` with Q = A (January), B (April), C (July), D (October), and ``AR`` for CMS's January
correction; OPPS and ASC ``YYYY-MM`` (the first month of the quarter). The data year is the calendar year of the
release. Ordering within a data year: A < AR < B < C < D, and by month for OPPS/ASC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
QUARTER_LETTER = {1: "A", 4: "B", 7: "C", 10: "D"}
_MONTH = r"(?<![a-z])(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_RVU = re.compile(r"(?<![a-z0-9])rvu(\d{2})([a-d])(r?)(?![a-z0-9])", re.IGNORECASE)
_PPRRVU = re.compile(r"pprrvu(\d{2}|\d{4})_?" + _MONTH, re.IGNORECASE)
_MONTH_YEAR = re.compile(_MONTH + r"[^0-9a-z]{0,3}(20\d\d)", re.IGNORECASE)
_YEAR_MONTH = re.compile(r"(20\d\d)[^0-9\n]{0,80}?" + _MONTH + r"(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Release:
    label: str
    data_year: int
    order: int  # sorts releases of one data year
    origin: str  # "title" or "name"

    def describe(self) -> str:
        return f"release {self.label} (from the file's {self.origin})"


def pfs_release(title_text: str, names: list[str]) -> Release | None:
    for origin, texts in (("title", [title_text]), ("name", names)):
        for text in texts:
            found = _pfs_from(text, origin)
            if found:
                return found
    return None


def _pfs_from(text: str, origin: str) -> Release | None:
    match = _RVU.search(text)
    if match:
        year, letter, correction = 2000 + int(match[1]), match[2].upper(), match[3].upper()
        return _pfs(year, letter, correction, origin)
    match = _PPRRVU.search(text)
    if match:
        year = int(match[1]) if len(match[1]) == 4 else 2000 + int(match[1])
        return _pfs_month(year, MONTHS[match[2][:3].lower()], origin)
    match = _MONTH_YEAR.search(text)
    if match and origin == "title":
        return _pfs_month(int(match[2]), MONTHS[match[1][:3].lower()], origin)
    match = _YEAR_MONTH.search(text)
    if match and origin == "title":
        return _pfs_month(int(match[1]), MONTHS[match[2][:3].lower()], origin)
    return None


def _pfs_month(year: int, month: int, origin: str) -> Release | None:
    letter = QUARTER_LETTER.get(month)
    return _pfs(year, letter, "", origin) if letter else None


def _pfs(year: int, letter: str, correction: str, origin: str) -> Release:
    order = "ABCD".index(letter) * 2 + (1 if correction else 0)
    return Release(f"RVU{year % 100:02d}{letter}{correction}", year, order, origin)


def quarter_release(texts: list[str], names: list[str]) -> Release | None:
    """OPPS / ASC: the first month-and-year in the title texts (or rate-column names), then in the names."""
    for origin, candidates in (("title", texts), ("name", names)):
        for text in candidates:
            match = _MONTH_YEAR.search(text)
            if match:
                year, month = int(match[2]), MONTHS[match[1][:3].lower()]
            else:
                match = _YEAR_MONTH.search(text)
                if not match:
                    continue
                year, month = int(match[1]), MONTHS[match[2][:3].lower()]
            return Release(f"{year}-{month:02d}", year, month, origin)
    return None


def release_order(label: str) -> tuple[int, int]:
    """(data year, order) of a stored label: the marts take the highest per data year."""
    match = re.fullmatch(r"RVU(\d{2})([A-D])(R?)", label)
    if match:
        return 2000 + int(match[1]), "ABCD".index(match[2]) * 2 + (1 if match[3] else 0)
    year, month = label.split("-")
    return int(year), int(month)
