"""OPPS Addendum B (hospital outpatient payment rates by HCPCS code), csv or xlsx.

2-6 title rows, then the header row whose first cell is ``HCPCS Code``. Columns are found by name (headers change
across years: pass-through and IRA columns appear). Money is ``$``-prefixed with thousands commas and sometimes a
trailing space; ``.`` means no copayment; the IRA coinsurance ends in ``%``.
"""

from __future__ import annotations

from pipeline.contracts.medicare_tables import OPPS_RATES_CONTRACT
from pipeline.medicare_policy.layouts import (
    APC,
    CHANGED,
    CODE,
    CPT_BLANKED,
    MONEY,
    NUMBER,
    PERCENT,
    TEXT,
    Cell,
    Layout,
    LayoutError,
    Recognized,
    find_columns,
    header_name,
)
from pipeline.medicare_policy.releases import quarter_release
from pipeline.medicare_policy.sheets import PREVIEW_RECORDS, Sheet

CELLS = (
    Cell("hcpcs_code", CODE, "HCPCS Code"),
    Cell("description", CPT_BLANKED, "Short Descriptor"),
    Cell("status_indicator", TEXT, "SI"),
    Cell("apc", APC, "APC"),
    Cell("relative_weight", NUMBER, "Relative Weight"),
    Cell("payment_rate", MONEY, "Payment Rate"),
    Cell("national_unadjusted_copayment", MONEY, "National Unadjusted Copayment"),
    Cell("minimum_unadjusted_copayment", MONEY, "Minimum Unadjusted Copayment"),
    Cell("ira_coinsurance_percent", PERCENT, "IRA Coinsurance percentage"),
    Cell("changed_flag", CHANGED, "* Indicates a Change"),
)
REQUIRED = ("hcpcs_code", "status_indicator", "apc", "payment_rate")
_MATCH = {
    "hcpcs_code": lambda n: n == "hcpcs code",
    "description": lambda n: n.startswith("short descriptor"),
    "status_indicator": lambda n: n in ("si", "status indicator"),
    "apc": lambda n: n == "apc",
    "relative_weight": lambda n: n == "relative weight",
    "payment_rate": lambda n: n == "payment rate",
    "national_unadjusted_copayment": lambda n: n.startswith("national unadjusted copayment"),
    "minimum_unadjusted_copayment": lambda n: n.startswith("minimum unadjusted copayment"),
    "ira_coinsurance_percent": lambda n: n.startswith("ira coinsurance"),
    "changed_flag": lambda n: n.startswith("* indicates"),
}


def header_row(sheet: Sheet) -> int | None:
    """Index of the record whose first cell is 'HCPCS Code'."""
    return next(
        (i for i, (_, cells) in enumerate(sheet.records[:PREVIEW_RECORDS]) if cells and header_name(cells[0]) == "hcpcs code"),
        None,
    )  # fmt: skip


def recognise(sheet: Sheet) -> Recognized | None:
    if sheet.form == "txt":
        return None
    row = header_row(sheet)
    if row is None:
        return None
    names = [header_name(c) for c in sheet.records[row][1]]
    if not any(n in ("si", "status indicator") for n in names) or "apc" not in names:
        return None  # Addendum AA and others also start with 'HCPCS Code'
    positions, missing = find_columns(names, _MATCH)
    if any(target in REQUIRED for target in missing):
        raise LayoutError(f"Addendum B header lacks {', '.join(t for t in missing if t in REQUIRED)}")
    titles = [" ".join(cells) for _, cells in sheet.records[:row]]
    release = quarter_release(titles, [n for n in (sheet.member, sheet.name) if n])
    if release is None:
        raise LayoutError(
            "Addendum B without a release: neither its title rows nor its name state a month and year "
            "(e.g. 'January 2025')"
        )
    return Recognized(LAYOUT, sheet, row + 1, positions, release)


LAYOUT = Layout("opps_addendum_b", OPPS_RATES_CONTRACT, CELLS, recognise, "OPPS Addendum B")
