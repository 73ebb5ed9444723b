"""The marts asset: rebuilds stale marts (pipeline/marts/build.py), each in its own transaction, and reports row counts."""

import sys
from pathlib import Path

import dagster as dg

from pipeline.contracts.mart_tables import LISTS_SCHEMA, MART_CONTRACTS
from pipeline.contracts.table_contract import TableContract
from pipeline.defs.asset_specs import (
    asset_key,
    asset_spec,
    module_file,
    source_digest,
    table_asset_key,
    table_data_version,
)
from pipeline.defs.checks import contract_checks
from pipeline.defs.resources import WAREHOUSE_POOL, WarehouseResource
from pipeline.marts import build
from pipeline.marts.build import mart_inputs, rebuild_stale_marts
from pipeline.marts.queries import MART_SQL_DIR
from pipeline.warehouse.change_log import latest_versions
from pipeline.warehouse.tables import ensure_schemas, row_count

GROUP = "marts"
# The list-valued marts are not what the `marts` group promises (scalar columns, filterable in Superset).
GROUP_BY_SCHEMA = {LISTS_SCHEMA: "marts_lists"}
PYTHON_FILES = (module_file(build), module_file(sys.modules[__name__]))


def _deps(contract: TableContract) -> list[dg.AssetKey]:
    return [table_asset_key(table) for table in mart_inputs(contract)]


def mart_sql_file(contract: TableContract) -> Path:
    return MART_SQL_DIR / f"{contract.table_name}.sql"


def _spec(contract: TableContract) -> dg.AssetSpec:
    return asset_spec(
        contract,
        group=GROUP_BY_SCHEMA.get(contract.schema_name, GROUP),
        deps=_deps(contract),
        kinds=("duckdb", "sql"),
        code_version=source_digest(mart_sql_file(contract), module_file(build)),
        code_files=(mart_sql_file(contract), *PYTHON_FILES),
    )


@dg.multi_asset(
    name="mart_tables",
    specs=[_spec(c) for c in MART_CONTRACTS],
    can_subset=False,
    pool=WAREHOUSE_POOL,
    description="Rebuild the marts whose input tables changed, each in its own transaction (pipeline/marts/sql/*.sql).",
)
def mart_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect() as con:
        ensure_schemas(con, *sorted({c.schema_name for c in MART_CONTRACTS}), "internal")
        rebuilt = rebuild_stale_marts(con, commit_each=True)
        counts = {c: row_count(con, c.table) for c in MART_CONTRACTS}
        versions = latest_versions(con)
    context.log.info(f"marts rebuilt: {', '.join(rebuilt) or 'none (no input changed)'}")
    for contract, count in counts.items():
        yield dg.MaterializeResult(
            asset_key=asset_key(contract),
            data_version=table_data_version(versions, contract.table),
            metadata={"dagster/row_count": count, "rebuilt_in_this_run": contract.table in rebuilt},
        )


MART_CHECKS = [contract_checks(MART_CONTRACTS, name="mart_table_checks")]
