"""The coding-edit files of the medicare policy folder (NCCI PTP, NCCI MUE, HCPCS Level II), read on their own
fast path: the folder reader (``folder.py``) offers each changed entry here before it parses the entry into
sheets, because a practitioner PTP release is 2.6 million lines that DuckDB reads far faster than Python.

An entry is a plain ``.txt``/``.csv`` file or a CMS zip. Each text member is recognized by its content
(``ncci.recognize_*``, ``hcpcs_level2.recognize_hcpcs``). An ``.xlsx`` form is rewritten in its text form
(``coding_edit_sheets.py``) and read by the same reader; when the text form of the same file (same name, .txt or
.csv) is beside it (in the folder or the zip), the xlsx is not read: noted in a zip, skipped naming it in the
folder (the two forms of one release are the same facts; the text form is read as it is faster). A file whose rows another entry already holds (the same MUE setting and date,
the same HCPCS release, or PTP edits already loaded from another file) is not loaded a second time: with
identical rows it is skipped naming the holder, otherwise it is a conflict and the earlier file stays.
Each member loads in one transaction with its quarantined lines (medicare.quarantine); a file that changes
while it is read rolls back and is skipped for this run. The plain PTP files of one release (CMS's f1-f4) load
together, in one read and one transaction (``load_ptp_release_together``), when none has anything to say; each
member's outcome is the one it would have alone. A PTP, MUE or HCPCS file cut mid-line is rejected as a whole.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.contracts.coding_edit_tables import (
    HCPCS_LEVEL2_CONTRACT,
    NCCI_MUE_CONTRACT,
    NCCI_PTP_CONTRACT,
)
from pipeline.contracts.table_contract import sql_literal
from pipeline.medicare_policy.coding_edit_sheets import TextForm, text_form
from pipeline.medicare_policy.hcpcs_level2 import HcpcsFile, load_hcpcs, recognize_hcpcs
from pipeline.medicare_policy.ncci import (
    PTP_NAME,
    PTP_SETTINGS_BY_PREFIX,
    BadLine,
    BrokenRows,
    DuplicateEdits,
    LoadResult,
    NcciFile,
    NcciFileError,
    SupersededRelease,
    load_mue,
    load_ptp,
    load_ptp_release,
    recognize_mue,
    recognize_ptp,
    version_key,
)
from pipeline.medicare_policy.sheets import CTRL_Z, SheetContentError, delimited_records, refuse_cut_off
from pipeline.utilization.completeness import StillBeingWritten
from pipeline.validation.reject_rows import RejectTarget, insert_rejects
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import transaction

CODING_EDIT_TABLES = (NCCI_PTP_CONTRACT.table, NCCI_MUE_CONTRACT.table, HCPCS_LEVEL2_CONTRACT.table)
TEXT_SUFFIXES = (".txt", ".csv")
HEAD_BYTES = 1 << 16
TAIL_BYTES = 1 << 16  # far more than the last two records of any coding-edit file
TABLE_OF_LAYOUT = {
    "ncci_ptp": NCCI_PTP_CONTRACT.table,
    "ncci_mue": NCCI_MUE_CONTRACT.table,
    "hcpcs_level2": HCPCS_LEVEL2_CONTRACT.table,
}
TITLES = {"ncci_ptp": "NCCI PTP edits", "ncci_mue": "NCCI MUEs", "hcpcs_level2": "HCPCS Level II file"}


@dataclass
class MemberLoad:
    """One coding-edit file read from an entry (the entry itself, or a member of its zip)."""

    inner_name: str
    layout: str
    setting: str | None
    release: str
    data_year: int
    form: str
    rows_loaded: int = 0
    rows_quarantined: int = 0
    loaded: bool = False
    skip: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    sheet_rows: dict[int, int] | None = None  # an xlsx read in its text form: text line -> sheet row

    def describe(self) -> str:
        setting = f" {self.setting.replace('_', ' ')}" if self.setting else ""
        return f"{TITLES[self.layout]}{setting} {self.release}"


def recognize(head: bytes, name: str) -> tuple[str, NcciFile | HcpcsFile] | None:
    """The coding-edit layout of a text file, by its content; NcciFileError when it is one but cannot load."""
    for layout, recognizer in (
        ("ncci_ptp", recognize_ptp),
        ("ncci_mue", recognize_mue),
        ("hcpcs_level2", recognize_hcpcs),
    ):
        found = recognizer(head, name)
        if found is not None:
            return layout, found
    return None


def load_coding_edit_entry(con, path: Path, data: bytes, still_same) -> tuple[list[MemberLoad], list[str]] | None:
    """Load the coding-edit files of one entry; None when it holds none (the sheet reader then reads it).

    ``still_same()`` raises when the entry changed since ``data`` was read (checked before each commit)."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        found = _recognized(data[:HEAD_BYTES], path.name)
        if found is None:
            return None
        member = _member(path.name, suffix, *found)
        if member.error is None:
            load_member_safely(con, path, path, member, found[1], still_same)
        return [member], []
    if suffix == ".xlsx":
        return _load_plain_xlsx(con, path, data, still_same)
    if suffix != ".zip":
        return None
    return _load_zip(con, path, data, still_same)


def _text_sibling(names: list[str], name: str) -> str | None:
    """The txt/csv form of the same file (same name but its extension), which is read instead of the xlsx."""
    stem = Path(name).stem.casefold()
    return next(
        (n for n in sorted(names) if Path(n).stem.casefold() == stem and Path(n).suffix.lower() in TEXT_SUFFIXES),
        None,
    )


def _load_plain_xlsx(con, path: Path, data: bytes, still_same) -> tuple[list[MemberLoad], list[str]] | None:
    try:
        form = text_form(path.name, data)
    except SheetContentError:
        return None  # the sheet reader names the damage
    if form is None:
        return None
    found = _recognized(form.data[:HEAD_BYTES], path.name)
    if found is None:
        return None
    member = _member(path.name, ".xlsx", *found)
    sibling = _text_sibling([p.name for p in path.parent.iterdir()], path.name)
    if member.error is None and sibling is not None:
        member.skip = f"{path.name}: the same file in text form ({sibling}) is read instead: not loaded twice"
        return [member], []
    if member.error is None:
        member.sheet_rows = form.sheet_rows
        with tempfile.TemporaryDirectory(prefix="coding_edits_") as scratch:
            text = Path(scratch) / (path.stem + ".txt")
            text.write_bytes(form.data)
            load_member_safely(con, path, text, member, found[1], still_same)
    return [member], []


def _recognized(head: bytes, name: str):
    try:
        return recognize(head, name)
    except NcciFileError as exc:
        return ("error", str(exc))


def recognized_member(head: bytes, name: str) -> tuple[MemberLoad | None, object]:
    """A plain text file's member by its first bytes, and what recognizing it found; (None, None) for a file of
    no coding-edit layout."""
    found = _recognized(head, name)
    if found is None:
        return None, None
    return _member(name, Path(name).suffix.lower(), *found), found[1]


def _member(inner_name: str, suffix: str, layout: str, found) -> MemberLoad:
    if layout == "error":
        return MemberLoad(inner_name, "ncci_ptp", None, "", 0, suffix.lstrip("."), error=f"{inner_name}: {found}")
    if isinstance(found, HcpcsFile):
        form = "xlsx" if suffix == ".xlsx" else "txt"
        return MemberLoad(inner_name, layout, None, found.release, int(found.release[:4]), form)
    year = int(found.release[:4]) if layout == "ncci_mue" else 1994 + int(found.release[1:3])  # v322 -> 2026
    return MemberLoad(inner_name, layout, found.setting, found.release, year, suffix.lstrip("."))


def _load_zip(con, path: Path, data: bytes, still_same) -> tuple[list[MemberLoad], list[str]] | None:
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None  # the sheet reader names the damage
    members: list[tuple[zipfile.ZipInfo, MemberLoad, object, TextForm | None]] = []
    others: list[str] = []
    with archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            inner = Path(info.filename)
            if info.is_dir() or inner.name.startswith(("._", ".")) or "__MACOSX" in inner.parts:
                continue
            suffix = inner.suffix.lower()
            form = None
            if suffix == ".xlsx" and _text_sibling(names, info.filename) is None:
                try:
                    form = text_form(inner.name, archive.read(info))
                except SheetContentError:
                    form = None
                head = form.data[:HEAD_BYTES] if form is not None else None
            elif suffix in TEXT_SUFFIXES:
                with archive.open(info) as handle:
                    head = handle.read(HEAD_BYTES)
            else:
                head = None
            found = _recognized(head, inner.name) if head is not None else None
            if found is None:
                others.append(info.filename)
                continue
            member = _member(info.filename, suffix, *found)
            if form is not None:
                member.sheet_rows = form.sheet_rows
            members.append((info, member, found[1], form))
        if not members:
            return None
        notes = []
        for name in others:
            sibling = _text_sibling(names, name) if name.lower().endswith(".xlsx") else None
            why = f"the same edits in xlsx form), {sibling} is read" if sibling else "not a coding-edit file)"
            notes.append(f"{name}: not read ({why}")
        with tempfile.TemporaryDirectory(prefix="coding_edits_") as scratch:
            for info, member, found, form in members:
                if member.error is not None:
                    continue
                extracted = Path(scratch) / Path(info.filename).name
                if form is not None:
                    extracted = extracted.with_suffix(".txt")
                    extracted.write_bytes(form.data)
                else:
                    with archive.open(info) as source, extracted.open("wb") as target:
                        shutil.copyfileobj(source, target, 1 << 20)
                load_member_safely(con, path, extracted, member, found, still_same)
                extracted.unlink()
    return [m for _, m, _, _ in members], notes


def _holder(con, member: MemberLoad, file_name: str) -> tuple[list[str], str] | None:
    """Other entries that already hold this member's rows, and what they hold."""
    if member.layout == "ncci_mue":
        rows = con.execute(
            f"SELECT DISTINCT source_file FROM {NCCI_MUE_CONTRACT.table} WHERE setting = ? AND effective_date = ? "
            "AND source_file <> ?",
            [member.setting, member.release, file_name],
        ).fetchall()
    elif member.layout == "hcpcs_level2":
        rows = con.execute(
            f"SELECT DISTINCT source_file FROM {HCPCS_LEVEL2_CONTRACT.table} WHERE release = ? AND source_file <> ?",
            [member.release, file_name],
        ).fetchall()
    else:
        return None  # PTP: decided after the read, by the edits themselves
    return ([r[0] for r in rows], member.describe()) if rows else None


def _load(con, file_name: str, path: Path, member: MemberLoad, found, still_same) -> None:
    held = _holder(con, member, file_name)
    if held is not None:
        holders, what = held
        member.skip = f"{member.inner_name}: {what} is already loaded from {', '.join(holders)}, which keeps it"
        return
    try:
        result = _load_in_transaction(con, file_name, path, member, found, still_same, careful=False)
    except BrokenRows:  # rolled back: the file has a row to quarantine, so it is read the careful way
        result = _load_in_transaction(con, file_name, path, member, found, still_same, careful=True)
    member.loaded = True
    member.rows_loaded = result.rows_loaded
    member.rows_quarantined = len(result.bad_lines)
    member.notes += [f"{member.inner_name}: {note}" for note in result.notes]


def _load_in_transaction(con, file_name: str, path: Path, member: MemberLoad, found, still_same, careful: bool):
    table = TABLE_OF_LAYOUT[member.layout]
    with transaction(con):
        if member.layout == "ncci_ptp":
            result = load_ptp(con, path, file_name, found, careful=careful)
        elif member.layout == "ncci_mue":
            result = load_mue(con, path, file_name, found)
        else:
            result = load_hcpcs(con, path, file_name, found)
        if member.sheet_rows is not None:  # name the sheet row, not the line of the text form
            result.bad_lines = [
                BadLine(member.sheet_rows.get(b.line_number, 0), b.reason, b.text) for b in result.bad_lines
            ]
        _quarantine(con, file_name, member, result)
        still_same()
        record_change(con, table)
        record_change(con, "medicare.quarantine")
    return result


def newer_ptp_release(folder: Path, member: MemberLoad) -> str | None:
    newer = []
    for sibling in folder.iterdir():
        match = PTP_NAME.search(sibling.name)
        same_setting = match is not None and PTP_SETTINGS_BY_PREFIX[match["prefix"].lower()] == member.setting
        if same_setting and version_key(match["version"].lower()) > version_key(member.release):
            newer.append(sibling.name)
    return sorted(newer)[-1] if newer else None


def _quarantine(con, file_name: str, member: MemberLoad, result: LoadResult) -> None:
    table = TABLE_OF_LAYOUT[member.layout]
    con.execute("DELETE FROM medicare.quarantine WHERE source_file = ? AND table_name = ?", [file_name, table])
    if not result.bad_lines:
        return
    prefix = "" if member.inner_name == file_name else f"{member.inner_name}: "
    target = RejectTarget(
        "medicare.quarantine",
        {
            "table_name": sql_literal(table),
            "source_file": sql_literal(file_name),
            "layout": sql_literal(member.layout),
            "release": sql_literal(member.release),
            "data_year": sql_literal(member.data_year),
        },
    )
    # Three parallel lists, unnested side by side: one statement whatever the number of bad lines.
    insert_rejects(
        con,
        target,
        "(SELECT unnest(?::BIGINT[]) AS line_number, unnest(?::VARCHAR[]) AS reasons, unnest(?::VARCHAR[]) AS row_data)",
        {"line_number": "nullif(line_number, 0)", "reasons": "reasons", "row_data": "row_data"},
        [
            [bad.line_number for bad in result.bad_lines],
            [prefix + bad.reason for bad in result.bad_lines],
            [bad.text for bad in result.bad_lines],
        ],
    )


def load_member_safely(con, entry: Path, path: Path, member: MemberLoad, found, still_same) -> None:
    """``_load`` with a duplicate PTP file turned into a rejection (its rows rolled back), and an older PTP release
    skipped when the folder holds a newer one of its setting (each release carries the whole edit history)."""
    if member.layout == "ncci_ptp":
        newer = newer_ptp_release(entry.parent, member)
        if newer:
            member.skip = f"{member.inner_name}: NCCI {member.release} is superseded by {newer} in the folder"
            return
    try:
        if member.sheet_rows is None:  # an xlsx's text form is written whole by us
            _refuse_cut_off(path, member.layout)
        _load(con, entry.name, path, member, found, still_same)
    except SheetContentError as exc:
        member.error = f"{member.inner_name}: {exc}"
    except DuplicateEdits as exc:
        member.error = f"conflict: {member.inner_name} {exc}; remove the duplicate file"
    except SupersededRelease as exc:
        member.skip = f"{member.inner_name}: {exc}"
    except NcciFileError as exc:
        member.error = f"{member.inner_name}: {exc}"


class NotTogether(Exception):
    """Raised by the caller's check before the commit: these files are not loaded as one release."""


def load_ptp_release_together(con, files: list[tuple[Path, MemberLoad, NcciFile]], before_commit) -> bool:
    """Load plain PTP files of one release in one read and one transaction (ncci.load_ptp_release): True when they
    all loaded, with each member's outcome as if it had loaded alone. False, with nothing changed, when any is
    not the plain case (a broken row, a repeated key, an older release, a file changing; a file cut mid-line
    stops the read, its last line short of fields): the caller then loads them one by one, which says which file
    and line is at fault. ``before_commit(path)`` raises StillBeingWritten when a file changed while it was read,
    NotTogether when it should not load with the others."""
    try:
        with transaction(con):
            results = load_ptp_release(con, [path for path, _, _ in files], files[0][2])
            for path, member, _ in files:
                _quarantine(con, path.name, member, results[path.name])  # the file's earlier quarantine lines go
            for path, _, _ in files:
                before_commit(path)
            record_change(con, NCCI_PTP_CONTRACT.table)
            record_change(con, "medicare.quarantine")
    except (BrokenRows, StillBeingWritten, NotTogether):
        return False
    for path, member, _ in files:
        result = results[path.name]
        member.loaded, member.rows_loaded = True, result.rows_loaded
        member.notes += [f"{member.inner_name}: {note}" for note in result.notes]
    return True


# Layouts whose files CMS writes with a line break after every line, the last one included.
ENDS_EVERY_LINE = ("ncci_ptp", "ncci_mue")


def _refuse_cut_off(path: Path, layout: str) -> None:
    """The rule of the other csv and fixed-width files (sheets.refuse_cut_off), read from the file's tail: a file
    cut mid-line is rejected as a whole (SheetContentError), never loaded with its cut line quarantined."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read().decode("latin-1")
    if tail.rstrip(CTRL_Z).endswith(("\n", "\r")):
        return  # the usual complete file: its lines are never counted
    with path.open("rb") as handle:
        last_line = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) + 1
    if layout in ENDS_EVERY_LINE:
        # A cut inside the last field (a PTP or MUE rationale) leaves every field there, only shorter: the width
        # rule cannot see it, and the row would load with its text cut. CMS ends every line of these files.
        raise SheetContentError(
            f"cut off: line {last_line} ends without a line break (download interrupted?); CMS ends every line of "
            "its NCCI files with one, so the file is not loaded: download it again"
        )
    lines = tail.rstrip(CTRL_Z).splitlines()[-2:]
    numbers = range(last_line - len(lines) + 1, last_line + 1)
    if layout == "hcpcs_level2":  # fixed width: a record is as wide as it is long
        records, width = [(n, [line]) for n, line in zip(numbers, lines, strict=True)], lambda cells: len(cells[0])
    elif layout == "ncci_ptp":  # tab-delimited, never quoted
        records, width = [(n, line.split("\t")) for n, line in zip(numbers, lines, strict=True)], len
    else:
        cells = [next(iter(delimited_records(line)), (0, []))[1] for line in lines]
        records, width = list(zip(numbers, cells, strict=True)), len
    refuse_cut_off(tail, width(records[-2][1]) if len(records) > 1 else 0, records, width)
