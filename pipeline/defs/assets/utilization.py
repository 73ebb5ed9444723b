"""Utilization folder → ``utilization`` tables, loaded and validated inside DuckDB."""

import sys
from pathlib import Path

import dagster as dg

from pipeline.contracts.utilization_tables import UTILIZATION_CONTRACTS
from pipeline.core.domains import REJECTED, SKIPPED
from pipeline.core.reference_data import synthetic_file_digests
from pipeline.defs.asset_specs import asset_key, asset_spec, module_file, source_digest, source_key, table_data_version
from pipeline.defs.checks import contract_checks, quarantine_check
from pipeline.defs.resources import (
    WAREHOUSE_POOL,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    WarehouseResource,
)
from pipeline.utilization import loader
from pipeline.utilization.geographies import replace_geographies
from pipeline.utilization.loader import QUARANTINE, FileOutcome, LoadSettings, load_folder
from pipeline.warehouse.change_log import latest_versions, record_changes, record_unversioned
from pipeline.warehouse.tables import ensure_schemas, ensure_table, row_count, transaction

GROUP = "utilization"
CONTRACTS = {c.table: c for c in UTILIZATION_CONTRACTS}
DATA_TABLES = ("utilization.physician_geo_service", "utilization.physician_provider_service")


UTILIZATION_CODE = Path(loader.__file__).resolve().parent  # the loader and its helpers, one package
PYTHON_FILES = (module_file(loader), module_file(sys.modules[__name__]))


@dg.multi_asset(
    name="utilization_tables",
    specs=[
        asset_spec(
            contract,
            group=GROUP,
            kinds=("duckdb", "csv"),
            deps=[source_key("utilization"), source_key("reference")],
            code_version=source_digest(UTILIZATION_CODE),
            code_files=PYTHON_FILES,
        )
        for contract in UTILIZATION_CONTRACTS
    ],
    can_subset=False,
    pool=WAREHOUSE_POOL,
    description="Load new or changed CMS utilization files (.csv, .txt, .csv.gz, .zip) with DuckDB's CSV reader; "
    "quarantine failing lines; record every folder entry in utilization.source_files.",
)
def utilization_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: SourcesResource,
    limits: LimitsResource,
    overrides: OverridesResource,
):
    settings = LoadSettings(
        scratch_dir=warehouse.working_file.with_name(warehouse.working_file.name + ".tmp") / "utilization",
        synthetic_digests=synthetic_file_digests(sources.reference),
        allow_shrink=overrides.allow_shrink,
        max_file_shrink=limits.utilization_max_file_shrink,
        max_quarantine_fraction=limits.utilization_max_quarantine_fraction,
        zip_caps=limits.zip_caps,
    )
    with warehouse.connect() as con:
        prepare_tables(con, sources.reference)
        outcomes, removed = load_folder(con, sources.utilization, settings)
        counts = {table: row_count(con, table) for table in CONTRACTS}
        versions = latest_versions(con)
    log_outcomes(context, outcomes, removed)
    files_table = [
        {"file": o.file_name, "status": o.status, "loaded": o.rows_loaded, "quarantined": o.rows_quarantined,
         "error": o.error or ""}
        for o in outcomes
    ]  # fmt: skip
    for table, contract in CONTRACTS.items():
        metadata = {"dagster/row_count": counts[table]}
        if table == "utilization.source_files":
            metadata["files"] = dg.MetadataValue.json(files_table)
        yield dg.MaterializeResult(
            asset_key=asset_key(contract), data_version=table_data_version(versions, table), metadata=metadata
        )


def prepare_tables(con, reference_dir: Path) -> None:
    ensure_schemas(con, "utilization")
    with transaction(con):
        recreated = [table for table, contract in CONTRACTS.items() if ensure_table(con, contract)]
        if any(table != "utilization.geographies" for table in recreated):
            # A table rebuilt for a new contract is empty (or lost its quarantine rows): every file loads again.
            con.execute("DELETE FROM utilization.source_files")
            recreated.append("utilization.source_files")
        # A (re)created table is a new version; one no file ever wrote to (no provider file yet) gets its first
        # version here, or every publish would count it as changed.
        record_changes(con, sorted(set(recreated)))
        record_unversioned(con, CONTRACTS)
    replace_geographies(con, reference_dir)


def log_outcomes(context, outcomes: list[FileOutcome], removed: list[str]) -> None:
    for outcome in outcomes:
        if outcome.status == REJECTED:
            context.log.error(f"{outcome.file_name}: rejected: {outcome.error}")
        elif outcome.status == SKIPPED:
            context.log.info(f"{outcome.file_name}: skipped: {outcome.error}")
        elif outcome.skipped_unchanged:
            context.log.info(f"{outcome.file_name}: unchanged since the last load, not read again")
        else:
            context.log.info(
                f"{outcome.file_name}: {outcome.layout} {outcome.data_year}, {outcome.rows_loaded} rows loaded, "
                f"{outcome.rows_quarantined} lines quarantined; seconds {outcome.timings}"
            )
    if removed:
        context.log.info(f"removed files no longer in the folder: {', '.join(removed)}")


UTILIZATION_CHECKS = [
    contract_checks(
        UTILIZATION_CONTRACTS,
        name="utilization_table_checks",
        extra_specs=tuple(quarantine_check(CONTRACTS[table], QUARANTINE) for table in DATA_TABLES),
    )
]
