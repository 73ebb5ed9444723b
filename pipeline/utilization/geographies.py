"""The geography reference (``sources/reference/geographies.csv``): FIPS and CMS codes with their type.

It becomes ``utilization.geographies`` (for BI joins) and gives every loaded State row its
``geo_type``.  A malformed reference stops the run: every geography row would be typed wrongly.
"""

from __future__ import annotations

from pathlib import Path

import pandera.errors

from pipeline.contracts.utilization_tables import GEO_CONTRACT, GEOGRAPHIES_CONTRACT, Geographies
from pipeline.core.reference_data import ReferenceDataError, read_reference_csv
from pipeline.validation import verified_partitions
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import frame_for, replace_table, table_exists, transaction

GEOGRAPHIES_FILE = "geographies.csv"


def read_geographies(reference_dir: Path) -> list[dict[str, str]]:
    path = reference_dir / GEOGRAPHIES_FILE
    rows = read_reference_csv(path, tuple(GEOGRAPHIES_CONTRACT.column_names))
    try:
        Geographies.validate(frame_for(GEOGRAPHIES_CONTRACT, rows), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        failures = exc.failure_cases[["column", "check", "failure_case"]].head(10).to_dict("records")
        raise ReferenceDataError(f"{path}: rows break the utilization.geographies contract: {failures}") from exc
    return rows


def replace_geographies(con, reference_dir: Path) -> bool:
    """Rebuild utilization.geographies from the reference CSV; True (and logged as a change) if it changed."""
    frame = frame_for(GEOGRAPHIES_CONTRACT, read_geographies(reference_dir))
    before = _content(con)
    with transaction(con):
        replace_table(con, GEOGRAPHIES_CONTRACT, frame)
        changed = _content(con) != before
        if changed:
            record_change(con, GEOGRAPHIES_CONTRACT.table)
            _retype_loaded_rows(con)
    return changed


def _retype_loaded_rows(con) -> None:
    """Rows loaded earlier carry the geo_type of their day: a reference edit must reach them too."""
    fact = GEO_CONTRACT.table
    if not table_exists(con, GEO_CONTRACT):
        return
    updated = con.execute(
        f"UPDATE {fact} AS f SET geo_type = r.geo_type FROM {GEOGRAPHIES_CONTRACT.table} AS r "
        "WHERE f.geo_level = 'State' AND f.geo_code = r.geo_code AND f.geo_type IS DISTINCT FROM r.geo_type"
    ).fetchone()[0]
    if updated:
        record_change(con, fact)
        # Rows changed in place keep their partition's row count: the check must scan them again.
        verified_partitions.forget_table(con, fact)


def _content(con) -> list[tuple] | None:
    if not table_exists(con, GEOGRAPHIES_CONTRACT):
        return None
    return con.execute(f"SELECT * FROM {GEOGRAPHIES_CONTRACT.table} ORDER BY geo_code").fetchall()
