"""Which tables of the working warehouse changed, and why rows left them.

Every writer records, in the same transaction as its change, that it changed a
table, and how many rows left it because their source file was removed on
purpose.  The log lives in the working file (``internal.table_change_log``):

- the publisher copies only tables whose latest version differs from the version
  the serving snapshot was built from, instead of every table on every run;
- the mart asset rebuilds a mart only when a table its SQL reads has changed;
- the publish guard accepts a shrink that removed files explain, and refuses one
  that nothing explains (an empty mount, a bug).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pipeline.contracts.bookkeeping_tables import CHANGE_LOG_CONTRACT
from pipeline.warehouse.tables import NOW, create_missing_table, insert_rows, table_exists

LOG_TABLE = CHANGE_LOG_CONTRACT.table


def ensure_change_log(con) -> None:
    create_missing_table(con, CHANGE_LOG_CONTRACT)


def record_change(con, table: str, *, removed_rows: int = 0, removed_sources: Iterable[str] = ()) -> int:
    """Log a new version of ``table``; returns it. Call inside the writer's transaction."""
    ensure_change_log(con)
    # Time-based, so a rebuilt working file never reuses a version the serving snapshot was built from.
    version = max(latest_versions(con).get(table, 0) + 1, time.time_ns() // 1000)
    change = {
        "table_name": table,
        "version": version,
        "changed_at": NOW,
        "removed_rows": int(removed_rows),
        "removed_sources": sorted(set(removed_sources)),
    }
    insert_rows(con, CHANGE_LOG_CONTRACT, [change])
    return version


def record_changes(con, tables: Iterable[str]) -> None:
    for table in tables:
        record_change(con, table)


def record_unversioned(con, tables: Iterable[str]) -> list[str]:
    """Give a first version to each of ``tables`` that has none (created empty, never written): a table without
    a version counts as changed for every publish, so it would be copied into the snapshot on every run."""
    current = latest_versions(con)
    missing = [t for t in tables if t not in current]
    for table in missing:
        record_change(con, table)
    return missing


def latest_versions(con) -> dict[str, int]:
    """Works on a read-only connection too (an empty log before the first write)."""
    if not table_exists(con, CHANGE_LOG_CONTRACT):
        return {}
    return dict(con.execute(f"SELECT table_name, max(version) FROM {LOG_TABLE} GROUP BY 1").fetchall())


def changed_since(con, versions: dict[str, int], tables: Iterable[str]) -> set[str]:
    """Tables whose latest version is not the one in ``versions`` (a table never logged counts as changed)."""
    current = latest_versions(con)
    return {t for t in tables if t not in current or current[t] != versions.get(t)}


def explained_removals(con, since_versions: dict[str, int]) -> dict[str, tuple[int, list[str]]]:
    """Rows (and the removed source files) that left each table after the given versions."""
    if not table_exists(con, CHANGE_LOG_CONTRACT):
        return {}
    rows = con.execute(
        f"SELECT table_name, version, removed_rows, removed_sources FROM {LOG_TABLE} WHERE removed_rows > 0"
    ).fetchall()
    explained: dict[str, tuple[int, list[str]]] = {}
    for table, version, removed, sources in rows:
        if version > since_versions.get(table, 0):
            count, names = explained.get(table, (0, []))
            explained[table] = (count + removed, names + list(sources))
    return explained
