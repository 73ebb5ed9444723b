"""The HCPCS Level II quarterly file (``HCPC2026_APR_ANWEB.txt``): fixed-width 320-character records.

Positions (1-based, CMS record layout): code 1-5 (a modifier is 3 spaces and its 2 characters), sequence
number 6-10, record id 11 (3 procedure, 4 procedure continuation, 7 modifier, 8 modifier continuation),
long description 12-91 (80 characters; continuation records carry the rest, joined in sequence order), short
description 92-119, coverage 230, BETOS 257-259, add date 269-276, action effective date 277-284,
termination date 285-292 (YYYYMMDD, ``00000000`` or blank for none; the termination date is the last valid
day). The file has about 16,700 records, so it is parsed in Python and inserted at once.

Only Level II codes (a letter and four digits) and two-character modifiers are kept: the file carries no CPT
descriptions, and a numeric row, should one appear, is counted in a note and left out. The release is the
quarter in the name (``HCPC2026_APR`` -> 2026-04), the only place the file states it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.contracts.coding_edit_tables import HCPCS_LEVEL2_CONTRACT
from pipeline.medicare_policy.ncci import ENCODING, BadLine, LoadResult, NcciFileError

HCPCS_TABLE = HCPCS_LEVEL2_CONTRACT.table
RECORD_LENGTH = 320
SHORTEST_RECORD = 293  # through the action code: trailing blanks may be trimmed by a download tool
RECORD_KINDS = {"3": ("code", False), "4": ("code", True), "7": ("modifier", False), "8": ("modifier", True)}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
RELEASE_NAME = re.compile(r"HCPC(?P<year>[0-9]{4})_(?P<month>[A-Z]{3})", re.IGNORECASE)
LEVEL2_CODE = re.compile(r"[A-Z][0-9]{4}")
MODIFIER = re.compile(r"[0-9A-Z]{2}")


@dataclass(frozen=True)
class HcpcsFile:
    release: str


def recognize_hcpcs(head: bytes, name: str) -> HcpcsFile | None:
    """An ANWEB file by its first record: 320 characters with a record id of 3, 4, 7 or 8 and a date at 269."""
    first = head.decode(ENCODING).split("\n", 1)[0].rstrip("\r")
    if not (SHORTEST_RECORD <= len(first) <= RECORD_LENGTH and first[10] in RECORD_KINDS):
        return None
    if not re.fullmatch(r"[0-9]{5}", first[5:10]) or not re.fullmatch(r"[0-9]{8}| {8}", first[268:276]):
        return None
    match = RELEASE_NAME.search(name)
    if match is None or match["month"].upper() not in MONTHS:
        raise NcciFileError(
            "a HCPCS Level II file (320-character records) whose name lacks its quarter (HCPC2026_APR_ANWEB.txt, "
            "as CMS names it)"
        )
    return HcpcsFile(f"{match['year']}-{MONTHS.index(match['month'].upper()) + 1:02d}")


def _date(text: str) -> date | None:
    text = text.strip()
    if text in ("", "00000000"):
        return None
    if not re.fullmatch(r"[0-9]{8}", text):
        raise ValueError(f"{text!r} is not a YYYYMMDD date")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def parse_hcpcs(path: Path, release: str, file_name: str) -> tuple[list[dict], list[BadLine], list[str]]:
    """Rows for medicare.hcpcs_level2, the lines refused (with the reason), and notes."""
    entries: dict[tuple[str, str], dict] = {}
    chunks: dict[tuple[str, str], list[tuple[int, str]]] = {}
    bad: list[BadLine] = []
    numeric = 0
    with path.open("r", encoding=ENCODING, newline="") as text:
        for number, raw in enumerate(text, start=1):
            record = raw.rstrip("\r\n")
            if not record.strip():
                continue
            problem = _record_problem(record)
            if problem:
                bad.append(BadLine(number, problem, record[:4000]))
                continue
            kind, is_continuation = RECORD_KINDS[record[10]]
            code = record[0:5].strip()
            if kind == "code" and not LEVEL2_CODE.fullmatch(code):
                numeric += 1
                continue
            key = (kind, code)
            if is_continuation:
                chunks.setdefault(key, []).append((int(record[5:10]), record[11:91], number))
                continue
            if key in entries:
                bad.append(BadLine(number, f"{kind} {code} has a second first record (record id {record[10]})", record))
                continue
            try:
                dates = [_date(record[268:276]), _date(record[276:284]), _date(record[284:292])]
            except ValueError as exc:
                bad.append(BadLine(number, f"{kind} {code}: {exc}", record))
                continue
            chunks.setdefault(key, []).append((int(record[5:10]), record[11:91], number))
            entries[key] = {
                "hcpcs_code": code,
                "record_kind": kind,
                "release": release,
                "short_description": record[91:119].strip() or None,
                "betos": record[256:259].strip() or None,
                "coverage_code": record[229:230].strip() or None,
                "add_date": dates[0],
                "effective_date": dates[1],
                "termination_date": dates[2],
                "source_file": file_name,
            }
    for key, parts in chunks.items():
        if key not in entries:
            for _, _, number in parts:
                bad.append(
                    BadLine(number, f"a continuation record of {key[0]} {key[1]}, which has no first record", "")
                )
    for key, entry in entries.items():
        # Each record holds the next 80 characters, cut anywhere (even inside a word): joined as they are.
        text = "".join(chunk for _, chunk, _ in sorted(chunks[key]))
        entry["long_description"] = " ".join(text.split()) or None
    notes = [f"{numeric} numeric (CPT) records left out: Level II codes and modifiers only"] if numeric else []
    return list(entries.values()), sorted(bad, key=lambda b: b.line_number), notes


def _record_problem(record: str) -> str | None:
    if not SHORTEST_RECORD <= len(record) <= RECORD_LENGTH:
        return f"a record of {len(record)} characters (the layout has {RECORD_LENGTH})"
    if record[10] not in RECORD_KINDS:
        return f"record id {record[10]!r} is not 3, 4, 7 or 8"
    if not re.fullmatch(r"[0-9]{5}", record[5:10]):
        return f"sequence number {record[5:10]!r} is not five digits"
    code = record[0:5]
    if record[10] in "78" and not (code.startswith("   ") and MODIFIER.fullmatch(code[3:])):
        return f"modifier record whose code field {code!r} is not 3 spaces and 2 characters"
    if record[10] in "34" and not re.fullmatch(r"[0-9A-Z]{5}", code):
        return f"code {code!r} is not five characters"
    return None


def load_hcpcs(con, path: Path, file_name: str, recognized: HcpcsFile) -> LoadResult:
    """Replace this file's rows of medicare.hcpcs_level2; the refused lines are returned."""
    rows, bad, notes = parse_hcpcs(path, recognized.release, file_name)
    con.execute(f"DELETE FROM {HCPCS_TABLE} WHERE source_file = ? OR release = ?", [file_name, recognized.release])
    if rows:
        frame = pd.DataFrame(rows, columns=HCPCS_LEVEL2_CONTRACT.column_names)
        con.register("hcpcs_rows", frame)
        try:
            columns = ", ".join(f"CAST({c.name} AS {c.sql_type}) AS {c.name}" for c in HCPCS_LEVEL2_CONTRACT.columns)
            con.execute(f"INSERT INTO {HCPCS_TABLE} BY NAME SELECT {columns} FROM hcpcs_rows")
        finally:
            con.unregister("hcpcs_rows")
    return LoadResult(len(rows), bad, notes)
