"""Writers of CMS payment policy files in their published layouts (see /docs/medicare_payments.md and
pipeline/medicare_policy/): PPRRVU csv (title lines, the header stacked over five lines, CRLF, optional trailing
Ctrl-Z line), fixed-width txt (HDR lines, 171-character records) and xlsx (numbers stored as numbers); OPPS
Addendum B and ASC Addendum AA csv/xlsx with their preamble rows and money formats. Used by the tests, the
benchmark and to build the bundled sample."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

# The PPRRVU 2023-2025 stacked header, as published (lines 6-10).
PPRRVU_HEADER = [
    ",, , ,,,,,,,,,,,,,,,,,,,,,,,,,NON-FACILITY,FACILITY,",
    ",,,,NOT USED,,,,,,,,,,,,,,,,,,,,,PHYSICIAN,,DIAGNOSTIC,PE USED,PE USED,MP USED",
    ",,,,FOR,,,NON-FAC,,FACILITY ,,,,,,,,,,,,,,,,SUPERVISION OF,,IMAGING,FOR OPPS,FOR OPPS,FOR OPPS",
    ",,,STATUS,MEDICARE ,WORK,NON-FAC,NA,FACILITY,NA,MP,NON-FACILITY,FACILITY,PCTC,GLOB,PRE,INTRA,POST,MULT,BILAT,"
    "ASST,CO-,TEAM,ENDO,CONV,DIAGNOSTIC,CALCULATION,FAMILY,PAYMENT,PAYMENT,PAYMENT",
    "HCPCS,MOD,DESCRIPTION,CODE,PAYMENT,RVU,PE RVU,INDICATOR,PE RVU,INDICATOR,RVU,TOTAL,TOTAL,IND,DAYS,OP,OP,OP,PROC,"
    "SURG,SURG,SURG,SURG,BASE,FACTOR,PROCEDURES,FLAG,INDICATOR,AMOUNT,AMOUNT,AMOUNT",
]
FIELDS = (
    "hcpcs", "mod", "desc", "status", "not_used", "work", "nf_pe", "nf_na", "f_pe", "f_na", "mp", "nf_total",
    "f_total", "pctc", "glob", "pre", "intra", "post", "mult", "bilat", "asst", "co", "team", "endo", "cf",
    "phys_sup", "calc_flag", "imaging", "nf_opps", "f_opps", "mp_opps",
)  # fmt: skip
NUMERIC = {
    "work",
    "nf_pe",
    "f_pe",
    "mp",
    "nf_total",
    "f_total",
    "pre",
    "intra",
    "post",
    "cf",
    "nf_opps",
    "f_opps",
    "mp_opps",
}
INDICATORS = {"pctc", "mult", "bilat", "asst", "co", "team"}
DEFAULTS = {
    "mod": "", "desc": "", "not_used": "", "nf_na": "", "f_na": "", "pre": "0.00", "intra": "0.00", "post": "0.00",
    "endo": "", "phys_sup": "09", "calc_flag": "0", "imaging": "99", "nf_opps": "0.00", "f_opps": "0.00",
    "mp_opps": "0.00", "pricing": "9",
}  # fmt: skip


def pfs_row(hcpcs, status, work, nf_pe, f_pe, mp, nf_total, f_total, cf, **more) -> dict:
    """A PPRRVU row as the csv prints it (strings)."""
    row = dict(DEFAULTS)
    row.update(hcpcs=hcpcs, status=status, work=work, nf_pe=nf_pe, f_pe=f_pe, mp=mp, nf_total=nf_total)
    row.update(f_total=f_total, cf=cf, pctc="0", glob="000", mult="2", bilat="0", asst="2", co="0", team="0")
    row.update(more)
    return row


# The real rows quoted in /work/shared/reference (PPRRVU2025_Oct.csv), descriptions blank (AMA text).
ROWS_2025_OCT = [
    pfs_row("32994", "A", "9.03", "127.79", "2.92", "0.94", "137.76", "12.89", "32.3465", bilat="1"),
    pfs_row("47383", "A", "8.88", "159.20", "3.52", "0.99", "169.07", "13.39", "32.3465", glob="010", post="0.10",
            intra="0.80", pre="0.10", asst="1"),
    pfs_row("77013", "C", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "32.3465", pctc="1", glob="XXX", f_na="NA",
            mult="0", asst="0"),
    pfs_row("77013", "A", "3.99", "1.18", "1.18", "0.25", "5.42", "5.42", "32.3465", mod="26", pctc="1", glob="XXX",
            mult="0", asst="0"),
]  # fmt: skip


def _cells(row: dict, pricing: bool) -> list[str]:
    cells = [row[name] for name in FIELDS]
    if pricing:
        cells.insert(23, row["pricing"])
    return cells


def pprrvu_title(year: int, month: str, release_in_title: bool = True) -> list[str]:
    first = (
        f"{year} NATIONAL PHYSICIAN FEE SCHEDULE RELATIVE VALUE FILE {month.upper()} RELEASE"
        if release_in_title
        else "NATIONAL PHYSICIAN FEE SCHEDULE RELATIVE VALUE FILE"
    )
    return [
        first,
        "CPT codes and descriptions only are copyright 2024 American Medical Association. All Rights Reserved.",
        "Dental codes (D codes) are copyright 2024 American Dental Association. All Rights Reserved.",
        " ",
        "RELEASED 09/15/2025",
    ]


def pprrvu_csv(rows: list[dict], *, title: list[str], pricing: bool = False, ctrl_z: bool = False) -> bytes:
    width = 32 if pricing else 31
    lines = [",," + _quoted(text) + "," * (width - 3) for text in title]
    for line in PPRRVU_HEADER:
        cells = next(csv.reader([line]))
        if pricing:
            cells.insert(23, {3: "PRICING", 4: "INDICATOR"}.get(PPRRVU_HEADER.index(line), ""))
        lines.append(",".join(cells))
    lines += [",".join(_quoted(c) for c in _cells(row, pricing)) for row in rows]
    if ctrl_z:
        lines.append("\x1a" + "," * (width - 1))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _quoted(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ',"\n') else text


# Fixed-width positions (1-based, inclusive), RVU26A layout.
TXT_POSITIONS = {
    "hcpcs": (1, 5), "mod": (6, 7), "desc": (8, 57), "status": (58, 58), "work": (60, 65), "nf_pe": (67, 72),
    "nf_na": (73, 74), "f_pe": (76, 81), "f_na": (82, 83), "mp": (85, 89), "nf_total": (91, 96),
    "f_total": (97, 102), "pctc": (103, 103), "glob": (104, 106), "pre": (107, 109), "intra": (110, 112),
    "post": (113, 115), "mult": (116, 116), "bilat": (117, 117), "asst": (118, 118), "co": (119, 119),
    "team": (120, 120), "endo": (128, 132), "cf": (133, 140), "phys_sup": (142, 143), "calc_flag": (144, 144),
    "imaging": (146, 147), "nf_opps": (152, 157), "f_opps": (159, 164),
}  # fmt: skip


def pprrvu_txt(rows: list[dict], *, title: str) -> bytes:
    lines = [
        f"HDR {title if i == 0 else 'CPT codes and descriptions only are copyright AMA'}".ljust(50) for i in range(7)
    ]
    for row in rows:
        record = [" "] * 171
        for name, (start, end) in TXT_POSITIONS.items():
            value = row[name]
            if name in ("pre", "intra", "post"):
                value = value[:3]
            text = value.rjust(end - start + 1) if name in NUMERIC else value.ljust(end - start + 1)
            record[start - 1 : end] = list(text[: end - start + 1])
        lines.append("".join(record))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def pprrvu_xlsx(rows: list[dict], *, title: list[str]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for text in title:
        sheet.append([None, None, text])
    for line in PPRRVU_HEADER:
        sheet.append([c or None for c in next(csv.reader([line]))])
    for row in rows:
        sheet.append([_xlsx_value(name, row[name]) for name in FIELDS])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_value(name: str, value: str):
    if value == "":
        return None
    if name in NUMERIC:
        return float(value)
    if name in INDICATORS or (name == "glob" and value.isdigit()):
        return int(value)  # the sheet stores them as numbers: 000 reads back as 0
    return value


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- OPPS Addendum B ---------------------------------------------------------------------------------------

OPPS_HEADER_2025 = [
    "HCPCS Code", "Short Descriptor", "SI", "APC", "Relative Weight", "Payment Rate",
    "National Unadjusted Copayment", "Minimum Unadjusted Copayment", "IRA Coinsurance percentage",
    "Adjusted Beneficiary Copayment", "Drug and Device Pass-Through Expiration during Calendar Year", "Note",
    "* Indicates a Change",
]  # fmt: skip


def money(amount: float | None, trailing_space: bool = False) -> str:
    return "" if amount is None else f"${amount:,.2f}" + (" " if trailing_space else "")


def opps_row(code, si, apc="", weight="", rate=None, copay=None, minimum=None, desc="", ira="") -> list[str]:
    return [code, desc, si, apc, weight, money(rate), "." if copay is None and rate else money(copay),
            money(minimum), ira, "", "", "", ""]  # fmt: skip


def addendum_b_csv(rows: list[list[str]], *, month_year: str | None = "October 2025", tail: bytes = b"") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    title = (
        f"Addendum B.-- OPPS Payment by HCPCS Code for {month_year}"
        if month_year
        else "Addendum B.-- OPPS Payment by HCPCS Code"
    )
    writer.writerow([title] + [""] * 12)
    writer.writerow(["CPT codes and descriptions only are copyright 2024 American Medical Association."] + [""] * 12)
    writer.writerow([""] * 13)
    writer.writerow(OPPS_HEADER_2025)
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode("latin-1") + tail


# --- ASC Addendum AA ---------------------------------------------------------------------------------------


def aa_header(month_year: str) -> list[str]:
    return ["HCPCS Code", "", "Short Descriptor", "Subject to Multiple Procedure Discounting",
            f"{month_year} Payment Indicator", f"{month_year}  Payment Weight  ", f"{month_year} Payment Rate"]  # fmt: skip


def aa_row(code, indicator, weight="", rate=None, discount="Y", desc="") -> list[str]:
    return [code, "", desc, discount, indicator, weight, money(rate, trailing_space=True)]


def addendum_aa_rows(rows: list[list[str]], month_year: str) -> list[list]:
    return [
        ["Addendum AA -- Final ASC Covered Surgical Procedures", "", "", "", "", "", ""],
        ["CPT codes and descriptions only are copyright 2024 American Medical Association.", "", "", "", "", "", ""],
        [""] * 7,
        aa_header(month_year),
        *rows,
    ]


def addendum_aa_csv(rows: list[list[str]], month_year: str = "October 2025") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(addendum_aa_rows(rows, month_year))
    return out.getvalue().encode("latin-1")


def addendum_aa_xlsx(rows: list[list[str]], month_year: str = "October 2025") -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in addendum_aa_rows(rows, month_year):
        sheet.append([_aa_value(i, v) for i, v in enumerate(row)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _aa_value(index: int, value: str):
    if value == "":
        return None
    if index == 5:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def xlsx_of(rows: list[list]) -> bytes:
    """Any rows as an xlsx sheet; cells that read as numbers are stored as numbers, as CMS's workbooks do."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append([_number_or_text(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _number_or_text(value):
    if value in ("", None):
        return None
    try:
        return float(value) if "." in value else int(value) if value.isdigit() and not value.startswith("0") else value
    except ValueError:
        return value
