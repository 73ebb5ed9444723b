"""Medicare policy folder → ``medicare`` tables (fee schedules), loaded and validated inside DuckDB."""

import sys
from pathlib import Path

import dagster as dg

from pipeline.contracts.medicare_tables import MEDICARE_CONTRACTS, QUARANTINE_CONTRACT
from pipeline.core.domains import REJECTED, SKIPPED
from pipeline.core.reference_data import synthetic_file_digests
from pipeline.defs.asset_specs import asset_key, asset_spec, module_file, source_digest, source_key, table_data_version
from pipeline.defs.checks import contract_checks, quarantine_check
from pipeline.defs.resources import WAREHOUSE_POOL, LimitsResource, SourcesResource, WarehouseResource
from pipeline.medicare_policy import folder
from pipeline.medicare_policy.folder import DATA_TABLES, PolicySettings, load_folder, prepare_tables
from pipeline.warehouse.change_log import latest_versions
from pipeline.warehouse.tables import row_count

GROUP = "medicare"
CONTRACTS = {c.table: c for c in MEDICARE_CONTRACTS}
CODE = Path(folder.__file__).resolve().parent
PYTHON_FILES = (module_file(folder), module_file(sys.modules[__name__]))


@dg.multi_asset(
    name="medicare_policy_tables",
    specs=[
        asset_spec(
            contract,
            group=GROUP,
            kinds=("duckdb", "csv"),
            deps=[source_key("medicare_policy"), source_key("reference")],
            code_version=source_digest(CODE),
            code_files=PYTHON_FILES,
        )
        for contract in MEDICARE_CONTRACTS
    ],
    can_subset=False,
    pool=WAREHOUSE_POOL,
    description="Load new or changed CMS fee-schedule files (PPRRVU, OPPS Addendum B, ASC Addendum AA; csv, txt, "
    "xlsx, zip) and coding-edit files (NCCI PTP and MUE, HCPCS Level II), recognised by content; quarantine failing "
    "lines; record every entry in medicare.source_files; refresh the modifier rules and the edits' reference date.",
)
def medicare_policy_tables(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource, limits: LimitsResource
):
    settings = PolicySettings(synthetic_digests=synthetic_file_digests(sources.reference))
    with warehouse.connect() as con:
        prepare_tables(con, sources.reference, limits.reference_date)
        outcomes, removed = [], []
        if sources.medicare_policy is not None:
            outcomes, removed = load_folder(con, sources.medicare_policy, settings)
        else:
            context.log.warning("no medicare policy folder configured (CPT_MEDICARE_POLICY_DIR): nothing read")
        counts = {table: row_count(con, table) for table in CONTRACTS}
        versions = latest_versions(con)
    for outcome in outcomes:
        if outcome.status == REJECTED:
            context.log.error(f"{outcome.file_name}: rejected: {outcome.error}")
        elif outcome.status == SKIPPED:
            context.log.info(f"{outcome.file_name}: skipped: {outcome.error}")
        else:
            state = "unchanged" if outcome.unchanged else "loaded"
            context.log.info(
                f"{outcome.file_name}: {state}: {outcome.layout} {outcome.release}, {outcome.rows_loaded} rows, "
                f"{outcome.rows_quarantined} lines quarantined"
            )
    if removed:
        context.log.info(f"removed files no longer in the folder: {', '.join(removed)}")
    files = [
        {"file": o.file_name, "status": o.status, "release": o.release or "", "loaded": o.rows_loaded,
         "quarantined": o.rows_quarantined, "error": o.error or ""}
        for o in outcomes
    ]  # fmt: skip
    for table, contract in CONTRACTS.items():
        metadata = {"dagster/row_count": counts[table]}
        if table == "medicare.source_files":
            metadata["files"] = dg.MetadataValue.json(files)
        yield dg.MaterializeResult(
            asset_key=asset_key(contract), data_version=table_data_version(versions, table), metadata=metadata
        )


MEDICARE_CHECKS = [
    contract_checks(
        MEDICARE_CONTRACTS,
        name="medicare_table_checks",
        extra_specs=tuple(quarantine_check(CONTRACTS[table], QUARANTINE_CONTRACT.table) for table in DATA_TABLES),
    )
]
