"""Utilization folder → ``utilization`` tables, loaded and validated inside DuckDB."""

from pathlib import Path

import dagster as dg

from pipeline.assets.contract_metadata import asset_key, asset_spec, contract_checks
from pipeline.contracts.utilization_tables import UTILIZATION_CONTRACTS
from pipeline.core.reference_data import synthetic_file_names
from pipeline.resources import SourcesResource, WarehouseResource
from pipeline.utilization.loader import QUARANTINE, forget_removed_files, list_utilization_files, load_file
from pipeline.warehouse_tables import ensure_schemas, ensure_table, row_count

GROUP = "utilization"
CONTRACTS = {c.table: c for c in UTILIZATION_CONTRACTS}
DATA_TABLES = ("utilization.physician_geo_service", "utilization.physician_provider_service")


@dg.multi_asset(
    name="utilization_tables",
    specs=[asset_spec(contract, group=GROUP, kinds=("duckdb", "csv")) for contract in UTILIZATION_CONTRACTS],
    can_subset=False,
    description="Load new or changed CMS utilization CSVs with DuckDB's CSV reader; quarantine failing rows.",
)
def utilization_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource):
    files = list_utilization_files(Path(sources.utilization_dir))
    with warehouse.connect() as con:
        ensure_schemas(con, "utilization")
        recreated = [table for table, contract in CONTRACTS.items() if ensure_table(con, contract)]
        if any(table in DATA_TABLES for table in recreated):
            # A table rebuilt for a new contract is empty: every file must load again.
            con.execute("DELETE FROM utilization.source_files")
        removed = forget_removed_files(con, {path.name for path in files})
        claimed: dict[tuple[str, int], str] = {}
        synthetic = synthetic_file_names(Path(sources.reference_dir))
        outcomes = [load_file(con, path, claimed_years=claimed, synthetic_names=synthetic) for path in files]
        counts = {table: row_count(con, table) for table in CONTRACTS}

    for outcome in outcomes:
        if outcome.status == "rejected":
            context.log.error(f"{outcome.file_name}: {outcome.error}")
        elif outcome.skipped_unchanged:
            context.log.info(f"{outcome.file_name}: unchanged since the last load, skipped")
        else:
            context.log.info(
                f"{outcome.file_name}: {outcome.layout} {outcome.data_year}, {outcome.rows_loaded} rows loaded, "
                f"{outcome.rows_quarantined} quarantined; seconds {outcome.timings}"
            )
    if removed:
        context.log.info(f"removed files no longer in the folder: {', '.join(removed)}")
    files_table = [
        {
            "file": o.file_name,
            "status": o.status,
            "loaded": o.rows_loaded,
            "quarantined": o.rows_quarantined,
            "error": o.error or "",
        }
        for o in outcomes
    ]
    for table, contract in CONTRACTS.items():
        metadata = {"dagster/row_count": counts[table]}
        if table == "utilization.source_files":
            metadata["files"] = dg.MetadataValue.json(files_table)
        yield dg.MaterializeResult(asset_key=asset_key(contract), metadata=metadata)


def _quarantine_spec(table: str) -> tuple[dg.AssetCheckSpec, object]:
    layout = "geo_service" if table.endswith("geo_service") else "provider_service"
    spec = dg.AssetCheckSpec(
        "no_quarantined_rows",
        asset=asset_key(CONTRACTS[table]),
        blocking=False,
        description=f"Warns when rows of {table} failed the contract and were moved to {QUARANTINE}.",
    )

    def evaluate(con) -> dg.AssetCheckResult:
        count = con.execute(f"SELECT count(*) FROM {QUARANTINE} WHERE layout = ?", [layout]).fetchone()[0]
        sample = con.execute(
            f"SELECT source_file, line_number, reasons, row_data FROM {QUARANTINE} WHERE layout = ? "
            "ORDER BY source_file, line_number LIMIT 10",
            [layout],
        ).fetchall()
        return dg.AssetCheckResult(
            passed=count == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{count} rows quarantined" if count else "no rows quarantined",
            metadata={
                "quarantined_rows": count,
                "sample": dg.MetadataValue.json(
                    [{"file": f, "line": line, "reasons": r, "row": d} for f, line, r, d in sample]
                ),
            },
        )

    return spec, evaluate


UTILIZATION_CHECKS = [
    contract_checks(
        UTILIZATION_CONTRACTS,
        name="utilization_table_checks",
        extra_specs=tuple(_quarantine_spec(table) for table in DATA_TABLES),
    )
]
