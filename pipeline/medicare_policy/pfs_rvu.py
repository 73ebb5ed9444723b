"""PFS national relative value file (PPRRVU), in its three published forms.

- csv (2023-2025): five title lines (text in the third cell), then a header stacked over five lines: each
  column's name is its stripped cells joined with one space (``CONV FACTOR`` at index 24). 2026 adds a Pricing
  Indicator column after TEAM SURG (32 columns): columns are found by name, so both read alike.
- xlsx: the same rows, numbers stored as numbers.
- txt: fixed width, ``HDR`` lines first, then 171-character records (positions of the RVU26A layout).

The conversion-factor variant comes from the name (``_QPP`` / ``_nonQPP``, from 2026), else the file has the one
conversion factor of its release (``standard``).
"""

from __future__ import annotations

import re

from pipeline.contracts.medicare_tables import PFS_RVU_CONTRACT
from pipeline.medicare_policy import layouts
from pipeline.medicare_policy.layouts import (
    CODE,
    CPT_BLANKED,
    MODIFIER,
    NUMBER,
    PADDED_3,
    PRICED,
    TEXT,
    Cell,
    Layout,
    LayoutError,
    Recognized,
    find_columns,
    header_name,
)
from pipeline.medicare_policy.releases import pfs_release
from pipeline.medicare_policy.sheets import PREVIEW_RECORDS, Sheet

CELLS = (
    Cell("hcpcs_code", CODE, "HCPCS"),
    Cell("modifier", MODIFIER, "MOD"),
    Cell("description", CPT_BLANKED, "DESCRIPTION"),
    Cell("status_code", TEXT, "STATUS CODE"),
    Cell("work_rvu", NUMBER, "WORK RVU"),
    Cell("nonfacility_pe_rvu", NUMBER, "NON-FAC PE RVU"),
    Cell("nonfacility_priced", PRICED, "NON-FAC NA INDICATOR"),
    Cell("facility_pe_rvu", NUMBER, "FACILITY PE RVU"),
    Cell("facility_priced", PRICED, "FACILITY NA INDICATOR"),
    Cell("mp_rvu", NUMBER, "MP RVU"),
    Cell("nonfacility_total_rvu", NUMBER, "NON-FACILITY TOTAL"),
    Cell("facility_total_rvu", NUMBER, "FACILITY TOTAL"),
    Cell("pctc_indicator", TEXT, "PCTC IND"),
    Cell("global_days", PADDED_3, "GLOB DAYS"),
    Cell("mult_proc_indicator", TEXT, "MULT PROC"),
    Cell("bilateral_indicator", TEXT, "BILAT SURG"),
    Cell("assistant_indicator", TEXT, "ASST SURG"),
    Cell("cosurgeon_indicator", TEXT, "CO- SURG"),
    Cell("team_indicator", TEXT, "TEAM SURG"),
    Cell("pricing_indicator", TEXT, "PRICING INDICATOR"),
    Cell("endo_base", TEXT, "ENDO BASE"),
    Cell("conversion_factor", NUMBER, "CONV FACTOR"),
)
OPTIONAL = {"pricing_indicator", "description"}

# Stripped, joined, case-folded header names (see the module docstring) of each target.
_NAMES = {cell.target: header_name(cell.source) for cell in CELLS}
_NAMES["pricing_indicator"] = "pricing"  # its 2026 header text is not published: any name with "pricing"

# Fixed-width positions (1-based, inclusive) of the RVU26A record layout; the 2025 txt matches them.
FIXED_WIDTH = {
    "hcpcs_code": (1, 5), "modifier": (6, 7), "description": (8, 57), "status_code": (58, 58),
    "work_rvu": (60, 65), "nonfacility_pe_rvu": (67, 72), "nonfacility_priced": (73, 74),
    "facility_pe_rvu": (76, 81), "facility_priced": (82, 83), "mp_rvu": (85, 89),
    "nonfacility_total_rvu": (91, 96), "facility_total_rvu": (97, 102), "pctc_indicator": (103, 103),
    "global_days": (104, 106), "mult_proc_indicator": (116, 116), "bilateral_indicator": (117, 117),
    "assistant_indicator": (118, 118), "cosurgeon_indicator": (119, 119), "team_indicator": (120, 120),
    "pricing_indicator": (121, 121), "endo_base": (128, 132), "conversion_factor": (133, 140),
}  # fmt: skip
_CODE = re.compile(r"[0-9A-Z]{5}")


def recognise(sheet: Sheet) -> Recognized | None:
    if sheet.form == "txt":
        return _recognise_fixed_width(sheet)
    return _recognise_delimited(sheet)


def _recognise_delimited(sheet: Sheet) -> Recognized | None:
    preview = sheet.records[:PREVIEW_RECORDS]
    bottom = next(
        (i for i, (_, cells) in enumerate(preview) if len(cells) > 2 and [c.strip().upper() for c in cells[:2]] == ["HCPCS", "MOD"]),
        None,
    )  # fmt: skip
    if bottom is None:
        return None
    top = bottom
    while top > 0 and _is_header_part(preview[top - 1][1]):
        top -= 1
    width = max(len(cells) for _, cells in preview[top : bottom + 1])
    names = [
        header_name(" ".join(c.strip() for _, cells in preview[top : bottom + 1] if i < len(cells) and (c := cells[i]).strip()))
        for i in range(width)
    ]  # fmt: skip
    if not any(name == "conv factor" for name in names):
        return None  # another CMS file with HCPCS, MOD first (GPCI, OPPSCAP …)
    positions, missing = find_columns(names, {t: _matcher(t) for t in _NAMES})
    missing = [target for target in missing if target not in OPTIONAL]
    if missing:
        raise LayoutError(f"PPRRVU header lacks {', '.join(_NAMES[t].upper() for t in missing)}")
    title = "\n".join(" ".join(cells) for _, cells in preview[:top])
    return _recognized(sheet, bottom + 1, positions, title)


def _matcher(target: str):
    wanted = _NAMES[target]
    if target == "pricing_indicator":
        return lambda name: wanted in name
    return lambda name: name == wanted


def _is_header_part(cells: list[str]) -> bool:
    """A line of the stacked header: nothing in the first three cells, a name part further right (a title line
    has its text in the third cell only)."""
    return not any(c.strip() for c in cells[:3]) and any(c.strip() for c in cells[3:])


def _recognise_fixed_width(sheet: Sheet) -> Recognized | None:
    head = [cells[0] for _, cells in sheet.records[:PREVIEW_RECORDS]]
    headers = [line for line in head if line.startswith("HDR")]
    data = next((i for i, line in enumerate(head) if not line.startswith("HDR")), None)
    if not headers or data is None:
        return None
    first = head[data]
    cf_start, cf_end = FIXED_WIDTH["conversion_factor"]
    if len(first) < cf_end or not _CODE.fullmatch(first[:5]) or not _is_number(first[cf_start - 1 : cf_end]):
        return None
    positions = {target: (start - 1, end) for target, (start, end) in FIXED_WIDTH.items()}
    return _recognized(sheet, data, positions, "\n".join(line[3:] for line in headers))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _recognized(sheet: Sheet, data_start: int, positions: dict, title: str) -> Recognized:
    names = [name for name in (sheet.member, sheet.name) if name]
    release = pfs_release(title, names)
    if release is None:
        raise LayoutError(
            "PPRRVU file without a release: neither its title lines nor its name (e.g. RVU25D, PPRRVU25_JAN) "
            "say which quarter it is"
        )
    joined = " ".join(names).lower()
    variant = (
        "non_qpp" if "nonqpp" in joined.replace("-", "").replace("_", "") else "qpp" if "qpp" in joined else "standard"
    )
    return Recognized(LAYOUT, sheet, data_start, positions, release, variant)


LAYOUT = Layout("pfs_rvu", PFS_RVU_CONTRACT, CELLS, recognise, "PFS national relative value file (PPRRVU)")
__all__ = ["LAYOUT", "layouts"]
