"""A DuckDB table's shape as a reader sees it: its columns (name, type, nullable) and its keys; and how its text
columns are stored."""

from __future__ import annotations


def table_shape(con, table: str) -> tuple[list[tuple], list[tuple]]:
    """(columns in order as (name, type, nullable), keys as (PRIMARY KEY | UNIQUE, column names)) of
    ``schema.table``."""
    schema, name = table.split(".")
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    keys = con.execute(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE schema_name = ? AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') ORDER BY ALL",
        [schema, name],
    ).fetchall()
    return columns, keys


def text_compression(con, table: str) -> dict[str, str]:
    """How each text column of ``table`` is stored once checkpointed: column name -> its distinct compressions
    (``ZSTD``, ``DICT_FSST`` …), comma-separated."""
    return dict(
        con.execute(
            "SELECT column_name, string_agg(DISTINCT compression, ',') FROM pragma_storage_info(?) "
            "WHERE segment_type = 'VARCHAR' GROUP BY 1",
            [table],
        ).fetchall()
    )
