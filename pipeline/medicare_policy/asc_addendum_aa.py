"""ASC Addendum AA (ambulatory surgical center payment rates), csv or xlsx.

3-4 preamble rows, then a header whose first cell is ``HCPCS Code``, whose second column has no name, and whose
rate columns carry the release month in their names with irregular spaces (``April 2026  Payment Weight  ``):
columns are matched by the words they contain. The release comes from those names first (then the title, then
the file name). Packaged codes (payment indicator N1 …) have blank weight and rate.
"""

from __future__ import annotations

from pipeline.contracts.medicare_tables import ASC_RATES_CONTRACT
from pipeline.medicare_policy.layouts import (
    CODE,
    CPT_BLANKED,
    MONEY,
    NUMBER,
    TEXT,
    YES_NO,
    Cell,
    Layout,
    LayoutError,
    Recognized,
    find_columns,
    header_name,
)
from pipeline.medicare_policy.opps_addendum_b import header_row
from pipeline.medicare_policy.releases import quarter_release
from pipeline.medicare_policy.sheets import Sheet

CELLS = (
    Cell("hcpcs_code", CODE, "HCPCS Code"),
    Cell("description", CPT_BLANKED, "Short Descriptor"),
    Cell("subject_to_multiple_procedure_discount", YES_NO, "Subject to Multiple Procedure Discounting"),
    Cell("payment_indicator", TEXT, "Payment Indicator"),
    Cell("payment_weight", NUMBER, "Payment Weight"),
    Cell("payment_rate", MONEY, "Payment Rate"),
)
_MATCH = {
    "hcpcs_code": lambda n: n == "hcpcs code",
    "description": lambda n: n.startswith("short descriptor"),
    "subject_to_multiple_procedure_discount": lambda n: "multiple procedure" in n,
    "payment_indicator": lambda n: n.endswith("payment indicator"),
    "payment_weight": lambda n: n.endswith("payment weight"),
    "payment_rate": lambda n: n.endswith("payment rate"),
}


def recognise(sheet: Sheet) -> Recognized | None:
    if sheet.form == "txt":
        return None
    row = header_row(sheet)
    if row is None:
        return None
    raw_names = sheet.records[row][1]
    names = [header_name(c) for c in raw_names]
    if not any(n.endswith("payment indicator") for n in names):
        return None
    positions, missing = find_columns(names, _MATCH)
    required = [t for t in missing if t in ("hcpcs_code", "payment_indicator", "payment_rate")]
    if required:
        raise LayoutError(f"Addendum AA header lacks {', '.join(required)}")
    rate_names = [raw_names[positions["payment_rate"]]]
    titles = rate_names + [" ".join(cells) for _, cells in sheet.records[:row]]
    release = quarter_release(titles, [n for n in (sheet.member, sheet.name) if n])
    if release is None:
        raise LayoutError(
            "Addendum AA without a release: neither its rate column, its title rows nor its name state a month "
            "and year (e.g. 'April 2026 Payment Rate')"
        )
    return Recognized(LAYOUT, sheet, row + 1, positions, release)


LAYOUT = Layout("asc_addendum_aa", ASC_RATES_CONTRACT, CELLS, recognise, "ASC Addendum AA")
