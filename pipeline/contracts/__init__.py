"""Table contracts: one pandera model per warehouse table.

Each model is the single source of a table's column names, types, descriptions
and checks.  DDL, DuckDB ``COMMENT ON`` statements and the SQL checks are derived from it
in ``table_contract``; Dagster's column metadata in ``pipeline/defs/asset_specs.py``.

The collections below are built on first use: a process that needs one layer's contracts (a document worker
imports ``core_tables`` only) does not build the other forty models.
"""

from pipeline.contracts.table_contract import TableContract

__all__ = ["ALL_CONTRACTS", "BOOKKEEPING_CONTRACTS", "CONTRACTS_BY_TABLE", "TableContract"]


def __getattr__(name: str):
    if name == "BOOKKEEPING_CONTRACTS":
        from pipeline.contracts.bookkeeping_tables import BOOKKEEPING_CONTRACTS

        value = BOOKKEEPING_CONTRACTS
    elif name == "ALL_CONTRACTS":
        from pipeline.contracts.core_tables import CORE_CONTRACTS
        from pipeline.contracts.mart_tables import MART_CONTRACTS
        from pipeline.contracts.medicare_tables import MEDICARE_CONTRACTS
        from pipeline.contracts.utilization_tables import UTILIZATION_CONTRACTS

        # The published tables: the data dictionary, the asset graph and the BI snapshot follow this list. The
        # pipeline's own ``internal`` tables (BOOKKEEPING_CONTRACTS) are contracts too, but never published.
        value = CORE_CONTRACTS + UTILIZATION_CONTRACTS + MEDICARE_CONTRACTS + MART_CONTRACTS
    elif name == "CONTRACTS_BY_TABLE":
        value = {contract.table: contract for contract in __getattr__("ALL_CONTRACTS")}
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # built once; later lookups find the module attribute
    return value
