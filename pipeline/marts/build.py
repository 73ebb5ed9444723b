"""Rebuild the marts whose inputs changed: one SELECT per mart in ``pipeline/marts/sql/``, inserted by name.

Each mart's upstream tables are read from its SQL, so the lineage is exact, and a mart is
rebuilt only when one of them changed since its last build (or its contract or SQL changed).
"""

import hashlib
import json
from contextlib import nullcontext

from pipeline.contracts.bookkeeping_tables import MART_BUILDS_CONTRACT
from pipeline.contracts.mart_tables import MART_CONTRACTS
from pipeline.contracts.table_contract import TableContract
from pipeline.marts.queries import mart_query, tables_read
from pipeline.warehouse.change_log import explained_removals, latest_versions, record_change
from pipeline.warehouse.tables import (
    add_primary_key,
    create_missing_table,
    create_table,
    ensure_schemas,
    insert_rows,
    row_count,
    transaction,
)

BUILDS_TABLE = MART_BUILDS_CONTRACT.table


def mart_inputs(contract: TableContract) -> tuple[str, ...]:
    return tables_read(mart_query(contract.table_name))


def rebuild_stale_marts(con, *, commit_each: bool = False) -> list[str]:
    """Rebuild the marts whose inputs or definition changed, in dependency order; their names.

    ``commit_each``: each mart (its rows, its build record, its change-log entry) in a transaction of its own, so
    DuckDB holds one mart's new rows in memory at a time, not every mart's (at 100,000 documents several hundred
    MB).  A failure then leaves the marts rebuilt before it committed, each consistent with its recorded inputs
    (the next run rebuilds the rest); nothing is published until every mart is built and checked."""
    create_missing_table(con, MART_BUILDS_CONTRACT)
    built = {
        mart: (inputs, digest)
        for mart, inputs, digest in con.execute(f"SELECT mart, inputs, contract_digest FROM {BUILDS_TABLE}").fetchall()
    }
    existing = _existing_tables(con)
    _create_missing_inputs(con, existing)
    # Read once and kept current: only this loop changes a version while it runs (each mart it rebuilds), and a
    # mart reading an earlier mart must see the version that rebuild recorded.
    versions = latest_versions(con)
    rebuilt = []
    for contract in MART_CONTRACTS:  # in dependency order: a mart reading another mart comes after it
        inputs = json.dumps({table: versions.get(table, 0) for table in mart_inputs(contract)}, sort_keys=True)
        definition = (
            f"{contract.ddl_digest}:{hashlib.sha256(mart_query(contract.table_name).encode()).hexdigest()[:16]}"
        )
        if built.get(contract.table) == (inputs, definition) and contract.table in existing:
            continue
        with transaction(con) if commit_each else nullcontext():
            versions[contract.table] = _rebuild(con, contract, inputs, definition, built, contract.table in existing)
        rebuilt.append(contract.table)
    return rebuilt


def _rebuild(con, contract: TableContract, inputs: str, definition: str, built: dict, exists: bool) -> int:
    """Rebuild one mart and record it; the version its change-log entry got."""
    previous_inputs = json.loads(built[contract.table][0]) if contract.table in built else {}
    explained = {t: e for t, e in explained_removals(con, previous_inputs).items() if t in previous_inputs}
    # Counted only when removals may explain a shrink: the publish guard reads removed_rows for nothing else.
    rows_before = row_count(con, contract.table) if explained and exists else 0
    create_table(con, contract, primary_key=False)
    query = mart_query(contract.table_name)
    check_mart_columns(contract, _returned_columns(con, query))
    # By name, never by position: a reordered SELECT must not put one column's values under another's name.
    con.execute(f"INSERT INTO {contract.table} BY NAME {query}")
    add_primary_key(con, contract)  # once full: otherwise DuckDB builds the index at the insert and again at commit
    build = {"mart": contract.table, "inputs": inputs, "contract_digest": definition}
    insert_rows(con, MART_BUILDS_CONTRACT, [build], replace=True)
    removed_rows = max(0, rows_before - row_count(con, contract.table)) if explained else 0
    # Rows leave a mart because source files left its inputs on purpose: the publish guard accepts that.
    return record_change(con, contract.table, removed_rows=removed_rows, removed_sources=_sources(explained))


class MartColumnsMismatch(ValueError):
    """A mart's SQL does not return exactly its contract's columns: a bug in the SQL or the contract."""


def check_mart_columns(contract: TableContract, returned: list[str]) -> None:
    expected = list(contract.column_names)
    missing = [c for c in expected if c not in returned]
    extra = [c for c in returned if c not in expected]
    repeated = sorted({c for c in returned if returned.count(c) > 1})
    if missing or extra or repeated:
        raise MartColumnsMismatch(
            f"pipeline/marts/sql/{contract.table_name}.sql must return exactly the columns of {contract.table}'s "
            f"contract; missing: {missing or 'none'}, not in the contract: {extra or 'none'}, "
            f"repeated: {repeated or 'none'}"
        )


def _returned_columns(con, query: str) -> list[str]:
    return [column[0] for column in con.execute(f"SELECT * FROM ({query}) LIMIT 0").description]


def _sources(explained: dict[str, tuple[int, list[str]]]) -> list[str]:
    return sorted({source for _, names in explained.values() for source in names})


def _existing_tables(con) -> set[str]:
    """``schema.table`` of every table in the connection's current database, read in one query."""
    rows = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    return {name for (name,) in rows}


def _create_missing_inputs(con, existing: set[str]) -> None:
    """A documents-only run on a warehouse that never loaded utilization still builds its marts (with no
    utilization rows), instead of failing on a missing table."""
    from pipeline.contracts import CONTRACTS_BY_TABLE

    for contract in MART_CONTRACTS:
        for table in mart_inputs(contract):
            upstream = CONTRACTS_BY_TABLE.get(table)
            if upstream is not None and upstream not in MART_CONTRACTS and upstream.table not in existing:
                ensure_schemas(con, upstream.schema_name)
                create_table(con, upstream)
                existing.add(upstream.table)
