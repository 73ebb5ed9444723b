"""NCCI edit files as CMS publishes them: procedure-to-procedure (PTP) TXT and medically unlikely edit (MUE) CSV.

Both are read by DuckDB's ``read_csv`` with every setting explicit (no sniffing), so a 2.6-million-row
practitioner PTP release loads at close to the speed of a bare read (benchmarks/ncci_ptp_load.py):

- PTP (``ccipra-v322r0-f1.txt``, ``ccioph-…``): tab-delimited latin-1, no quoting; a copyright line, a
  ``Column1/Column2 Edits`` line and a header wrapped over 4 lines, then 7 fields per edit. ``*`` is read as
  NULL (no deletion date; and, in the third field, "in existence before 1996"). Dates are typed while
  reading and the modifier indicator is read as an ENUM of 0/1/9, so a bad date, a bad indicator or a wrong
  number of fields is refused by the reader itself with its line number. The setting (practitioner or
  hospital outpatient) and the NCCI version are only in the file name (``ccipra``/``ccioph``, ``v322r0``).
- MUE (``MCR_MUE_PractitionerServices_Eff_07-01-2026.csv``): a quoted multi-line AMA notice record, then a
  header whose first cell holds a line break; the setting is in the header, the effective date only in
  the name (``_Eff_MM-DD-YYYY``). The adjudication indicator cell is a digit and its label.

Rules DuckDB's reader cannot apply (a code's format, the ``*`` flag, a deletion before the effective date, a
key repeated in one file) cost the usual file almost nothing: it is read once, straight into the table, with no
rejects table (``load_ptp``; the plain files of one release in one read, ``load_ptp_release``). The read itself
stops on a line the reader refuses, a missing code, date or indicator (the table's NOT NULL constraints) or a bad
``*`` flag; the code format, the dates' order and the rationale's edge blanks are checked on the stored rows,
where DuckDB tests each distinct value of a dictionary-compressed column once; a repeated key is found by sorting
the keys' hashes (numpy). Any of these rolls the load back, and only then is the file read again carefully: its
good rows loaded and the broken lines named. Quarantined lines are returned as ``BadLine``s with their line number
(the file's first line is 1), the reason and the text.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from pipeline.contracts.coding_edit_tables import NCCI_MUE_CONTRACT, NCCI_PTP_CONTRACT
from pipeline.contracts.table_contract import sql_literal

PTP_TABLE = NCCI_PTP_CONTRACT.table
MUE_TABLE = NCCI_MUE_CONTRACT.table
PTP_TITLE = "Column1/Column2 Edits"
PTP_PREAMBLE_LINES = 6  # copyright, title, the header wrapped over 4 lines
PTP_FIELDS = 7
PTP_NAME = re.compile(r"(?P<prefix>ccipra|ccioph)[-_]?(?P<version>v[0-9]{3}r[0-9]+)", re.IGNORECASE)
PTP_SETTINGS_BY_PREFIX = {"ccipra": "practitioner", "ccioph": "hospital_outpatient"}
MUE_NAME_DATE = re.compile(r"_Eff_(?P<m>[0-9]{2})-(?P<d>[0-9]{2})-(?P<y>[0-9]{4})", re.IGNORECASE)
# The second header cell names the setting: "Practitioner Services MUE Values".
MUE_SETTINGS_BY_HEADER = {
    "practitioner services mue values": "practitioner",
    "outpatient hospital services mue values": "hospital_outpatient",
    "dme supplier services mue values": "dme",
}
MUE_INDICATOR_CELL = r"^([123]) +(\S.*)$"
EDIT_CODE_SQL = "'^[0-9A-Z]{5}$'"
# The same format as a GLOB: about ten times cheaper than a regular expression in DuckDB (docs/benchmarks.md).
EDIT_CODE_GLOB = "'" + "[0-9A-Z]" * 5 + "'"
ENCODING = "latin-1"
_TEXT_LIMIT = 4000
BROKEN_ROW = "ncci: a row breaks a rule: "

# The settings of the bare read and of the project's read of a PTP file: the benchmark uses this very text.
PTP_READ_OPTIONS = (
    "header = false, auto_detect = false, delim = '\t', quote = '', escape = '', "
    f"skip = {PTP_PREAMBLE_LINES}, encoding = 'latin-1', nullstr = '*', dateformat = '%Y%m%d', "
    "columns = {'column_1_code': 'VARCHAR', 'column_2_code': 'VARCHAR', 'pre_1996': 'VARCHAR', "
    "'effective_date': 'DATE', 'deletion_date': 'DATE', 'modifier_indicator': 'ENUM(''0'', ''1'', ''9'')', "
    "'rationale': 'VARCHAR'}"
)


class NcciFileError(ValueError):
    """The file is an NCCI file but cannot be loaded as a whole (its name does not say the setting, version or
    date): the folder reader records it as rejected with this reason."""


class SupersededRelease(NcciFileError):
    """A PTP release older than the one loaded for its setting: not loaded (skipped, not an error)."""


@dataclass(frozen=True)
class BadLine:
    line_number: int
    reason: str
    text: str


@dataclass
class NcciFile:
    """What recognizing a file found: its layout and the facts its name or header give."""

    layout: str  # ncci_ptp or ncci_mue
    setting: str
    release: str  # ncci_version (v322r0) for PTP, the effective date (2026-07-01) for MUE
    data_lines_start: int  # physical lines before the first data line
    records_before: int = 0  # CSV records before the first data record (MUE: the notice and the header)
    new_line: str = "\n"
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    rows_loaded: int
    bad_lines: list[BadLine]
    notes: list[str] = field(default_factory=list)


# --- recognition: by content; the name only supplies what the content does not say ----------------------


def _first_lines(head: bytes, count: int) -> list[str]:
    return head.decode(ENCODING).splitlines()[:count]


def recognize_ptp(head: bytes, name: str) -> NcciFile | None:
    """A PTP file by its title line and the first line of its wrapped header; None for any other file."""
    lines = _first_lines(head, PTP_PREAMBLE_LINES)
    if len(lines) < 3:
        return None
    title = lines[1].split("\t")[0].strip()
    header = [cell.strip().casefold() for cell in lines[2].split("\t")]
    if title != PTP_TITLE or header[:2] != ["column 1", "column 2"]:
        return None
    match = PTP_NAME.search(name)
    if match is None:
        raise NcciFileError(
            f"an NCCI PTP file ({PTP_TITLE!r}) whose name does not say its setting and version "
            "(ccipra-v322r0-f1.txt: ccipra practitioner, ccioph hospital outpatient): keep CMS's file name"
        )
    setting = PTP_SETTINGS_BY_PREFIX[match["prefix"].lower()]
    return NcciFile("ncci_ptp", setting, match["version"].lower(), PTP_PREAMBLE_LINES)


def recognize_mue(head: bytes, name: str) -> NcciFile | None:
    """An MUE file by its header record (after the notice record); None for any other file."""
    records, lines_before = _leading_records(head.decode(ENCODING), 2)
    header = next((r for r in records if r and _words(r[0]) == "hcpcs/ cpt code"), None)
    if header is None or len(header) < 4:
        return None
    setting = MUE_SETTINGS_BY_HEADER.get(_words(header[1]))
    if setting is None:
        raise NcciFileError(f"an NCCI MUE file whose header names no known setting: {header[1]!r}")
    match = MUE_NAME_DATE.search(name)
    if match is None:
        raise NcciFileError(
            "an NCCI MUE file whose name lacks its effective date (_Eff_MM-DD-YYYY, as CMS names it; the file "
            "itself does not state it)"
        )
    try:
        effective = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError as exc:
        raise NcciFileError(f"an NCCI MUE file whose name has an impossible date: {match.group(0)}") from exc
    index = records.index(header)
    new_line = "\r\n" if b"\r\n" in head else "\n"
    return NcciFile("ncci_mue", setting, effective.isoformat(), lines_before[index], index + 1, new_line)


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _leading_records(text: str, count: int) -> tuple[list[list[str]], list[int]]:
    """The first CSV records (quoted line breaks honoured) and, after each, how many physical lines it ended on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records, ends = [], []
    try:
        for record in reader:
            records.append(record)
            ends.append(reader.line_num)
            if len(records) == count:
                break
    except csv.Error:
        pass
    return records, ends


# --- loading ----------------------------------------------------------------------------------------------


def _drop_rejects(con) -> None:
    con.execute("DROP TABLE IF EXISTS temp.ncci_rejects")
    con.execute("DROP TABLE IF EXISTS temp.ncci_reject_scans")


def _reader_rejects(con, line_offset: int = 0) -> dict[int, str]:
    """Lines DuckDB's reader refused, each with every reason it gave. DuckDB numbers CSV records, not physical
    lines: ``line_offset`` is how many more physical lines than records come before the data (the MUE notice
    and header hold line breaks inside quotes; data records never do)."""
    rows = con.execute(
        "SELECT line, string_agg(DISTINCT coalesce(column_name || ': ', '') || error_type || ' (' || "
        "error_message || ')', '; ' ORDER BY coalesce(column_name || ': ', '') || error_type || ' (' || "
        "error_message || ')') FROM temp.ncci_rejects GROUP BY line"
    ).fetchall()
    return {int(line) + line_offset: reason for line, reason in rows}


def _lines_of(path: Path, numbers: set[int]) -> dict[int, str]:
    found = {}
    with path.open("r", encoding=ENCODING, newline="") as text:
        for number, line in enumerate(text, start=1):
            if number in numbers:
                found[number] = line.rstrip("\r\n")[:_TEXT_LIMIT]
    return found


def load_ptp(con, path: Path, file_name: str, recognized: NcciFile, careful: bool = False) -> LoadResult:
    """Load one PTP file into medicare.ncci_ptp (its earlier rows replaced); the lines it refuses are returned.

    A release carries the whole edit history, so only the newest version of a setting is kept: loading a
    newer version removes the rows of older ones (noted), and an older version is refused (NcciFileError).

    Unless ``careful``, the file is read once with no rejects table, and any broken line (refused by the reader,
    or breaking a rule DuckDB's reader cannot apply) raises BrokenRows with the transaction unusable: roll it
    back and load again with ``careful=True``, which loads the other rows and names the broken ones (two reads of
    the file with a rejects table, paid only by a file that has such a line)."""
    setting, version = recognized.setting, recognized.release
    newest = con.execute(
        f"SELECT max(ncci_version) FROM {PTP_TABLE} WHERE setting = ? AND source_file <> ?", [setting, file_name]
    ).fetchone()[0]
    if newest is not None and version_key(newest) > version_key(version):
        raise SupersededRelease(f"NCCI {version} is older than the {setting} release already loaded ({newest})")
    notes = []
    if newest is not None and version_key(newest) < version_key(version):
        removed = con.execute(
            f"DELETE FROM {PTP_TABLE} WHERE setting = ? AND ncci_version <> ?", [setting, version]
        ).fetchone()[0]
        notes.append(f"replaced {removed} edits of the older {setting} release {newest}")
    con.execute(f"DELETE FROM {PTP_TABLE} WHERE source_file = ?", [file_name])
    _drop_rejects(con)
    broken = []
    if not careful:
        inserted = _insert_ptp_fast(con, path, file_name, setting, version)
    else:
        problem = _ptp_problem_sql()
        read = (
            f"read_csv({sql_literal(str(path))}, {PTP_READ_OPTIONS}, store_rejects = true, "
            "rejects_table = 'ncci_rejects', rejects_scan = 'ncci_reject_scans')"
        )
        columns = (
            f"{sql_literal(setting)} AS setting, column_1_code, column_2_code, effective_date, deletion_date, "
            "CAST(modifier_indicator AS VARCHAR) AS modifier_indicator, "
            f"pre_1996 IS NULL AS in_existence_before_1996, {TRIMMED_RATIONALE} AS rationale, "
            f"{sql_literal(version)} AS ncci_version, {sql_literal(file_name)} AS source_file"
        )
        inserted = con.execute(
            f"INSERT INTO {PTP_TABLE} BY NAME SELECT {columns} FROM {read} WHERE {problem} IS NULL"
        ).fetchone()[0]
        broken = con.execute(
            f"SELECT column_1_code, column_2_code, effective_date, deletion_date, {problem} "
            f"FROM read_csv({sql_literal(str(path))}, {PTP_READ_OPTIONS}, ignore_errors = true) "
            f"WHERE {problem} IS NOT NULL"
        ).fetchall()
    refused = _reader_rejects(con) if careful else {}
    _drop_rejects(con)
    repeated, held_elsewhere = _repeated_keys(con, file_name, setting)
    if held_elsewhere:
        raise DuplicateEdits(held_elsewhere)
    if repeated:
        # A key repeated in one file is two contradicting statements of one edit: neither is loaded.
        con.execute("CREATE OR REPLACE TEMP TABLE ncci_ptp_repeated AS SELECT * FROM (VALUES " + ", ".join(
            "(" + ", ".join(sql_literal(v) if not isinstance(v, date) else f"DATE '{v}'" for v in key) + ")"
            for key in repeated) + ") AS r(c1, c2, eff, del)")  # fmt: skip
        inserted -= con.execute(
            f"DELETE FROM {PTP_TABLE} AS t USING ncci_ptp_repeated AS r WHERE t.source_file = ? AND "
            "t.column_1_code = r.c1 AND t.column_2_code = r.c2 AND t.effective_date = r.eff AND "
            "t.deletion_date IS NOT DISTINCT FROM r.del",
            [file_name],
        ).fetchone()[0]
        con.execute("DROP TABLE ncci_ptp_repeated")
    bad = _locate_ptp_lines(path, refused, broken, repeated)
    return LoadResult(inserted, bad, notes)


TRIMMED_RATIONALE = "nullif(trim(rationale), '')"
PTP_KEY = "column_1_code, column_2_code, effective_date, deletion_date"
# The rules of _ptp_problem_sql as one test of a row already in the table (the fast path checks them there).
_STORED_ROW_BREAKS_A_RULE = (
    f"NOT (column_1_code GLOB {EDIT_CODE_GLOB} AND column_2_code GLOB {EDIT_CODE_GLOB}) "
    "OR deletion_date < effective_date"
)
_UNTRIMMED_RATIONALE = "rationale = '' OR rationale <> trim(rationale)"
# Breaking any of these stops the fast path's read with an error: DuckDB's reader refuses a bad line, the table's
# NOT NULL constraints refuse a missing code, date or indicator, error() a bad pre-1996 flag.
_FAST_PATH_REFUSALS = (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.ConstraintException)


def _insert_ptp_fast(con, path: Path, file_name: str, setting: str, version: str) -> int:
    """The usual file: one read straight into the table, and one cheap look at the rows it wrote (BrokenRows, the
    transaction unusable, on the first sign of a bad line)."""
    inserted = _insert_ptp_rows(
        con, f"read_csv({sql_literal(str(path))}, {PTP_READ_OPTIONS})", setting, version, sql_literal(file_name)
    )
    broken, untrimmed = con.execute(
        f"SELECT count(*) FILTER (WHERE {_STORED_ROW_BREAKS_A_RULE}), count(*) FILTER (WHERE {_UNTRIMMED_RATIONALE}) "
        f"FROM {PTP_TABLE} WHERE source_file = ?",
        [file_name],
    ).fetchone()
    if broken:
        raise BrokenRows(file_name)
    if untrimmed:
        _trim_rationale(con, f"source_file = {sql_literal(file_name)}")
    return inserted


def _insert_ptp_rows(con, read: str, setting: str, version: str, source_file: str) -> int:
    """Insert what ``read`` reads, raising BrokenRows when the read stops on a bad line.

    Costly per-row work is kept out of the read: no rejects table, and the code format, the dates' order and the
    rationale's blanks are checked afterwards on the stored rows, where DuckDB evaluates a test once per distinct
    value of a dictionary-compressed column (a fraction of the cost of testing every row as it is read:
    docs/benchmarks.md). What the read itself stops on: a line DuckDB's reader refuses, a missing code, date or
    indicator (the table's NOT NULL constraints), a bad pre-1996 flag (error())."""
    pre_1996 = (
        "CASE WHEN pre_1996 IS NULL THEN true WHEN pre_1996 = '' THEN false "
        f"ELSE error({sql_literal(BROKEN_ROW)} || 'the in-existence-before-1996 field') END"
    )
    columns = (
        f"{sql_literal(setting)} AS setting, column_1_code, column_2_code, effective_date, deletion_date, "
        f"CAST(modifier_indicator AS VARCHAR) AS modifier_indicator, {pre_1996} AS in_existence_before_1996, "
        f"rationale, {sql_literal(version)} AS ncci_version, {source_file} AS source_file"
    )
    try:
        return con.execute(f"INSERT INTO {PTP_TABLE} BY NAME SELECT {columns} FROM {read}").fetchone()[0]
    except _FAST_PATH_REFUSALS as exc:
        raise BrokenRows(str(exc)) from exc


def _trim_rationale(con, where: str) -> None:
    con.execute(f"UPDATE {PTP_TABLE} SET rationale = {TRIMMED_RATIONALE} WHERE {where} AND ({_UNTRIMMED_RATIONALE})")


def load_ptp_release(con, paths: list[Path], recognized: NcciFile) -> dict[str, LoadResult]:
    """Load plain PTP files of one release (setting and version; a file's name is its source_file) in ONE read.

    The usual practitioner release is four files of 650,000 edits: one INSERT over the four keeps DuckDB's two
    threads busy to the end, where four would each end on one thread writing its last row groups. Anything but
    the plain case (a broken row, a repeated key, an older release than the one loaded) raises BrokenRows with
    the transaction unusable: roll it back and load the files one by one with ``load_ptp``, which says what is
    wrong and where. Lines are never quarantined here, so each file's result has none."""
    setting, version = recognized.setting, recognized.release
    names = [path.name for path in paths]
    listed = ", ".join(sql_literal(name) for name in names)
    newest = con.execute(
        f"SELECT max(ncci_version) FROM {PTP_TABLE} WHERE setting = ? AND source_file NOT IN ({listed})", [setting]
    ).fetchone()[0]
    if newest is not None and version_key(newest) > version_key(version):
        raise BrokenRows(f"NCCI {version} is older than the {setting} release already loaded ({newest})")
    notes = {name: [] for name in names}
    if newest is not None and version_key(newest) < version_key(version):
        removed = con.execute(
            f"DELETE FROM {PTP_TABLE} WHERE setting = ? AND ncci_version <> ?", [setting, version]
        ).fetchone()[0]
        notes[names[0]].append(f"replaced {removed} edits of the older {setting} release {newest}")
    con.execute(f"DELETE FROM {PTP_TABLE} WHERE source_file IN ({listed})")
    files = "[" + ", ".join(sql_literal(str(path)) for path in paths) + "]"
    _insert_ptp_rows(
        con, f"read_csv({files}, {PTP_READ_OPTIONS}, filename = true)", setting, version, "parse_filename(filename)"
    )
    # One scan of the setting's rows for every check: each row's key hash, which of these files it is from
    # (len(names) for another file of the setting, loaded before) and what it breaks (2 a rule, 1 only the
    # rationale's blanks); the per-value tests run on dictionary vectors, numpy does the rest.
    index = "CASE source_file " + " ".join(f"WHEN {sql_literal(n)} THEN {i}" for i, n in enumerate(names))
    found = con.execute(
        f"SELECT hash({PTP_KEY}) AS h, ({index} ELSE {len(names)} END)::USMALLINT AS file, "
        f"(CASE WHEN {_STORED_ROW_BREAKS_A_RULE} THEN 2 WHEN {_UNTRIMMED_RATIONALE} THEN 1 ELSE 0 END)::UTINYINT "
        f"AS flaw FROM {PTP_TABLE} WHERE setting = ?",
        [setting],
    ).fetchnumpy()
    ours = found["file"] < len(names)
    flaws = found["flaw"][ours]
    if (flaws == 2).any():
        raise BrokenRows("a row breaks a rule")
    if (flaws == 1).any():
        _trim_rationale(con, f"source_file IN ({listed})")
    if _repeats(found["h"]):
        raise BrokenRows("a key is repeated")
    counts = [int(count) for count in np.bincount(found["file"][ours], minlength=len(names))]
    return {name: LoadResult(counts[i], [], notes[name]) for i, name in enumerate(names)}


def _any_repeated_key(con, where: str, params: list) -> bool:
    hashes = con.execute(f"SELECT hash({PTP_KEY}) AS h FROM {PTP_TABLE} WHERE {where}", params).fetchnumpy()["h"]
    return _repeats(hashes)


def _repeats(hashes) -> bool:
    """Whether two keys (both codes, both dates) share a 64-bit hash, by sorting the hashes with numpy: a third of
    the cost of DuckDB's count(DISTINCT), which builds a hash table of 2.6 million keys. Equal hashes of different
    keys (about one chance in 10^13 per release) only send the files the careful way, which compares the keys."""
    hashes.sort()
    return bool((hashes[1:] == hashes[:-1]).any())


class BrokenRows(Exception):
    """A PTP row breaks a rule checked in SQL: the fast single-pass load stopped; load again carefully."""


class DuplicateEdits(NcciFileError):
    """Edits of this file are already loaded from another file of the setting: the file is a duplicate."""

    def __init__(self, holders: dict[str, int]):
        self.holders = holders
        held = ", ".join(f"{name} ({count:,} edits)" for name, count in sorted(holders.items()))
        super().__init__(f"repeats NCCI PTP edits already loaded from {held}, which keep them")


def _repeated_keys(con, file_name: str, setting: str) -> tuple[list[tuple], dict[str, int]]:
    """Keys this file states twice, and the other files holding keys this file also states.

    CMS splits a release into files by column 1 code, so only rows whose column 1 code lies within this file's
    range can repeat its keys: the range lets DuckDB's zone maps skip the other files' row groups. One cheap pass
    over the keys' hashes settles the usual case (no repeat); only when two are equal are the groups listed."""
    keys = PTP_KEY
    lo, hi = con.execute(
        f"SELECT min(column_1_code), max(column_1_code) FROM {PTP_TABLE} WHERE source_file = ?", [file_name]
    ).fetchone()
    if lo is None:
        return [], {}
    span = f"FROM {PTP_TABLE} WHERE setting = ? AND column_1_code BETWEEN ? AND ?"
    if not _any_repeated_key(con, "setting = ? AND column_1_code BETWEEN ? AND ?", [setting, lo, hi]):
        return [], {}
    groups = con.execute(
        f"SELECT {keys}, count(*) FILTER (WHERE source_file = ?) AS here, "
        "list(DISTINCT source_file) FILTER (WHERE source_file <> ?) AS elsewhere "
        f"{span} GROUP BY {keys} HAVING count(*) > 1 AND here > 0",
        [file_name, file_name, setting, lo, hi],
    ).fetchall()
    repeated = [tuple(g[:4]) for g in groups if g[4] > 1 and not g[5]]
    held: dict[str, int] = {}
    for group in groups:
        for other in group[5] or []:
            held[other] = held.get(other, 0) + 1
    return repeated, held


def version_key(version: str) -> tuple[int, int]:
    match = re.fullmatch(r"v([0-9]{3})r([0-9]+)", version)
    return (int(match[1]), int(match[2])) if match else (-1, -1)


def _ptp_problem_sql() -> str:
    """The first rule a staged PTP row breaks, as its reason; NULL when it breaks none."""
    return (
        "CASE "
        f"WHEN NOT coalesce(column_1_code GLOB {EDIT_CODE_GLOB}, false) "
        "THEN 'column 1 code ' || coalesce('''' || column_1_code || '''', 'missing') || ' is not a five-character code' "
        f"WHEN NOT coalesce(column_2_code GLOB {EDIT_CODE_GLOB}, false) "
        "THEN 'column 2 code ' || coalesce('''' || column_2_code || '''', 'missing') || ' is not a five-character code' "
        "WHEN pre_1996 IS NOT NULL AND pre_1996 <> '' "
        "THEN 'the in-existence-before-1996 field holds ''' || pre_1996 || ''' (only * or blank)' "
        "WHEN effective_date IS NULL THEN 'no effective date' "
        "WHEN modifier_indicator IS NULL THEN 'no modifier indicator' "
        "WHEN deletion_date < effective_date "
        "THEN 'deletion date ' || strftime(deletion_date, '%Y%m%d') || ' is before the effective date ' || "
        "strftime(effective_date, '%Y%m%d') "
        "END"
    )


def _ptp_key(fields: list[str]) -> tuple | None:
    if len(fields) != PTP_FIELDS:
        return None
    # As the reader sees the line: '*' is NULL in every field (a missing code or date is a broken row to find too).
    first, second, _, effective, deletion = (None if f == "*" else f for f in fields[:5])
    try:
        return (first, second, _yyyymmdd(effective) if effective else None, _yyyymmdd(deletion) if deletion else None)
    except ValueError:
        return None


def _yyyymmdd(text: str) -> date:
    return date(int(text[0:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 and text.isdigit() else _bad(text)


def _bad(text: str):
    raise ValueError(text)


def _locate_ptp_lines(path: Path, refused: dict[int, str], broken: list[tuple], repeated: list[tuple]) -> list[BadLine]:
    """Lines DuckDB refused carry their number already; rows SQL found broken, or repeated keys, are found again by
    their key in one pass over the file (only when there are any)."""
    reasons: dict[int, str] = dict(refused)
    wanted = {(c1, c2, eff, dele): reason for c1, c2, eff, dele, reason in broken}
    repeated_keys = {tuple(key) for key in repeated}
    if wanted or repeated_keys:
        lines_by_key: dict[tuple, list[int]] = {}
        with path.open("r", encoding=ENCODING, newline="") as text:
            for number, line in enumerate(text, start=1):
                if number <= PTP_PREAMBLE_LINES or number in refused:
                    continue
                key = _ptp_key(line.rstrip("\r\n").split("\t"))
                if key in wanted:
                    reasons[number] = wanted[key]
                elif key in repeated_keys:
                    lines_by_key.setdefault(key, []).append(number)
        for numbers in lines_by_key.values():
            for number in numbers:
                others = ", ".join(str(n) for n in numbers if n != number)
                reasons[number] = f"the same edit (both codes and both dates) is also on line(s) {others}"
    if not reasons:
        return []
    texts = _lines_of(path, set(reasons))
    return [BadLine(n, reasons[n], texts.get(n, "")) for n in sorted(reasons)]


def load_mue(con, path: Path, file_name: str, recognized: NcciFile) -> LoadResult:
    """Load one MUE file into medicare.ncci_mue (its earlier rows replaced); the lines it refuses are returned."""
    con.execute(f"DELETE FROM {MUE_TABLE} WHERE source_file = ?", [file_name])
    _drop_rejects(con)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ncci_mue_stage AS "
        f"SELECT * FROM read_csv({sql_literal(str(path))}, header = false, auto_detect = false, delim = ',', "
        f"quote = '\"', escape = '\"', skip = {recognized.records_before}, encoding = 'latin-1', "
        f"new_line = {sql_literal(recognized.new_line.encode('unicode_escape').decode())}, "
        "store_rejects = true, rejects_table = 'ncci_rejects', rejects_scan = 'ncci_reject_scans', "
        "columns = {'hcpcs_code': 'VARCHAR', 'mue_value': 'INTEGER', 'indicator_cell': 'VARCHAR', "
        "'rationale': 'VARCHAR'})"
    )
    refused = _reader_rejects(con, recognized.data_lines_start - recognized.records_before)
    problem = (
        "CASE "
        f"WHEN NOT regexp_full_match(coalesce(hcpcs_code, ''), {EDIT_CODE_SQL}) "
        "THEN 'code ' || coalesce('''' || hcpcs_code || '''', 'missing') || ' is not a five-character code' "
        "WHEN mue_value IS NULL THEN 'no MUE value' "
        "WHEN mue_value < 0 THEN 'MUE value ' || mue_value || ' is negative' "
        f"WHEN NOT regexp_full_match(coalesce(indicator_cell, ''), '{MUE_INDICATOR_CELL}') "
        "THEN 'adjudication indicator ' || coalesce('''' || indicator_cell || '''', 'missing') || "
        "' is not 1, 2 or 3 followed by its label' "
        "END"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ncci_mue_repeated AS "
        "SELECT hcpcs_code FROM ncci_mue_stage GROUP BY ALL HAVING count(*) > 1"
    )
    con.execute(
        f"INSERT INTO {MUE_TABLE} BY NAME SELECT {sql_literal(recognized.setting)} AS setting, hcpcs_code, "
        f"DATE {sql_literal(recognized.release)} AS effective_date, mue_value, "
        f"CAST(regexp_extract(indicator_cell, '{MUE_INDICATOR_CELL}', 1) AS INTEGER) AS adjudication_indicator, "
        f"regexp_extract(indicator_cell, '{MUE_INDICATOR_CELL}', 2) AS adjudication_label, "
        f"nullif(trim(rationale), '') AS rationale, {sql_literal(file_name)} AS source_file "
        f"FROM ncci_mue_stage WHERE {problem} IS NULL "
        "AND hcpcs_code NOT IN (SELECT hcpcs_code FROM ncci_mue_repeated)"
    )
    loaded = con.execute(f"SELECT count(*) FROM {MUE_TABLE} WHERE source_file = ?", [file_name]).fetchone()[0]
    broken = dict(
        con.execute(
            f"SELECT coalesce(hcpcs_code, ''), {problem} FROM ncci_mue_stage WHERE {problem} IS NOT NULL"
        ).fetchall()
    )
    repeated = {row[0] for row in con.execute("SELECT hcpcs_code FROM ncci_mue_repeated").fetchall()}
    con.execute("DROP TABLE ncci_mue_stage")
    con.execute("DROP TABLE ncci_mue_repeated")
    _drop_rejects(con)
    return LoadResult(loaded, _locate_mue_lines(path, recognized.data_lines_start, refused, broken, repeated))


def _locate_mue_lines(
    path: Path, start: int, refused: dict[int, str], broken: dict, repeated: set[str]
) -> list[BadLine]:
    reasons: dict[int, str] = dict(refused)
    if broken or repeated:
        lines_by_code: dict[str, list[int]] = {}
        with path.open("r", encoding=ENCODING, newline="") as text:
            for number, line in enumerate(text, start=1):
                if number <= start or number in refused:
                    continue
                cells = next(csv.reader([line]), [""])
                code = cells[0] if cells else ""
                if code in broken:
                    reasons[number] = broken[code]
                elif code in repeated:
                    lines_by_code.setdefault(code, []).append(number)
        for code, numbers in lines_by_code.items():
            for number in numbers:
                others = ", ".join(str(n) for n in numbers if n != number)
                reasons[number] = f"code {code} is also on line(s) {others} of this file"
    texts = _lines_of(path, set(reasons))
    return [BadLine(n, reasons[n], texts.get(n, "")) for n in sorted(reasons)]
