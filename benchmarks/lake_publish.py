"""Lake publish benchmark: a one-document change published to the DuckLake, beside the file publish of the same change.

    uv run python benchmarks/lake_publish.py [--rows 10000000] [--rows 50000000]

For each --rows N (default 10M): the sample is built by the pipeline in a temporary folder; N provider rows (the
sample's rows repeated under new NPIs, generated with DuckDB's range()) are added to
utilization.physician_provider_service and published (file and lake: the lake's first load). Then one document is
edited and the documents' part of the pipeline runs (core, marts, serving), as the sensor's `documents_changed`
job would; the serving file's publish time and tables come from the asset's metadata. The same change is then
committed to the lake (a real PostgreSQL started from the installed server, data in a local folder), and both
are printed side by side:
  file      the serving publish of the change (copy of the previous file, changed tables rewritten, or a rebuild)
  lake      the whole lake publish: starting the pinned DuckDB 1.5.5 process, loading its extensions,
            attaching the catalog, committing the snapshot (the figure the 1 s target is about)
  commit    the lake publish inside that process, without its start
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.definitions import ASSETS, CHECKS
from pipeline.defs.resources import (
    LakeResource,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    SupersetResource,
    WarehouseResource,
)
from pipeline.publishing.lake import LakeSettings, publish_to_lake
from pipeline.publishing.snapshot import publish_snapshot
from pipeline.settings import REPO_ROOT
from pipeline.warehouse.change_log import record_change
from tests.postgres_server import start_postgres

PROVIDER = "utilization.physician_provider_service"
SERVING_KEY = dg.AssetKey(["serving", "cpt_analytics"])


def resources(root: Path) -> dict:
    return {
        "warehouse": WarehouseResource(
            database=str(root / "cpt.duckdb"), serving_path=str(root / "serving.duckdb"), lock_timeout_seconds=60
        ),
        "sources": SourcesResource(
            documents_dir=str(root / "documents"),
            utilization_dir=str(root / "utilization"),
            reference_dir=str(REPO_ROOT / "sources" / "reference"),
        ),
        "limits": LimitsResource.from_env(),
        "overrides": OverridesResource.from_env(),
        "lake": LakeResource(),  # off: the benchmark publishes to the lake itself, to time it alone
        "superset": SupersetResource(),  # off: no dashboard cache to refresh
    }


def add_provider_rows(working: Path, rows: int) -> None:
    """``rows`` provider rows generated with range(): distinct (year, NPI, code, setting) keys; every 100th row bills
    a documented code (32994), so the marts join some of them."""
    special = {
        "data_year": "2023",
        "npi": "(1000000000 + i // 50)::VARCHAR",
        "hcpcs_code": "CASE WHEN i % 100 = 0 THEN '32994' ELSE lpad((10000 + i % 50 * 7)::VARCHAR, 5, '0') END",
        "place_of_service": "['F', 'O'][1 + (i // 50) % 2]",
        "source_file": "'lake_benchmark.csv'",
        "provider_state": "'TX'",
    }
    by_type = {"BIGINT": "(i % 97)::BIGINT", "DOUBLE": "(i % 1013)::DOUBLE", "INTEGER": "2023", "VARCHAR": "'x'"}
    contract = CONTRACTS_BY_TABLE[PROVIDER]
    values = ", ".join(special.get(c.name, by_type[c.sql_type]) for c in contract.columns)
    con = duckdb.connect(str(working))
    try:
        con.execute("BEGIN")
        con.execute(
            f"INSERT INTO {PROVIDER} ({', '.join(contract.column_names)}) SELECT {values} FROM range({rows}) r(i)"
        )
        record_change(con, PROVIDER)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def serving_publish(result: dg.ExecuteInProcessResult) -> tuple[float, list[str], str]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == SERVING_KEY]
    metadata = event.event_specific_data.materialization.metadata
    return metadata["publish_seconds"].value, metadata["tables_written"].value, metadata["publish_mode"].value


def run(rows: int, postgres, work: Path) -> None:
    root = work / f"rows_{rows}"
    shutil.copytree(REPO_ROOT / "sources" / "documents", root / "documents")
    (root / "utilization").mkdir(parents=True)
    for csv_file in (REPO_ROOT / "sources" / "utilization").glob("*.csv"):
        shutil.copy2(csv_file, root / "utilization" / csv_file.name)
    started = time.perf_counter()
    assert dg.materialize([*ASSETS, *CHECKS], resources=resources(root)).success
    add_provider_rows(root / "cpt.duckdb", rows)
    con = duckdb.connect(str(root / "cpt.duckdb"))
    full = publish_snapshot(con, root / "serving.duckdb")
    con.close()
    print(
        f"\n{rows:,} provider rows: built and published to the file in {time.perf_counter() - started:.1f} s "
        f"({full.bytes_written / 1e6:,.0f} MB, {full.mode})"
    )
    lake = LakeSettings(
        postgres.create_database(f"bench_{rows}"),
        str(root / "lake") + "/",
        30,
        REPO_ROOT / "warehouse" / "duckdb_extensions",
    )
    first = publish_to_lake(root / "serving.duckdb", lake)
    lake_mb = sum(f.stat().st_size for f in (root / "lake").rglob("*")) / 1e6
    print(f"  lake first load: {len(first.tables_written)} tables in {first.seconds:.1f} s ({lake_mb:,.0f} MB Parquet)")
    document = sorted((root / "documents").glob("*.txt"))[0]
    for attempt in range(2):
        document.write_text(document.read_text() + f"\nEdited for the lake benchmark ({attempt}).\n")
        result = dg.materialize(
            [*ASSETS, *CHECKS],
            resources=resources(root),
            selection=dg.AssetSelection.groups("core", "marts", "marts_lists") | dg.AssetSelection.assets(SERVING_KEY),
        )
        assert result.success
        file_seconds, file_tables, mode = serving_publish(result)
        lake_result = publish_to_lake(root / "serving.duckdb", lake)
        assert sorted(lake_result.tables_written) == sorted(file_tables), (lake_result.tables_written, file_tables)
        print(
            f"  one-document change #{attempt + 1}: {len(file_tables)} tables changed "
            f"({', '.join(file_tables)})\n"
            f"    file   {file_seconds:6.2f} s ({mode})\n"
            f"    lake   {lake_result.seconds:6.2f} s (snapshot {lake_result.snapshot_id})\n"
            f"    commit {lake_result.commit_seconds:6.2f} s (inside the lake process: "
            + ", ".join(f"{k} {v:.2f}" for k, v in lake_result.steps.items())
            + ")"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    postgres = start_postgres()
    work = Path(tempfile.mkdtemp(prefix="cpt-lake-bench-"))
    try:
        for rows in args.rows or [10_000_000]:
            run(rows, postgres, work)
    finally:
        postgres.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
