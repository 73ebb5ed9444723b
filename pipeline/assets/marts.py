"""Marts: BI-ready joins of the core tables and utilization, defined in ``warehouse/marts/*.sql``."""

import dagster as dg

from pipeline.assets.contract_metadata import asset_key, asset_spec, contract_checks
from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.contracts.mart_tables import MART_CONTRACTS
from pipeline.contracts.utilization_tables import UTILIZATION_CONTRACTS
from pipeline.mart_sql import mart_query
from pipeline.resources import WarehouseResource
from pipeline.warehouse_tables import create_table, ensure_schemas, row_count

GROUP = "marts"
UPSTREAM = [asset_key(c) for c in CORE_CONTRACTS + UTILIZATION_CONTRACTS]


@dg.multi_asset(
    name="mart_tables",
    specs=[asset_spec(contract, group=GROUP, deps=UPSTREAM, kinds=("duckdb", "sql")) for contract in MART_CONTRACTS],
    can_subset=False,
    description="Rebuild the marts from warehouse/marts/*.sql in one transaction.",
)
def mart_tables(warehouse: WarehouseResource):
    counts = {}
    with warehouse.connect() as con:
        ensure_schemas(con, "marts")
        con.execute("BEGIN TRANSACTION")
        try:
            for contract in MART_CONTRACTS:
                create_table(con, contract)
                columns = ", ".join(contract.column_names)
                con.execute(f"INSERT INTO {contract.table} ({columns}) {mart_query(contract.table_name)}")
                counts[contract] = row_count(con, contract.table)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    for contract, count in counts.items():
        yield dg.MaterializeResult(asset_key=asset_key(contract), metadata={"dagster/row_count": count})


MART_CHECKS = [contract_checks(MART_CONTRACTS, name="mart_table_checks")]
