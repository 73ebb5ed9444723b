"""Partitions of the utilization tables whose rows were already verified against their contract.

Re-scanning ten million provider rows in the blocking check after every run would make a 60-row
geography change cost as much as a full reload. Instead, each partition (one source file's rows of
one data year) is verified once, with the same generated SQL the check runs:

- the loader evaluates the contract on the rows it just inserted, inside the load's transaction; when
  that scan finds nothing to move, the rows it scanned are exactly the rows committed, and it records
  the partition here in the same transaction (when rows were moved it records nothing: the check
  scans that partition after the move);
- the blocking contract check scans every partition without a valid record, and records the ones it
  scanned once all of them pass.

A record is valid while the contract's rules are the ones it was verified under (its ``rules_digest``)
and the partition still holds the recorded number of rows. Every writer of these tables withdraws the
records it invalidates, in its own transaction: a load or removal those of its partitions, and the one
in-place update (``geo_type`` retyped when the geography reference changes, ``geographies.py``) those of
the whole table. Deleting whole partitions cannot break a row rule or make a key duplicate. References
are not covered: the reference checks always scan, since the referenced tables change independently.
``CPT_CONTRACT_CHECKS_FULL_SCAN=1`` makes the checks scan everything (an audit), ignoring records.
"""

from __future__ import annotations

from pipeline.contracts.bookkeeping_tables import VERIFIED_PARTITIONS_CONTRACT
from pipeline.contracts.table_contract import TableContract
from pipeline.warehouse.tables import NOW, create_missing_table, insert_rows, table_exists

TABLE = VERIFIED_PARTITIONS_CONTRACT.table
FULL_SCAN_ENV = "CPT_CONTRACT_CHECKS_FULL_SCAN"
PARTITION_COLUMNS = ("source_file", "data_year")


def is_partitioned(contract: TableContract) -> bool:
    """Tables whose rows come in per-file, per-year partitions, whose one key the load verifies, and whose key
    holds the year (so a duplicate can only sit within one year, and scanning the changed years finds it)."""
    names = set(contract.column_names)
    return (
        set(PARTITION_COLUMNS) <= names
        and contract.unique_keys == [contract.primary_key]
        and "data_year" in contract.primary_key
    )


def ensure_table(con) -> None:
    create_missing_table(con, VERIFIED_PARTITIONS_CONTRACT)


def forget(con, table: str, *, data_year: int | None = None, source_file: str | None = None) -> None:
    """Withdraw the records of the partitions being replaced or removed (call inside that transaction)."""
    if data_year is None and source_file is None:
        raise ValueError("forget needs a data_year or a source_file; use forget_table for every partition")
    ensure_table(con)
    if data_year is not None:
        con.execute(f"DELETE FROM {TABLE} WHERE table_name = ? AND data_year = ?", [table, data_year])
    if source_file is not None:
        con.execute(f"DELETE FROM {TABLE} WHERE table_name = ? AND source_file = ?", [table, source_file])


def forget_table(con, table: str) -> None:
    """Withdraw every record of a table whose rows were updated in place (call inside that transaction)."""
    ensure_table(con)
    con.execute(f"DELETE FROM {TABLE} WHERE table_name = ?", [table])


def record(con, contract: TableContract, partitions: list[tuple[str, int, int]], verified_by: str) -> None:
    """Record (source_file, data_year, rows) partitions as verified under the current contract."""
    if not partitions or not is_partitioned(contract):
        return
    ensure_table(con)
    insert_rows(
        con,
        VERIFIED_PARTITIONS_CONTRACT,
        [
            {
                "table_name": contract.table,
                "source_file": file,
                "data_year": int(year),
                "row_count": int(rows),
                "contract_digest": contract.rules_digest,
                "verified_by": verified_by,
                "verified_at": NOW,
            }
            for file, year, rows in partitions
        ],
        replace=True,
    )


def verified(con, contract: TableContract) -> dict[tuple[str, int], int]:
    """(source_file, data_year) -> rows, for partitions verified under the current contract."""
    if not table_exists(con, VERIFIED_PARTITIONS_CONTRACT):
        return {}
    rows = con.execute(
        f"SELECT source_file, data_year, row_count FROM {TABLE} WHERE table_name = ? AND contract_digest = ?",
        [contract.table, contract.rules_digest],
    ).fetchall()
    return {(file, year): count for file, year, count in rows}
