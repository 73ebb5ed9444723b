"""Write contract-shaped tables into DuckDB: typed DDL, rows, and the data dictionary as comments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from operator import itemgetter

import duckdb
import pandas as pd

from pipeline.contracts.table_contract import ColumnSpec, TableContract

# How a column travels from pandas to DuckDB. Every wire dtype is one DuckDB reads without looking at the
# values (no object columns, whose type DuckDB guesses from a sample of rows: an object column of empty lists
# in the first 2,048 rows became ``NULL[]`` and the first non-empty list failed the run). List columns travel
# as JSON text and are parsed back with the contract's type.
_WIRE_DTYPE = {"VARCHAR": "string", "DATE": "datetime64[ns]"}


class RowKeysMismatch(KeyError):
    """Rows built for a table do not carry exactly its contract's columns: a bug in the code that built them."""


def frame_for(contract: TableContract, rows: list[dict]) -> pd.DataFrame:
    """A frame with exactly the contract's columns, in order, with nullable pandas dtypes.

    Every row must carry exactly the contract's keys: a misspelt key would otherwise vanish and its column
    fill with NULL, silently."""
    names = contract.column_names
    _check_row_keys(contract, rows)
    frame = pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame({n: [] for n in names})
    for column in contract.columns:
        frame[column.name] = frame[column.name].astype(column.pandas_dtype)
    return frame


def _check_row_keys(contract: TableContract, rows: list[dict]) -> None:
    expected = set(contract.column_names)
    for row in rows:
        if row.keys() != expected:  # compared in C, no set built per row
            keys = set(row)
            unknown, missing = sorted(keys - expected), sorted(expected - keys)
            raise RowKeysMismatch(
                f"rows for {contract.table} must carry exactly its contract's columns; "
                f"not in the contract: {unknown or 'none'}; missing: {missing or 'none'}"
            )


# A row value meaning "the database's current UTC time" (the insert writes now(), not a Python clock).
NOW = object()


def insert_rows(con, contract: TableContract, rows: list[dict], *, into: str | None = None, replace: bool = False):
    """Insert ``rows`` (dicts carrying exactly the contract's columns, ``NOW`` allowed) into ``into`` (default: the
    contract's table), naming every column: a reordered contract never puts one value under another's name."""
    if not rows:
        return
    _check_row_keys(contract, rows)
    names = contract.column_names
    values = ", ".join("now()::TIMESTAMP" if rows[0][name] is NOW else "?" for name in names)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    con.executemany(
        f"{verb} INTO {into or contract.table} ({', '.join(names)}) VALUES ({values})",
        [[row[name] for name in names if row[name] is not NOW] for row in rows],
    )


@contextmanager
def transaction(con) -> Iterator[None]:
    """The block in one transaction: committed when it ends, rolled back when anything escapes it, and the
    exception re-raised. The one place the pipeline opens a transaction.

    The ORIGINAL error is the one raised: a failed ROLLBACK (e.g. after the disk filled up) is only a note on
    it, and must never mask what actually went wrong. A failed COMMIT is rolled back like any other error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException as original:
        try:
            con.execute("ROLLBACK")
        except Exception as rollback_error:
            original.add_note(f"(the rollback also failed: {rollback_error}; the transaction was never committed)")
        raise


def table_exists(con, table: str | TableContract, database: str | None = None) -> bool:
    """Whether ``table`` (``schema.table``, or a contract's table) exists in ``database``: by default the
    connection's current database, the one an unqualified ``schema.table`` name resolves to (a file attached
    beside it, such as the snapshot being published, may hold tables of the same name)."""
    name = table.table if isinstance(table, TableContract) else table
    schema_name, dot, table_name = name.partition(".")
    if not dot or "." in table_name:
        raise ValueError(f"table_exists takes 'schema.table' (and the database apart), not {name!r}")
    (count,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = coalesce(?, current_database()) AND schema_name = ? AND table_name = ?",
        [database, schema_name, table_name],
    ).fetchone()
    return count > 0


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


def create_table(con, contract: TableContract, qualified_name: str | None = None, *, primary_key: bool = True) -> None:
    """``primary_key=False``: the table is filled first and keyed once full (``add_primary_key``): DuckDB keeps a
    key's index up to date on every append and adds each committed row to it again at the commit, so a table
    appended over many commits pays for its key many times over."""
    # The DDL and its COMMENT statements in one call: one round trip instead of one per column.
    statements = [
        contract.create_table_sql(qualified_name, primary_key=primary_key),
        *_comments(contract, qualified_name),
    ]
    con.execute(";\n".join(statements))


def add_primary_key(con, contract: TableContract, qualified_name: str | None = None) -> None:
    """Key a table made with ``create_table(primary_key=False)`` as its contract's DDL declares (raises, as an
    append would have, when its rows repeat a key or leave part of it NULL)."""
    if (sql := contract.add_primary_key_sql(qualified_name)) is not None:
        try:
            con.execute(sql)
        except duckdb.ConstraintException as exc:  # DuckDB's message names neither the table nor the key
            key = ", ".join(contract.ddl_primary_key)
            raise KeyViolation(f"{qualified_name or contract.table}: its rows break its key ({key}): {exc}") from exc


class KeyViolation(ValueError):
    """Rows of a table filled before it was keyed repeat a key or leave part of it NULL: a bug upstream."""


def create_missing_table(con, contract: TableContract) -> bool:
    """Create a bookkeeping table unless it exists; True if created. Never replaced: its rows are state that
    outlives every run. A table created by an older version of the pipeline is kept as it is (the bookkeeping
    contracts match the DDL that created it)."""
    if table_exists(con, contract):
        return False
    ensure_schemas(con, contract.schema_name)
    con.execute(contract.create_table_sql(if_not_exists=True))
    apply_comments(con, contract)
    return True


def apply_comments(con, contract: TableContract, qualified_name: str | None = None) -> None:
    if statements := _comments(contract, qualified_name):
        con.execute(";\n".join(statements))


def _comments(contract: TableContract, qualified_name: str | None) -> list[str]:
    return [sql for sql, _ in contract.comment_statements(qualified_name)]


def wire_frame(contract: TableContract, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the contract's columns in dtypes DuckDB takes as declared: text as pandas ``string``,
    lists as JSON text, numbers, booleans and times as their nullable pandas dtypes."""
    wire = {}
    for column in contract.columns:
        values = frame[column.name]
        if column.sql_type.endswith("[]"):
            wire[column.name] = pd.Series([_json_list(v) for v in values], index=frame.index, dtype="string")
        else:
            wire[column.name] = values.astype(_WIRE_DTYPE.get(column.sql_type, column.pandas_dtype))
    return pd.DataFrame(wire, index=frame.index)


def wired_frame_for(contract: TableContract, rows: list[dict]) -> pd.DataFrame:
    """``wire_frame(contract, frame_for(contract, rows))`` made straight from the rows: each column read out of
    them once and typed once (a third of the time, which the documents load pays on every batch)."""
    _check_row_keys(contract, rows)
    if not rows:
        return wire_frame(contract, frame_for(contract, rows))
    wire = {}
    for column in contract.columns:
        values = list(map(itemgetter(column.name), rows))
        if column.sql_type.endswith("[]"):
            values, dtype = list(map(_json_list, values)), "string"
        else:
            dtype = _WIRE_DTYPE.get(column.sql_type, column.pandas_dtype)
        # Arrays rather than Series: the frame takes them as they are, with no index to align.
        wire[column.name] = pd.Series(values, dtype=object) if dtype == "object" else pd.array(values, dtype=dtype)
    return pd.DataFrame(wire, copy=False)


def _json_list(value) -> str | None:
    if type(value) is list and not value:
        return "[]"  # most documents have no problems: json.dumps's answer without its cost
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return None
    return json.dumps([None if item is None else str(item) for item in value])


def typed_select_list(contract: TableContract) -> str:
    """Each wire column cast to the contract's DuckDB type: the table's types come from the contract alone."""
    return ", ".join(f"{_typed(column)} AS {column.name}" for column in contract.columns)


def _typed(column: ColumnSpec) -> str:
    if column.sql_type.endswith("[]"):
        element = column.sql_type[:-2]
        return f"CAST(from_json({column.name}, '[\"{element}\"]') AS {column.sql_type})"
    return f"CAST({column.name} AS {column.sql_type})"


def insert_frame(
    con, contract: TableContract, frame: pd.DataFrame, qualified_name: str | None = None, *, wired: bool = False
) -> int:
    """Append ``frame`` to the contract's table through the contract's explicit types; returns rows written.
    ``wired``: the frame is already ``wire_frame``'s (made where the CPU was free, in a document worker)."""
    if not len(frame):
        return 0
    columns = ", ".join(contract.column_names)
    # Read by its name in this frame (DuckDB's replacement scan), not registered: registering and unregistering
    # a view costs about 3 ms a statement, five times the append of a small frame, and the documents load
    # appends every table of every batch (some 400 statements at 100,000 documents).
    cpt_frame_to_write = frame if wired else wire_frame(contract, frame)  # noqa: F841 (read by the SQL below)
    con.execute(
        f"INSERT INTO {qualified_name or contract.table} ({columns}) "
        f"SELECT {typed_select_list(contract)} FROM cpt_frame_to_write"
    )
    return len(frame)


def replace_table(con, contract: TableContract, frame: pd.DataFrame, qualified_name: str | None = None) -> int:
    """Recreate the table (or ``qualified_name``, built to the same contract) and load ``frame``; returns rows
    written."""
    create_table(con, contract, qualified_name)
    return insert_frame(con, contract, frame, qualified_name)


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
