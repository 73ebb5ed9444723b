"""Write contract-shaped tables into DuckDB: typed DDL, rows, and the data dictionary as comments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pandas as pd

from pipeline.contracts.table_contract import TableContract


def frame_for(contract: TableContract, rows: list[dict]) -> pd.DataFrame:
    """A frame with exactly the contract's columns, in order, with nullable pandas dtypes."""
    names = contract.column_names
    frame = pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame({n: [] for n in names})
    for column in contract.columns:
        frame[column.name] = frame[column.name].astype(column.pandas_dtype)
    return frame


def run_in_transaction(con, work: Callable) -> None:
    """``work(con)`` in one transaction. On failure it rolls back and re-raises the ORIGINAL error: a failed
    ROLLBACK (e.g. after the disk filled up) must never mask what actually went wrong."""
    con.execute("BEGIN TRANSACTION")
    try:
        work(con)
        con.execute("COMMIT")
    except BaseException as original:
        try:
            con.execute("ROLLBACK")
        except Exception as rollback_error:
            original.add_note(f"(the rollback also failed: {rollback_error}; the transaction was never committed)")
        raise


@contextmanager
def registered(con, name: str, frame: pd.DataFrame) -> Iterator[None]:
    """Expose a frame to SQL as ``name`` for the duration of the block."""
    con.complete()  # DuckDB 2 refuses to register while an earlier result is only partly fetched
    con.register(name, frame)
    try:
        yield
    except BaseException:
        with suppress(Exception):  # an aborted transaction refuses even this; the original error matters
            con.unregister(name)
        raise
    con.unregister(name)


def ensure_schemas(con, *schemas: str) -> None:
    for schema in schemas:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def create_table(con, contract: TableContract, qualified_name: str | None = None) -> None:
    con.execute(contract.create_table_sql(qualified_name))
    apply_comments(con, contract, qualified_name)


def apply_comments(con, contract: TableContract, qualified_name: str | None = None) -> None:
    for sql, _ in contract.comment_statements(qualified_name):
        con.execute(sql)


def replace_table(con, contract: TableContract, frame: pd.DataFrame) -> int:
    """Recreate the table from its contract and load ``frame``; returns rows written."""
    create_table(con, contract)
    if len(frame):
        columns = ", ".join(contract.column_names)
        with registered(con, "_frame_to_write", frame):
            con.execute(f"INSERT INTO {contract.table} ({columns}) SELECT {columns} FROM _frame_to_write")
    return len(frame)


def row_count(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def ensure_table(con, contract: TableContract) -> bool:
    """Create the table if missing or if its columns no longer match the contract; True if (re)created."""
    expected = [(c.name, c.sql_type) for c in contract.columns]
    actual = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [contract.schema_name, contract.table_name],
    ).fetchall()
    if [tuple(row) for row in actual] == expected:
        return False
    create_table(con, contract)
    return True
