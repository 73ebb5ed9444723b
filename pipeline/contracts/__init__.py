"""Table contracts: one pandera model per warehouse table.

Each model is the single source of a table's column names, types, descriptions
and checks.  DDL, DuckDB ``COMMENT ON`` statements and the SQL checks are derived from it
in ``table_contract``; Dagster's column metadata in ``pipeline/defs/asset_specs.py``.
"""

from pipeline.contracts.bookkeeping_tables import BOOKKEEPING_CONTRACTS
from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.contracts.mart_tables import MART_CONTRACTS
from pipeline.contracts.medicare_tables import MEDICARE_CONTRACTS
from pipeline.contracts.table_contract import TableContract
from pipeline.contracts.utilization_tables import UTILIZATION_CONTRACTS

# The published tables: the data dictionary, the asset graph and the BI snapshot follow this list. The
# pipeline's own ``internal`` tables (BOOKKEEPING_CONTRACTS) are contracts too, but never published.
ALL_CONTRACTS: tuple[TableContract, ...] = CORE_CONTRACTS + UTILIZATION_CONTRACTS + MEDICARE_CONTRACTS + MART_CONTRACTS
CONTRACTS_BY_TABLE = {contract.table: contract for contract in ALL_CONTRACTS}

__all__ = ["ALL_CONTRACTS", "BOOKKEEPING_CONTRACTS", "CONTRACTS_BY_TABLE", "TableContract"]
