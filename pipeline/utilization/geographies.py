"""The geography reference (``sources/reference/geographies.csv``): FIPS and CMS codes with their type.

It becomes ``utilization.geographies`` (for BI joins) and gives every loaded State row its
``geo_type``.  A malformed reference stops the run: every geography row would be typed wrongly.
"""

from __future__ import annotations

from pathlib import Path

import pandera.errors

from pipeline.contracts.utilization_tables import GEOGRAPHIES_CONTRACT, Geographies
from pipeline.core.reference_data import ReferenceDataError, read_reference_csv
from pipeline.table_changes import record_change
from pipeline.warehouse_tables import frame_for, replace_table

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
    con.execute("BEGIN TRANSACTION")
    try:
        replace_table(con, GEOGRAPHIES_CONTRACT, frame)
        changed = _content(con) != before
        if changed:
            record_change(con, GEOGRAPHIES_CONTRACT.table)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return changed


def _content(con) -> list[tuple] | None:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'utilization' AND table_name = 'geographies'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(f"SELECT * FROM {GEOGRAPHIES_CONTRACT.table} ORDER BY geo_code").fetchall()
