"""Load the curated reference CSVs in ``sources/reference/``.

The CSVs are the single source of payer aliases, care-site mappings, modifiers
and POS codes; code never hard-codes them.  Loading is strict: a malformed
reference file stops the run with a message naming the file and row, because
every document would otherwise be resolved against wrong data.
"""

from __future__ import annotations

import csv
import io
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


def read_reference_csv(
    path: Path, expected_columns: tuple[str, ...], notes: list[str] | None = None
) -> list[dict[str, str]]:
    """Rows of a reference CSV (UTF-8, with or without BOM).  A file that is not UTF-8 but decodes as
    Windows-1252 (what Excel's "CSV (Comma delimited)" writes) is read as such, with a note appended to
    ``notes``; anything else is refused naming the file and the line."""
    if not path.is_file():
        raise ReferenceDataError(f"reference file {path} is missing")
    text = _decode_reference_bytes(path, notes)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = tuple(reader.fieldnames or ())
    if header != expected_columns:
        raise ReferenceDataError(f"{path.name}: columns {list(header)}, expected {list(expected_columns)}")
    rows = []
    for line_number, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise ReferenceDataError(f"{path.name} line {line_number}: wrong number of fields")
        rows.append({key: value.strip() for key, value in row.items()})
    return rows


def _decode_reference_bytes(path: Path, notes: list[str] | None) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f"{path.name} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8"
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ReferenceDataError(
                f'{path} cannot be decoded: {where}, nor Windows-1252; save it as UTF-8 (Excel: "CSV UTF-8")'
            ) from None
        if notes is not None:
            notes.append(
                f"{path}: not UTF-8 ({where}); read as Windows-1252 (cp1252), which Excel's \"CSV (Comma "
                f'delimited)" writes. Save it as "CSV UTF-8" to make this note go away'
            )
        return text


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
    """SHA-256 of the source files known to be synthetic samples (the bundled utilization and medicare policy
    samples), so BI users can tell them from CMS data.

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
