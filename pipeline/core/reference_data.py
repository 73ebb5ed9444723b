"""Load the curated reference CSVs in ``sources/reference/``.

The CSVs are the single source of payer aliases, care-site mappings, modifiers
and POS codes; code never hard-codes them.  Loading is strict: a malformed
reference file stops the run with a message naming the file and row, because
every document would otherwise be resolved against wrong data.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

REFERENCE_FILES = {
    "payers": ("payer_id", "payer_name", "payer_type", "parent_organization", "sop_typology_code"),
    "payer_aliases": ("alias", "payer_id"),
    "care_sites": ("care_site_id", "care_site_name", "pos_codes", "cms_facility_setting"),
    "care_site_aliases": ("alias", "care_site_id", "why"),
    "modifiers": ("modifier_code", "description", "is_real_modifier"),
    "place_of_service": ("place_of_service_code", "place_of_service_name"),
}


class ReferenceDataError(ValueError):
    """A reference CSV is missing, has the wrong columns or an inconsistent row."""


@dataclass(frozen=True)
class ReferenceData:
    payers: list[dict[str, str]]
    payer_aliases: list[dict[str, str]]
    care_sites: list[dict[str, str]]
    care_site_aliases: list[dict[str, str]]
    modifiers: list[dict[str, str]]
    place_of_service: list[dict[str, str]]


def read_reference_csv(path: Path, expected_columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise ReferenceDataError(f"reference file {path} is missing")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        if header != expected_columns:
            raise ReferenceDataError(f"{path.name}: columns {list(header)}, expected {list(expected_columns)}")
        rows = []
        for line_number, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise ReferenceDataError(f"{path.name} line {line_number}: wrong number of fields")
            rows.append({key: value.strip() for key, value in row.items()})
    return rows


def load_reference_data(directory: Path) -> ReferenceData:
    tables = {name: read_reference_csv(directory / f"{name}.csv", cols) for name, cols in REFERENCE_FILES.items()}
    data = ReferenceData(**tables)
    _check_consistency(data)
    return data


def _check_consistency(data: ReferenceData) -> None:
    payer_ids = {row["payer_id"] for row in data.payers}
    for row in data.payer_aliases:
        if row["payer_id"] not in payer_ids:
            raise ReferenceDataError(f"payer_aliases.csv: alias {row['alias']!r} points to unknown {row['payer_id']!r}")
    site_ids = {row["care_site_id"] for row in data.care_sites}
    for row in data.care_site_aliases:
        if row["care_site_id"] not in site_ids:
            raise ReferenceDataError(
                f"care_site_aliases.csv: alias {row['alias']!r} points to unknown {row['care_site_id']!r}"
            )
    pos = {row["place_of_service_code"] for row in data.place_of_service}
    for row in data.care_sites:
        unknown = [code for code in pos_code_list(row["pos_codes"]) if code not in pos]
        if unknown:
            raise ReferenceDataError(f"care_sites.csv: {row['care_site_id']} has unknown POS codes {unknown}")


def pos_code_list(value: str) -> list[str]:
    """'19;22' -> ['19', '22'] (semicolon-separated in the CSV)."""
    return [part.strip() for part in value.split(";") if part.strip()]


SYNTHETIC_FILES_COLUMNS = ("sha256", "file_name", "note")


def synthetic_file_digests(directory: Path) -> frozenset[str]:
    """SHA-256 of the utilization files known to be synthetic samples, so BI users can tell them from CMS data.

    Decided by content, never by name: the real CMS file named like the bundled sample is not synthetic."""
    path = directory / "synthetic_utilization_files.csv"
    if not path.is_file():
        return frozenset()
    digests = set()
    for line_number, row in enumerate(read_reference_csv(path, SYNTHETIC_FILES_COLUMNS), start=2):
        digest = row["sha256"].lower()
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise ReferenceDataError(
                f"{path.name} line {line_number}: sha256 {row['sha256']!r} is not a SHA-256 digest"
            )
        digests.add(digest)
    return frozenset(digests)
