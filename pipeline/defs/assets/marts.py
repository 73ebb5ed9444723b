"""The marts asset: rebuilds stale marts (pipeline/marts/build.py) in one transaction and reports row counts."""

import dagster as dg

from pipeline.contracts.mart_tables import MART_CONTRACTS
from pipeline.contracts.table_contract import TableContract
from pipeline.defs.checks import asset_key, asset_spec, contract_checks, table_asset_key
from pipeline.defs.resources import WAREHOUSE_POOL, WarehouseResource
from pipeline.marts.build import mart_inputs, rebuild_stale_marts
from pipeline.warehouse.tables import ensure_schemas, row_count, transaction

GROUP = "marts"


def _deps(contract: TableContract) -> list[dg.AssetKey]:
    return [table_asset_key(table) for table in mart_inputs(contract)]


@dg.multi_asset(
    name="mart_tables",
    specs=[asset_spec(c, group=GROUP, deps=_deps(c), kinds=("duckdb", "sql")) for c in MART_CONTRACTS],
    can_subset=False,
    pool=WAREHOUSE_POOL,
    description="Rebuild, in one transaction, the marts whose input tables changed (pipeline/marts/sql/*.sql).",
)
def mart_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect() as con:
        ensure_schemas(con, *sorted({c.schema_name for c in MART_CONTRACTS}), "internal")
        with transaction(con):
            rebuilt = rebuild_stale_marts(con)
        counts = {c: row_count(con, c.table) for c in MART_CONTRACTS}
    context.log.info(f"marts rebuilt: {', '.join(rebuilt) or 'none (no input changed)'}")
    for contract, count in counts.items():
        yield dg.MaterializeResult(
            asset_key=asset_key(contract),
            metadata={"dagster/row_count": count, "rebuilt_in_this_run": contract.table in rebuilt},
        )


MART_CHECKS = [contract_checks(MART_CONTRACTS, name="mart_table_checks")]
