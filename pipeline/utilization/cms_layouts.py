"""Recognize a CMS utilization file from its header and its data year from its name.

Layouts are derived from the utilization contracts: each contract column names
the CMS header it comes from, so the expected header, the explicit read_csv
types and the rename to snake_case all come from one place.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.contracts.table_contract import TableContract
from pipeline.contracts.utilization_tables import GEO_CONTRACT, PROVIDER_CONTRACT

_CMS_YEAR = re.compile(r"_D(\d{2})_", re.IGNORECASE)
_FOUR_DIGIT_YEAR = re.compile(r"(?<![0-9])(20[0-9]{2})(?![0-9])")


@dataclass(frozen=True)
class Layout:
    name: str
    contract: TableContract

    @property
    def cms_columns(self) -> list[tuple[str, str, str]]:
        """(CMS header, our column, SQL type) in file order."""
        return [
            (col.metadata["cms_column"], name, col.metadata["sql_type"])
            for name, col in self.contract.schema.columns.items()
            if col.metadata and "cms_column" in col.metadata
        ]

    @property
    def header(self) -> list[str]:
        return [cms for cms, _, _ in self.cms_columns]


LAYOUTS = (Layout("geo_service", GEO_CONTRACT), Layout("provider_service", PROVIDER_CONTRACT))


class UnknownLayoutError(ValueError):
    pass


class DataYearError(ValueError):
    pass


def read_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        first = handle.readline(1 << 16)
    text = first.decode("utf-8-sig", errors="replace").strip("\r\n")
    return next(csv.reader(io.StringIO(text)), [])


def recognize_layout(header: list[str]) -> Layout:
    """The layout whose header matches exactly (case-insensitive), or an error naming the differences."""
    folded = [h.strip().casefold() for h in header]
    for layout in LAYOUTS:
        if folded == [h.casefold() for h in layout.header]:
            return layout
    nearest = max(LAYOUTS, key=lambda lay: len(set(folded) & {h.casefold() for h in lay.header}))
    expected = {h.casefold(): h for h in nearest.header}
    missing = [h for key, h in expected.items() if key not in folded]
    unexpected = [h for h in header if h.strip().casefold() not in expected]
    parts = [f"{len(header)} columns; closest layout is '{nearest.name}' ({len(nearest.header)} columns)"]
    if missing:
        parts.append(f"missing: {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected: {', '.join(unexpected)}")
    if not missing and not unexpected:
        parts.append("same columns in a different order")
    raise UnknownLayoutError("unknown header: " + "; ".join(parts))


def data_year_from_name(file_name: str) -> int:
    """CMS names carry the year as _Dyy_ (MUP_PHY_R25_P05_V20_D23_Geo.csv is 2023); else a 4-digit 20xx year."""
    match = _CMS_YEAR.search(file_name)
    if match:
        return 2000 + int(match.group(1))
    years = _FOUR_DIGIT_YEAR.findall(file_name)
    if len(set(years)) == 1:
        return int(years[0])
    raise DataYearError(
        f"cannot tell the data year from the file name {file_name!r}: use the CMS name (…_D23_…) "
        "or put exactly one four-digit year in the name (e.g. physician_geo_2023.csv)"
    )
