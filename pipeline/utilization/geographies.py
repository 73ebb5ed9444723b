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
from pipeline.warehouse.tables import frame_for, replace_table, run_in_transaction

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
    outcome = {}

    def replace(con) -> None:
        replace_table(con, GEOGRAPHIES_CONTRACT, frame)
        outcome["changed"] = _content(con) != before
        if outcome["changed"]:
            record_change(con, GEOGRAPHIES_CONTRACT.table)
            _retype_loaded_rows(con)

    run_in_transaction(con, replace)
    changed = outcome["changed"]
    return changed


def _retype_loaded_rows(con) -> None:
    """Rows loaded earlier carry the geo_type of their day: a reference edit must reach them too."""
    fact = GEO_CONTRACT.table
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'utilization' AND table_name = ?",
        [GEO_CONTRACT.table_name],
    ).fetchone()[0]
    if not exists:
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
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'utilization' AND table_name = 'geographies'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(f"SELECT * FROM {GEOGRAPHIES_CONTRACT.table} ORDER BY geo_code").fetchall()
