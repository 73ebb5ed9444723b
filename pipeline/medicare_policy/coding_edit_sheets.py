"""The ``.xlsx`` forms of the coding-edit files (NCCI PTP, NCCI MUE, HCPCS Level II), rewritten in their text
form so that one reader (``ncci.py``, ``hcpcs_level2.py``) loads both and an xlsx gives the same rows as the
txt/csv of its release.

The workbook's first sheet is read with calamine. Its header row says which file it is:
- PTP: a row starting ``Column 1``, ``Column 2`` (one row with wrapped cells, or the 4 wrapped rows of the text
  form; rows after it with a blank first cell are the rest of the header): written as the TXT (copyright, title,
  the header over 4 lines, 7 tab-separated fields per edit);
- MUE: a row whose first cell reads ``HCPCS/ CPT Code``: written as the CSV (notice record, header, rows);
- HCPCS: the 48-column header (``HCPC``, ``SEQNUM``, ``RECID``, ``LONG DESCRIPTION`` …), one row per code with
  its whole long description: written as the 320-character records, the description cut into 80-character
  continuation records as in the TXT.
Numbers stored as numbers read back as CMS prints them (``20240101``, ``1``) and a date cell as ``YYYYMMDD``.
The text line each sheet row became is kept, so a quarantined line names the sheet row.

Only workbooks whose name could load are opened (the readers need the setting, version or date from the name):
the other workbooks of a CMS zip (a transaction report, the NOC list) are not parsed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime

from pipeline.medicare_policy.hcpcs_level2 import RECORD_LENGTH, RELEASE_NAME
from pipeline.medicare_policy.ncci import ENCODING, MUE_NAME_DATE, PTP_NAME, PTP_PREAMBLE_LINES
from pipeline.medicare_policy.sheets import SheetContentError, cell_text

PTP_HEADER_TEXT = (
    ("CPT only copyright American Medical Association.  All rights reserved.",),
    ("Column1/Column2 Edits",),
    ("Column 1", "Column 2", "*=in existence", "Effective", "Deletion ", "Modifier ", "PTP Edit Rationale"),
    ("", "", "prior to 1996", "Date", "Date", "0=not allowed", ""),
    ("", "", "", "", "*=no data", "1=allowed", ""),
    ("", "", "", "", "", "9=not applicable", ""),
)
HCPCS_COLUMNS = {  # xlsx header -> (1-based start, width) in the 320-character record
    "SHORT DESCRIPTION": (92, 28),
    "PRICE1": (120, 2),
    "COV": (230, 1),
    "BETOS": (257, 3),
    "ADD DT": (269, 8),
    "ACT EFF DT": (277, 8),
    "TERM DT": (285, 8),
    "ACTION CD": (293, 1),
}
HCPCS_DATES = ("ADD DT", "ACT EFF DT", "TERM DT")


@dataclass
class TextForm:
    """An xlsx rewritten in its text form: the bytes, and for each text line (1-based) the sheet row it came from."""

    data: bytes
    sheet_rows: dict[int, int]

    def sheet_row(self, line: int) -> int:
        return self.sheet_rows.get(line, 0)


def may_be_coding_edits(name: str) -> bool:
    return bool(PTP_NAME.search(name) or MUE_NAME_DATE.search(name) or RELEASE_NAME.search(name))


def text_form(name: str, data: bytes) -> TextForm | None:
    """The text form of a coding-edit workbook; None when its header is none of the three layouts."""
    if not may_be_coding_edits(name):
        return None
    rows = _rows(data)
    for number, cells in rows:
        words = [_words(c) for c in cells]
        if words[:2] == ["column 1", "column 2"]:
            return _ptp(rows, number)
        if words[:1] == ["hcpcs/ cpt code"]:
            return _mue(rows, number)
        if words[:3] == ["hcpc", "seqnum", "recid"]:
            return _hcpcs(rows, number, words)
    return None


def _rows(data: bytes) -> list[tuple[int, list[str]]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        values = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types for a damaged workbook
        raise SheetContentError(f"not a readable xlsx workbook: {type(exc).__name__}: {exc}") from exc
    rows = []
    for number, row in enumerate(values, start=1):
        cells = [_cell(value) for value in row]
        while cells and not cells[-1].strip():
            cells.pop()
        if cells:
            rows.append((number, cells))
    return rows


def _cell(value) -> str:
    if isinstance(value, datetime | date):
        return value.strftime("%Y%m%d")
    return cell_text(value)


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _one_line(text: str) -> str:
    """A cell written into one tab-separated line: a tab or line break in it would split the record."""
    return re.sub(r"[\t\r\n]", " ", text)


def _ptp(rows: list[tuple[int, list[str]]], header_row: int) -> TextForm:
    lines = ["\t".join([*cells, *[""] * (7 - len(cells))]) for cells in PTP_HEADER_TEXT]
    sheet_rows: dict[int, int] = {}
    data_rows = [(n, c) for n, c in rows if n > header_row]
    while data_rows and data_rows[0][0] <= header_row + 3 and not data_rows[0][1][0].strip():
        data_rows.pop(0)  # the rest of a header wrapped over rows
    for number, cells in data_rows:
        lines.append("\t".join(_one_line(c) for c in cells + [""] * (7 - len(cells))))
        sheet_rows[len(lines)] = number
    assert len(PTP_HEADER_TEXT) == PTP_PREAMBLE_LINES
    return TextForm(("\r\n".join(lines) + "\r\n").encode(ENCODING, errors="replace"), sheet_rows)


def _mue(rows: list[tuple[int, list[str]]], header_row: int) -> TextForm:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    before = [cells for n, cells in rows if n < header_row]
    notice = before[0][0] if before and before[0] else "CPT codes, descriptions and other data only are copyright AMA."
    writer.writerow([notice, "", "", ""])
    writer.writerow(next(cells for n, cells in rows if n == header_row))
    sheet_rows: dict[int, int] = {}
    for number, cells in rows:
        if number <= header_row:
            continue
        line = buffer.getvalue().count("\n") + 1
        writer.writerow(cells)
        sheet_rows[line] = number
    return TextForm(buffer.getvalue().encode(ENCODING, errors="replace"), sheet_rows)


def _hcpcs(rows: list[tuple[int, list[str]]], header_row: int, words: list[str]) -> TextForm:
    at = {word.upper(): index for index, word in enumerate(words)}
    records: list[str] = []
    sheet_rows: dict[int, int] = {}

    def cell(cells: list[str], column: str) -> str:
        index = at.get(column)
        return cells[index] if index is not None and index < len(cells) else ""

    for number, cells in rows:
        if number <= header_row:
            continue
        recid = cell(cells, "RECID").strip()
        code = cell(cells, "HCPC")
        code = f"   {code.strip()}" if recid in ("7", "8") and len(code.strip()) == 2 else code.strip()
        sequence = cell(cells, "SEQNUM").strip()
        sequence = sequence.zfill(5) if sequence.isdigit() else sequence
        description = _one_line(cell(cells, "LONG DESCRIPTION"))
        chunks = [description[i : i + 80] for i in range(0, max(len(description), 1), 80)]
        for part, chunk in enumerate(chunks):
            record = [" "] * RECORD_LENGTH
            _put(record, 1, code[:5].ljust(5))
            kind = recid if part == 0 else {"3": "4", "7": "8"}.get(recid, recid)
            seq = sequence if part == 0 or not sequence.isdigit() else f"{int(sequence) + part:05d}"
            _put(record, 6, seq[:5].ljust(5))
            _put(record, 11, kind[:1].ljust(1))
            _put(record, 12, chunk)
            if part == 0:
                for column, (start, width) in HCPCS_COLUMNS.items():
                    value = _one_line(cell(cells, column)).strip()
                    if column in HCPCS_DATES and not value:
                        value = "00000000"
                    _put(record, start, value[:width].ljust(width))
            records.append("".join(record))
            sheet_rows[len(records)] = number
    return TextForm(("\r\n".join(records) + "\r\n").encode(ENCODING, errors="replace"), sheet_rows)


def _put(record: list[str], start: int, value: str) -> None:
    record[start - 1 : start - 1 + len(value)] = list(value)
