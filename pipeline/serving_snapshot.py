"""Publish the BI-facing schemas as a complete, read-only DuckDB file, atomically.

BI tools never open the pipeline's working file: DuckDB allows one read-write
process *or* many readers, never both.  Instead the pipeline writes a new file
beside the serving path, closes it, and ``os.replace``s it over the old one.
A reader that already has the old file open keeps reading the old inode (a
consistent snapshot); new connections see the new file.  A failure or a kill
before the rename leaves the previous snapshot untouched.

The file is written with a storage version that DuckDB 1.4 and 1.5 clients (the
versions BI drivers bundle) can read, and carries the data dictionary from the
table contracts as ``COMMENT ON`` statements.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.contracts.table_contract import TableContract, sql_literal
from pipeline.warehouse_tables import apply_comments

PUBLISHED_SCHEMAS = ("core", "utilization", "marts")
# Oldest storage format the BI drivers in use can open (DuckDB 1.4 and 1.5 read it).
STORAGE_VERSION = "v1.4.0"
SNAPSHOT_ALIAS = "serving_snapshot"
PAUSE_ENV = "CPT_PUBLISH_PAUSE_SECONDS"  # test hook: widen the window before the rename


@dataclass
class PublishResult:
    path: Path
    tables: dict[str, int]
    bytes_written: int


def temp_path_for(serving_path: Path) -> Path:
    return serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")


def remove_stale_temp_files(serving_path: Path) -> list[Path]:
    """Leftovers of killed publishes (the pid in the name is no longer running)."""
    removed = []
    for path in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        pid_part = path.name[len(serving_path.name) + 2 :].split(".")[0]
        if pid_part.isdigit() and int(pid_part) != os.getpid() and _pid_alive(int(pid_part)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, serving_path: Path, contracts: list[TableContract]
) -> PublishResult:
    """Copy every contract table from ``con`` into a new file and atomically replace ``serving_path``."""
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(serving_path)
    temp = temp_path_for(serving_path)
    for leftover in (temp, temp.with_name(temp.name + ".wal")):
        leftover.unlink(missing_ok=True)

    counts: dict[str, int] = {}
    con.execute(f"ATTACH {sql_literal(str(temp))} AS {SNAPSHOT_ALIAS} (STORAGE_VERSION '{STORAGE_VERSION}')")
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {SNAPSHOT_ALIAS}.{schema}")
        for contract in contracts:
            if contract.schema_name not in PUBLISHED_SCHEMAS:
                continue
            target = f"{SNAPSHOT_ALIAS}.{contract.table}"
            con.execute(contract.create_table_sql(target))
            columns = ", ".join(contract.column_names)
            con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {contract.table}")
            apply_comments(con, contract, target)
            counts[contract.table] = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        con.execute(f"CHECKPOINT {SNAPSHOT_ALIAS}")
    finally:
        con.execute(f"DETACH {SNAPSHOT_ALIAS}")

    _verify(temp, counts)
    _fsync(temp)
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    if pause:
        time.sleep(pause)
    # A WAL beside the serving path belongs to the old file; replayed onto the new one it would corrupt it.
    serving_path.with_name(serving_path.name + ".wal").unlink(missing_ok=True)
    os.replace(temp, serving_path)
    _fsync_dir(serving_path.parent)
    return PublishResult(serving_path, counts, serving_path.stat().st_size)


def _verify(path: Path, counts: dict[str, int]) -> None:
    """Re-open the finished file read-only before it can replace anything."""
    if path.with_name(path.name + ".wal").exists():
        raise RuntimeError(f"{path} still has a WAL after checkpoint; not publishing")
    check = duckdb.connect(str(path), read_only=True)
    try:
        for table, expected in counts.items():
            actual = check.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            if actual != expected:
                raise RuntimeError(f"snapshot {table} has {actual} rows, expected {expected}; not publishing")
    finally:
        check.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
