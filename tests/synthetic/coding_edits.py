"""NCCI PTP, NCCI MUE and HCPCS Level II files in the exact layouts CMS publishes, with made-up content.

The layouts (preambles, wrapped headers, encodings, ``*`` markers, fixed-width positions) follow
/work/shared/reference/MEDICARE_POLICY_FILES.md §4-§6 and are written out here rather than derived from
the loader, so tests check the loader against the real layouts. The ROWS are never copied from CMS
files: the full NCCI tables are licensed under the AMA click-through terms (docs/coding_edits.md).
PTP pairs use HCPCS Level II codes or made-up pairs; MUE values and HCPCS descriptions are invented
(Level II modifier descriptions paraphrase the public HCPCS modifier list).

    uv run python -m tests.synthetic.coding_edits            # rewrites the bundled samples
    uv run python -m tests.synthetic.coding_edits --check    # fails if a bundled sample differs
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE_DIR = REPO / "sources" / "medicare_policy"

# --- NCCI procedure-to-procedure (PTP) edits: tab-delimited latin-1 text -------------------------------------

PTP_COPYRIGHT = "CPT only copyright 2025 American Medical Association.  All rights reserved."
PTP_TITLE = "Column1/Column2 Edits"
# The header as CMS wraps it over four lines (each line has the file's 7 tab-separated fields).
PTP_HEADER_LINES = (
    ("Column 1", "Column 2", "*=in existence", "Effective", "Deletion ", "Modifier ", "PTP Edit Rationale"),
    ("", "", "prior to 1996", "Date", "Date", "0=not allowed", ""),
    ("", "", "", "", "*=no data", "1=allowed", ""),
    ("", "", "", "", "", "9=not applicable", ""),
)
PTP_PREAMBLE_LINES = 2 + len(PTP_HEADER_LINES)


@dataclass(frozen=True)
class PtpEdit:
    column_1: str
    column_2: str
    effective: str  # YYYYMMDD
    deletion: str = "*"  # YYYYMMDD or * (none)
    modifier_indicator: str = "1"
    pre_1996: bool = False
    rationale: str = "Misuse of Column Two code with Column One code"

    def fields(self) -> tuple[str, ...]:
        return (
            self.column_1,
            self.column_2,
            "*" if self.pre_1996 else "",
            self.effective,
            self.deletion,
            self.modifier_indicator,
            self.rationale,
        )


def ptp_text(edits: list[PtpEdit] | list[tuple[str, ...]], *, newline: str = "\r\n") -> bytes:
    """A ccipra/ccioph TXT: copyright line, title line, header wrapped over 4 lines, then one edit per line.
    Raw tuples are written as given (for malformed lines)."""
    lines = ["\t".join((PTP_COPYRIGHT, *[""] * 6)), "\t".join((PTP_TITLE, *[""] * 6))]
    lines += ["\t".join(fields) for fields in PTP_HEADER_LINES]
    lines += ["\t".join(e.fields() if isinstance(e, PtpEdit) else e) for e in edits]
    return (newline.join(lines) + newline).encode("latin-1")


def ptp_file_name(setting: str, version: str = "v322r0", part: int = 1) -> str:
    prefix = {"practitioner": "ccipra", "hospital_outpatient": "ccioph"}[setting]
    return f"{prefix}-{version}-f{part}.txt"


# --- NCCI medically unlikely edits (MUE): CSV, latin-1 ------------------------------------------------------

MUE_NOTICE = (
    "CPT codes, descriptions and other data only are copyright 2025 American Medical Association. "
    "All Rights Reserved.\n"
    "Applicable FARS/HHSAR apply.\n"
    "Fee schedules, relative value units, conversion factors and/or related components are not assigned by "
    "the AMA, are not part of CPT, and the AMA is not recommending their use.\n"
    "The AMA does not directly or indirectly practice medicine or dispense medical services."
)
MUE_SETTING_WORDS = {
    "practitioner": ("Practitioner Services", "PractitionerServices"),
    "hospital_outpatient": ("Outpatient Hospital Services", "OutpatientHospitalServices"),
    "dme": ("DME Supplier Services", "DMESupplierServices"),
}
MUE_INDICATOR_LABELS = {
    "1": "1 Line Edit",
    "2": "2 Date of Service Edit: Policy",
    "3": "3 Date of Service Edit: Clinical",
}


@dataclass(frozen=True)
class Mue:
    code: str
    value: str
    indicator: str  # 1, 2 or 3
    rationale: str = "Clinical: CMS Workgroup"

    def fields(self) -> tuple[str, ...]:
        return (self.code, self.value, MUE_INDICATOR_LABELS.get(self.indicator, self.indicator), self.rationale)


def _csv_cell(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def mue_text(setting: str, rows: list[Mue] | list[tuple[str, ...]], *, newline: str = "\r\n") -> bytes:
    """An MCR_MUE_*.csv: the quoted multi-line AMA notice, a header whose first cell holds a line break, rows."""
    words = MUE_SETTING_WORDS[setting][0]
    header = f'"HCPCS/\nCPT Code",{words} MUE Values,MUE Adjudication Indicator,MUE Rationale'
    lines = [_csv_cell(MUE_NOTICE) + ",,,", header]
    lines += [",".join(_csv_cell(f) for f in (r.fields() if isinstance(r, Mue) else r)) for r in rows]
    return (newline.join(lines) + newline).encode("latin-1")


def mue_file_name(setting: str, effective: str = "07-01-2026") -> str:
    return f"MCR_MUE_{MUE_SETTING_WORDS[setting][1]}_Eff_{effective}.csv"


# --- HCPCS Level II quarterly file: fixed-width 320-character records ---------------------------------------

HCPCS_RECORD_LENGTH = 320


@dataclass(frozen=True)
class HcpcsEntry:
    code: str  # five characters, or two for a modifier
    long_description: str
    short_description: str
    betos: str = ""
    coverage: str = "C"
    add_date: str = "20000101"
    effective_date: str = "20000101"
    termination_date: str = ""
    price: str = "11"

    @property
    def is_modifier(self) -> bool:
        return len(self.code) == 2


def _put(record: list[str], start: int, value: str) -> None:
    """Write value at the 1-based column start."""
    record[start - 1 : start - 1 + len(value)] = list(value)


def hcpcs_records(entry: HcpcsEntry) -> list[str]:
    """One record (RECID 3 or 7), then continuation records (4 or 8) for each further 80 characters of the
    long description; only the first record carries the other fields."""
    chunks = [entry.long_description[i : i + 80] for i in range(0, max(len(entry.long_description), 1), 80)]
    code = f"   {entry.code}" if entry.is_modifier else entry.code
    first_kind, next_kind = ("7", "8") if entry.is_modifier else ("3", "4")
    records = []
    for number, chunk in enumerate(chunks):
        record = [" "] * HCPCS_RECORD_LENGTH
        _put(record, 1, code)
        _put(record, 6, f"{(number + 1) * 100:05d}")
        _put(record, 11, first_kind if number == 0 else next_kind)
        _put(record, 12, chunk)
        if number == 0:
            _put(record, 92, entry.short_description[:28])
            _put(record, 120, entry.price)
            _put(record, 230, entry.coverage)
            _put(record, 257, entry.betos[:3])
            _put(record, 269, entry.add_date or "00000000")
            _put(record, 277, entry.effective_date or "00000000")
            _put(record, 285, entry.termination_date or "00000000")
            _put(record, 293, "N")
        records.append("".join(record))
    return records


def hcpcs_text(entries: list[HcpcsEntry], extra_records: list[str] = (), *, newline: str = "\r\n") -> bytes:
    records = [r for entry in entries for r in hcpcs_records(entry)] + list(extra_records)
    return (newline.join(records) + newline).encode("latin-1")


# --- The same files as .xlsx (CMS ships each beside its text form) ------------------------------------------
# Written with openpyxl (a dev dependency) in the layouts the text forms have: the preamble rows, the header in
# one row whose cells hold the wrapped words with line breaks (as Excel shows a wrapped header), and numbers that
# look like numbers stored as numbers (dates 20240101, indicators, MUE values), as spreadsheets hold them.


def _number_or_text(value: str):
    return int(value) if value.isdigit() and not value.startswith("0") else value


def _workbook_bytes(rows: list[list]) -> bytes:
    import io

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ptp_xlsx(edits: list[PtpEdit] | list[tuple[str, ...]]) -> bytes:
    """A ccipra/ccioph .xlsx: the copyright and title rows, one header row, then one edit per row (a raw tuple may
    hold a date or datetime cell, as a workbook saved by Excel can)."""
    header = ["\n".join(part for part in column if part) for column in zip(*PTP_HEADER_LINES, strict=True)]
    rows: list[list] = [[PTP_COPYRIGHT], [PTP_TITLE], header]
    for edit in edits:
        fields = edit.fields() if isinstance(edit, PtpEdit) else edit
        rows.append([_number_or_text(f) if i in (3, 4, 5) and isinstance(f, str) else f for i, f in enumerate(fields)])
    return _workbook_bytes(rows)


def mue_xlsx(setting: str, rows: list[Mue] | list[tuple[str, ...]]) -> bytes:
    """An MCR_MUE_*.xlsx: the notice cell, the header (its first cell holds a line break), then one code per row."""
    words = MUE_SETTING_WORDS[setting][0]
    sheet: list[list] = [
        [MUE_NOTICE],
        ["HCPCS/\nCPT Code", f"{words} MUE Values", "MUE Adjudication Indicator", "MUE Rationale"],
    ]
    for row in rows:
        fields = row.fields() if isinstance(row, Mue) else row
        sheet.append([_number_or_text(f) if i == 1 else f for i, f in enumerate(fields)])
    return _workbook_bytes(sheet)


HCPCS_XLSX_HEADER = (
    ["HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "PRICE1", "PRICE2", "PRICE3", "PRICE4"]
    + ["MULT_PI", "CIM1", "CIM2", "CIM3", "MCM1", "MCM2", "MCM3", "STATUTE"]
    + [f"LABCERT{i}" for i in range(1, 9)] + [f"XREF{i}" for i in range(1, 6)]
    + ["COV", "ASC_GRP", "ASC_DT", "OPPS", "OPPS_PI", "OPPS_DT", "PROCNOTE", "BETOS"]
    + [f"TOS{i}" for i in range(1, 6)] + ["ANEST_BU", "ADD DT", "ACT EFF DT", "TERM DT", "ACTION CD"]
)  # fmt: skip


def hcpcs_xlsx(entries: list[HcpcsEntry]) -> bytes:
    """An HCPC*_ANWEB.xlsx: 48 columns, one row per code with its whole long description; modifier rows keep
    the 3 leading spaces in HCPC and have RECID 7."""
    rows: list[list] = [list(HCPCS_XLSX_HEADER)]
    at = {name: index for index, name in enumerate(HCPCS_XLSX_HEADER)}
    for entry in entries:
        row: list = [None] * len(HCPCS_XLSX_HEADER)
        row[at["HCPC"]] = f"   {entry.code}" if entry.is_modifier else entry.code
        row[at["SEQNUM"]] = 100
        row[at["RECID"]] = 7 if entry.is_modifier else 3
        row[at["LONG DESCRIPTION"]] = entry.long_description
        row[at["SHORT DESCRIPTION"]] = entry.short_description[:28]
        row[at["PRICE1"]] = entry.price
        row[at["COV"]] = entry.coverage
        row[at["BETOS"]] = entry.betos[:3] or None
        for column, value in (
            ("ADD DT", entry.add_date),
            ("ACT EFF DT", entry.effective_date),
            ("TERM DT", entry.termination_date),
        ):
            row[at[column]] = int(value) if value else None
        row[at["ACTION CD"]] = "N"
        rows.append(row)
    return _workbook_bytes(rows)


# --- The bundled samples ------------------------------------------------------------------------------------

# Made-up pairs (NOT NCCI edits: invented to exercise the layout and the marts), covering: active 1, active 0,
# deleted (exclusive end), 9-tombstone, a duplicate key of tombstone + active, the `*` pre-1996 flag and a
# non-ASCII (latin-1) rationale byte; the last pairs involve the sample documents' codes so that the bundled
# build shows every verdict of marts.modifier_checks.
SAMPLE_PTP = {
    "practitioner": [
        PtpEdit("C9751", "G0463", "20240101", "*", "1", rationale="Misuse of Column Two code with Column One code"),
        PtpEdit("C9751", "C9752", "20240101", "*", "0", rationale="Mutually exclusive procedures"),
        PtpEdit("G0500", "C9751", "20220101", "20231231", "1", rationale="Standards of medical/surgical practice"),
        PtpEdit("G0500", "G0463", "20220101", "20220101", "9", rationale="Standards of medical/surgical practice"),
        PtpEdit("G0105", "G0121", "19960101", "19960101", "9", rationale="HCPCS/CPT procedure code definition"),
        PtpEdit("G0105", "G0121", "19960101", "*", "0", pre_1996=True, rationale="HCPCS/CPT procedure code definition"),
        PtpEdit("G0121", "G0500", "20250401", "*", "1", rationale="Mutually exclusive procedures (r\u00e9vis\u00e9e)"),
        PtpEdit("C9751", "20982", "20250101", "*", "1", rationale="Misuse of Column Two code with Column One code"),
        PtpEdit("47383", "47382", "20250101", "*", "0", rationale="Mutually exclusive procedures"),
    ],
    "hospital_outpatient": [
        PtpEdit("C9751", "G0463", "20240101", "*", "0", rationale="Misuse of Column Two code with Column One code"),
        PtpEdit("G0105", "G0121", "20100101", "*", "1", rationale="HCPCS/CPT procedure code definition"),
        PtpEdit("50593", "50592", "20250101", "*", "1", rationale="Standards of medical/surgical practice"),
    ],
}
SAMPLE_MUE = {
    "practitioner": [
        Mue("C9751", "1", "2", "Code Descriptor / CPT Instruction"),
        Mue("G0105", "1", "2", "Code Descriptor / CPT Instruction"),
        Mue("G0463", "1", "3", "Nature of Service/Procedure"),
        Mue("J7050", "10", "3", "Clinical: CMS Workgroup"),
        Mue("32998", "1", "2", "Code Descriptor / CPT Instruction"),
        Mue("50593", "1", "3", "Nature of Service/Procedure"),
    ],
    "hospital_outpatient": [Mue("C9751", "1", "3", "Nature of Service/Procedure"), Mue("G0463", "3", "1")],
    "dme": [Mue("E0100", "1", "1", "Nature of Service/Procedure")],
}
SAMPLE_MUE_2023 = [Mue("32998", "1", "2", "Code Descriptor / CPT Instruction"), Mue("50593", "2", "3")]
SAMPLE_HCPCS = [
    HcpcsEntry(
        "C9751",
        "Bronchoscopy, rigid or flexible, transbronchial ablation of lesion(s) by microwave energy, including "
        "fluoroscopic guidance, when performed, with computed tomography acquisition(s) and 3-d rendering, "
        "computer-assisted, image-guided navigation, and endobronchial ultrasound (ebus) guided transtracheal "
        "and/or transbronchial sampling (eg, aspiration[s]/biopsy[ies]) and all mediastinal and/or hilar lymph "
        "node stations or structures and therapeutic intervention(s)",
        "Microwave bronchoscopy",
        betos="P2F",
    ),
    HcpcsEntry(
        "G0463",
        "Hospital outpatient clinic visit for assessment and management of a patient",
        "Hospital outpt clinic visit",
        betos="M1B",
    ),
    HcpcsEntry(
        "G9999",
        "Example terminated code (made up for the sample)",
        "Example terminated code",
        termination_date="20231231",
        coverage="I",
    ),
    HcpcsEntry(
        "AS",
        "Physician assistant, nurse practitioner, or clinical nurse specialist services for assistant at surgery",
        "Assistant at surgery service",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "RT",
        "Right side (used to identify procedures performed on the right side of the body)",
        "Right side",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "LT",
        "Left side (used to identify procedures performed on the left side of the body)",
        "Left side",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "XE",
        "Separate encounter, a service that is distinct because it occurred during a separate encounter",
        "Separate encounter",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "XS",
        "Separate structure, a service that is distinct because it was performed on a separate organ/structure",
        "Separate structure",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "XP",
        "Separate practitioner, a service that is distinct because it was performed by a different practitioner",
        "Separate practitioner",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "XU",
        "Unusual non-overlapping service, the use of a service that is distinct because it does "
        "not overlap usual components of the main service",
        "Unusual non-overlapping serv",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "GA",
        "Waiver of liability statement issued as required by payer policy, individual case",
        "Waiver of liability on file",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "JW",
        "Drug amount discarded/not administered to any patient",
        "Discarded drug not administe",
        price="",
        coverage="",
    ),
    HcpcsEntry(
        "JZ", "Zero drug amount discarded/not administered to any patient", "Zero drug wasted", price="", coverage=""
    ),
    HcpcsEntry(
        "GD",
        "Units of service exceeds medically unlikely edit value and represents reasonable and necessary services",
        "Units >MUE value",
        price="",
        coverage="",
        termination_date="20191231",
    ),
]


def sample_files() -> dict[str, bytes]:
    files = {ptp_file_name(s, "v322r0", 1): ptp_text(edits) for s, edits in SAMPLE_PTP.items()}
    files |= {mue_file_name(s): mue_text(s, rows) for s, rows in SAMPLE_MUE.items()}
    # An earlier quarter, so that marts.code_unit_limits shows the MUE in force at the end of the sample's
    # utilization year (2023), not the newest one.
    files[mue_file_name("practitioner", "10-01-2023")] = mue_text("practitioner", SAMPLE_MUE_2023)
    files["HCPC2026_APR_ANWEB.txt"] = hcpcs_text(SAMPLE_HCPCS)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a bundled sample differs")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name, content in sample_files().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_bytes() != content:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if stale:
        print(f"stale bundled samples (rerun without --check): {stale}", file=sys.stderr)
        return 1
    if not args.check and args.out == SAMPLE_DIR:
        _list_as_synthetic(sample_files())
    return 0


DIGESTS = REPO / "sources" / "reference" / "synthetic_utilization_files.csv"
DIGEST_NOTE = (
    "Bundled coding-edit sample: the real CMS layout with MADE-UP rows (never NCCI or CMS data), written by "
    "tests/synthetic/coding_edits.py."
)


def _list_as_synthetic(files: dict[str, bytes]) -> None:
    """Rewrite this generator's lines of the synthetic-file list (matched by SHA-256, so rows say is_synthetic)."""
    import csv
    import hashlib
    import io

    kept = [row for row in csv.reader(io.StringIO(DIGESTS.read_text(encoding="utf-8"))) if row and row[1] not in files]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(kept)
    writer.writerows([hashlib.sha256(data).hexdigest(), name, DIGEST_NOTE] for name, data in files.items())
    DIGESTS.write_text(out.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
