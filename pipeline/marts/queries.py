"""Mart SQL lives in ``pipeline/marts/sql/<table>.sql``: one SELECT per mart, readable and runnable on its own.

The tables a mart reads are taken from its SQL (DuckDB's own parser), never declared
by hand: the lineage graph shows the real dependencies, and a mart is rebuilt only
when one of those tables changed.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from pathlib import Path

import duckdb

MART_SQL_DIR = Path(__file__).parent / "sql"
_PARSER_LOCK = threading.Lock()


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@cache
def mart_query(table_name: str) -> str:
    path = MART_SQL_DIR / f"{table_name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL for mart {table_name!r} at {path}")
    return path.read_text(encoding="utf-8").strip().rstrip(";")


@cache
def tables_read(sql: str) -> tuple[str, ...]:
    """Schema-qualified tables a query reads (CTE names have no schema and are left out)."""
    with _PARSER_LOCK:  # one in-memory database parses every mart: opening one costs more than the parse
        tree = json.loads(_parser().execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        raise ValueError(f"mart SQL does not parse: {tree.get('error_message')}")
    found: set[str] = set()
    _collect_tables(tree, found)
    return tuple(sorted(found))


def _collect_tables(node, found: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
            found.add(f"{node['schema_name']}.{node['table_name']}")
        for value in node.values():
            _collect_tables(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_tables(value, found)
