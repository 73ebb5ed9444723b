"""Every file of the medicare policy folder as a *sheet*: numbered records of text cells, whatever its form.

A folder entry is a plain ``.csv`` / ``.txt`` / ``.xlsx`` file or a ``.zip`` (CMS ships them) whose members are
read one by one. Text is UTF-8 when it decodes as such, latin-1 otherwise (CMS files are ASCII with stray latin-1
bytes). A ``.txt`` file is fixed width when its first line starts with ``HDR`` (PPRRVU), tab-delimited when its
first lines hold tabs, otherwise comma-delimited. In an ``.xlsx`` sheet numbers are stored as numbers: they
become the text CMS prints (``32.3465``, ``1``), so the three forms of one release give identical rows.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

READ_SUFFIXES = (".csv", ".txt", ".xlsx")
ACCEPTED_SUFFIXES = (*READ_SUFFIXES, ".zip")
# A sheet's first records, enough to see any preamble CMS writes before its header.
PREVIEW_RECORDS = 20
CTRL_Z = "\x1a"


class SheetContentError(ValueError):
    """The bytes of a file are not a readable csv, text or xlsx file (a content problem of that one file)."""


@dataclass
class Sheet:
    """One readable table: ``name`` is the folder entry, ``member`` the zip member (None for a plain file)."""

    name: str
    member: str | None
    form: str  # csv, txt (fixed width), xlsx
    encoding: str | None
    records: list[tuple[int, list[str]]] = field(default_factory=list)  # (line number, cells)

    @property
    def label(self) -> str:
        return f"{self.name}!{self.member}" if self.member else self.name

    @property
    def inner_name(self) -> str:
        return self.member or self.name

    def first_line(self) -> str:
        """The first record that is not blank, as it reads, for a 'skipped' reason."""
        for _, cells in self.records[:PREVIEW_RECORDS]:
            text = ",".join(cells).strip(", \t")
            if text:
                return text[:160]
        return "(no text)"


def sheets_of(path: Path, data: bytes) -> tuple[list[Sheet], list[str]]:
    """The sheets of one folder entry, and notes on members not read (a GPCI file, the layout PDF …)."""
    if path.suffix.lower() != ".zip":
        return [sheet_of(path.name, None, path.suffix.lower(), data)], []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SheetContentError(f"not a readable zip file: {exc}") from exc
    sheets, notes = [], []
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            inner = Path(info.filename)
            if info.is_dir() or inner.name.startswith(("._", ".")) or "__MACOSX" in inner.parts:
                continue
            suffix = inner.suffix.lower()
            if suffix not in READ_SUFFIXES:
                notes.append(f"{info.filename}: not read ({suffix or 'no extension'})")
                continue
            sheets.append(sheet_of(path.name, info.filename, suffix, archive.read(info)))
    return sheets, notes


def sheet_of(name: str, member: str | None, suffix: str, data: bytes) -> Sheet:
    if suffix == ".xlsx":
        return _xlsx_sheet(name, member, data)
    text, encoding = decode(data)
    if suffix == ".txt" and text.startswith("HDR"):
        records = _fixed_width_records(text)
        refuse_cut_off(text, len(records[-2][1][0]) if len(records) > 1 else 0, records, lambda cells: len(cells[0]))
        return Sheet(name, member, "txt", encoding, records)
    delimiter = "\t" if "\t" in text[:4096] and text[:4096].count("\t") > text[:4096].count(",") else ","
    records = delimited_records(text, delimiter)
    refuse_cut_off(text, len(records[-2][1]) if len(records) > 1 else 0, records, len)
    return Sheet(name, member, "csv", encoding, records)


def refuse_cut_off(text: str, previous_width: int, records: list[tuple[int, list[str]]], width) -> None:
    """A download cut mid-line has no final line break and a last record narrower than the one before it (the
    rule the utilization files follow, utilization/completeness.py): reject the file rather than load it short.
    A trailing Ctrl-Z (older CMS files) counts as an end. ``text`` may be the file's tail only (the coding-edit
    files, coding_edit_files.py); ``records`` need only hold its last two records."""
    if not records or text.rstrip(CTRL_Z).endswith(("\n", "\r")):
        return
    line, cells = records[-1]
    if width(cells) < previous_width:
        raise SheetContentError(
            f"cut off: last line incomplete (download interrupted?): line {line} ends without a line break, "
            f"shorter than the line before it"
        )


def decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def delimited_records(text: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """Records with the physical line each starts on; a trailing Ctrl-Z line (older CMS files) is not a record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    records, next_line = [], 1
    try:
        for cells in reader:
            start, next_line = next_line, reader.line_num + 1
            if not cells or (cells[0].startswith(CTRL_Z) and not "".join(cells).strip(CTRL_Z + " ")):
                continue
            records.append((start, cells))
    except csv.Error as exc:
        raise SheetContentError(f"unreadable CSV at line {reader.line_num}: {exc}") from exc
    return records


def _fixed_width_records(text: str) -> list[tuple[int, list[str]]]:
    """One cell per line: the layout slices it (pfs_rvu.py)."""
    return [
        (number, [line])
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith(CTRL_Z)
    ]


def _xlsx_sheet(name: str, member: str | None, data: bytes) -> Sheet:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types for a damaged workbook
        raise SheetContentError(f"not a readable xlsx workbook: {type(exc).__name__}: {exc}") from exc
    records = [(number, [cell_text(value) for value in row]) for number, row in enumerate(rows, start=1)]
    return Sheet(name, member, "xlsx", None, [(n, cells) for n, cells in records if any(c.strip() for c in cells)])


def cell_text(value) -> str:
    """A spreadsheet cell as CMS prints it in the csv: whole numbers without '.0', others at their shortest."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
