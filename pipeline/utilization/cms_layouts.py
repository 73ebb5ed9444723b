"""Recognize a CMS utilization file from its header, and its data year and CMS release from its name.

Layouts and their accepted header forms are derived from the utilization contracts: each contract
column declares the CMS header it comes from (``cms_column``) and, for provider files, the pre-2019
header (``legacy_column``).  A header is matched by name (case-insensitive, in any order) against
each form; columns a form may lack are NULL, and declared legacy extras are read and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from pipeline.contracts.table_contract import TableContract
from pipeline.contracts.utilization_tables import GEO_CONTRACT, LEGACY_IGNORED_COLUMNS, PROVIDER_CONTRACT

_CMS_YEAR = re.compile(r"_D(\d{2})(?:_|\.|$)", re.IGNORECASE)
_CMS_RELEASE = re.compile(r"(?:^|_)R(\d{2})_P(\d{2})_V(\d{2})_D\d{2}(?:_|\.|$)", re.IGNORECASE)
_FOUR_DIGIT_YEAR = re.compile(r"(?<![0-9])(20[0-9]{2})(?![0-9])")


@dataclass(frozen=True)
class Layout:
    name: str
    contract: TableContract

    @property
    def table(self) -> str:
        return self.contract.table

    def sources(self, naming: str) -> list[tuple[str, str, str, bool]]:
        """(file column, our column, SQL type, may be absent) for a naming ('cms_column' or 'legacy_column')."""
        optional_key = "optional" if naming == "cms_column" else "legacy_optional"
        return [
            (meta[naming], name, meta["sql_type"], bool(meta.get(optional_key)))
            for name, col in self.contract.schema.columns.items()
            if (meta := col.metadata or {}).get(naming)
        ]

    @property
    def cms_columns(self) -> list[tuple[str, str, str]]:
        """(CMS header, our column, SQL type) of the current CMS form, every column present."""
        return [(file, ours, sql_type) for file, ours, sql_type, _ in self.sources("cms_column")]


@dataclass(frozen=True)
class FileForm:
    """One accepted naming of a layout's columns."""

    layout: Layout
    naming: str  # metadata key: cms_column or legacy_column
    label: str
    ignored: tuple[str, ...] = ()

    @cached_property
    def by_folded_name(self) -> dict[str, tuple[str, str, bool]]:
        return {
            file.casefold(): (ours, sql_type, opt) for file, ours, sql_type, opt in self.layout.sources(self.naming)
        }

    @cached_property
    def folded_ignored(self) -> frozenset[str]:
        return frozenset(name.casefold() for name in self.ignored)


@dataclass(frozen=True)
class FileColumn:
    """A column of the file as read: its header text, SQL type, and our column (None: read and ignored)."""

    header: str
    sql_type: str
    target: str | None


@dataclass(frozen=True)
class RecognizedHeader:
    form: FileForm
    columns: tuple[FileColumn, ...]

    @property
    def layout(self) -> Layout:
        return self.form.layout

    @property
    def ignored(self) -> list[str]:
        return [column.header for column in self.columns if column.target is None]

    @property
    def absent(self) -> list[str]:
        present = {column.target for column in self.columns}
        return [ours for _, ours, _ in self.layout.cms_columns if ours not in present]

    def describe(self) -> str:
        text = f"{self.form.label}, {len(self.columns)} columns"
        if self.absent:
            text += f"; absent (NULL): {', '.join(self.absent)}"
        if self.ignored:
            text += f"; ignored columns: {', '.join(self.ignored)}"
        return text


GEO_LAYOUT = Layout("geo_service", GEO_CONTRACT)
PROVIDER_LAYOUT = Layout("provider_service", PROVIDER_CONTRACT)
LAYOUTS = (GEO_LAYOUT, PROVIDER_LAYOUT)
FORMS = (
    FileForm(GEO_LAYOUT, "cms_column", "CMS naming"),
    FileForm(PROVIDER_LAYOUT, "cms_column", "CMS naming"),
    FileForm(PROVIDER_LAYOUT, "legacy_column", "pre-2019 Physician and Other Supplier naming", LEGACY_IGNORED_COLUMNS),
)


class UnknownLayoutError(ValueError):
    pass


class DataYearError(ValueError):
    pass


def recognize_layout(header: list[str]) -> RecognizedHeader:
    """The form whose names the header uses (any case and order), or an error naming the differences."""
    folded = [h.strip().casefold() for h in header]
    duplicates = sorted({h for h in header if folded.count(h.strip().casefold()) > 1})
    if duplicates:
        raise UnknownLayoutError(f"unknown header: repeated columns {', '.join(duplicates)}")
    for form in FORMS:
        if _matches(form, folded):
            return RecognizedHeader(form, tuple(_file_column(form, h) for h in header))
    raise UnknownLayoutError("unknown header: " + _nearest_difference(header, folded))


def _matches(form: FileForm, folded: list[str]) -> bool:
    known = form.by_folded_name
    required = {name for name, (_, _, optional) in known.items() if not optional}
    present = set(folded)
    return required <= present and present <= set(known) | form.folded_ignored


def _file_column(form: FileForm, header: str) -> FileColumn:
    mapped = form.by_folded_name.get(header.strip().casefold())
    if mapped is None:
        return FileColumn(header, "VARCHAR", None)
    return FileColumn(header, mapped[1], mapped[0])


def _nearest_difference(header: list[str], folded: list[str]) -> str:
    nearest = max(FORMS, key=lambda form: len(set(folded) & set(form.by_folded_name)))
    expected = {file.casefold(): file for file, _, _, _ in nearest.layout.sources(nearest.naming)}
    optional = {file.casefold() for file, _, _, opt in nearest.layout.sources(nearest.naming) if opt}
    missing = [name for key, name in expected.items() if key not in folded and key not in optional]
    unexpected = [h for h in header if h.strip().casefold() not in expected | dict.fromkeys(nearest.folded_ignored)]
    parts = [f"{len(header)} columns; closest layout is '{nearest.layout.name}' ({nearest.label})"]
    if missing:
        parts.append(f"missing: {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected: {', '.join(unexpected)}")
    return "; ".join(parts)


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


def cms_release_from_name(file_name: str) -> tuple[int, int, int] | None:
    """(R, P, V) of a CMS name such as MUP_PHY_R25_P05_V20_D23_Geo.csv → (25, 5, 20); None for other names."""
    match = _CMS_RELEASE.search(file_name)
    return tuple(int(part) for part in match.groups()) if match else None


def release_label(release: tuple[int, int, int] | None) -> str | None:
    return None if release is None else f"R{release[0]:02d}_P{release[1]:02d}_V{release[2]:02d}"
