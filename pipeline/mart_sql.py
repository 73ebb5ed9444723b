"""Mart SQL lives in ``warehouse/marts/<table>.sql``: one SELECT per mart, readable and runnable on its own."""

from __future__ import annotations

from functools import cache

from pipeline.settings import REPO_ROOT

MART_SQL_DIR = REPO_ROOT / "warehouse" / "marts"


@cache
def mart_query(table_name: str) -> str:
    path = MART_SQL_DIR / f"{table_name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL for mart {table_name!r} at {path}")
    return path.read_text(encoding="utf-8").strip().rstrip(";")
