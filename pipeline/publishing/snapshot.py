"""Publish the BI-facing schemas as a complete, read-only DuckDB file, atomically.

BI tools never open the pipeline's working file: DuckDB allows one read-write
process *or* many readers, never both.  Instead the pipeline writes a new file
beside the serving path, closes it, and ``os.replace``s it over the old one.
A reader that already has the old file open keeps reading the old inode (a
consistent snapshot); new connections see the new file.  A failure or a kill
before the rename leaves the previous snapshot untouched.

The cost of a publish follows the change, not the warehouse.  The serving file
records, in ``internal.snapshot_tables``, the change-log version
(``pipeline.warehouse.change_log``) of every table it was built from.  An *incremental*
publish copies the previous serving file at the OS level (``copy_file_range``),
drops and recreates only the tables whose version moved, and leaves every other
table's blocks as they were.  A *full* rebuild writes a brand-new file; it runs
when there is no usable previous snapshot, when the set of tables or a contract
changed, when a large table changed (rewriting it inside a copy would leave its
old blocks behind as free space), and periodically to compact the file (see
``PublishSettings``).

The file is written with a storage version that DuckDB 1.4 and 1.5 clients (the
versions BI drivers bundle) can read, and carries the data dictionary from the
table contracts as ``COMMENT ON`` statements.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.contracts import ALL_CONTRACTS
from pipeline.contracts.bookkeeping_tables import SNAPSHOT_PUBLISH_CONTRACT, SNAPSHOT_TABLES_CONTRACT
from pipeline.contracts.table_contract import TableContract, sql_literal
from pipeline.failures import InfrastructureFailure, describe, free_space_hint, is_disk_full
from pipeline.publishing.block_checksums import LayoutUnknown, mismatched_blocks
from pipeline.settings import DEFAULTS, DUCKDB_STORAGE_VERSION
from pipeline.warehouse.change_log import changed_since, latest_versions
from pipeline.warehouse.tables import NOW, apply_comments, create_table, insert_rows, transaction

# Every contract table is published; the schema list follows the contracts.
PUBLISHED_CONTRACTS: tuple[TableContract, ...] = ALL_CONTRACTS
PUBLISHED_SCHEMAS: tuple[str, ...] = tuple(dict.fromkeys(c.schema_name for c in PUBLISHED_CONTRACTS))
# Oldest storage format the BI drivers in use can open (DuckDB 1.4 and 1.5 read it).
STORAGE_VERSION = DUCKDB_STORAGE_VERSION
SNAPSHOT_ALIAS = "serving_snapshot"
# Bookkeeping inside the serving file; BI users are told to ignore the `internal` schema.
STATE_SCHEMA = SNAPSHOT_TABLES_CONTRACT.schema_name
TABLES_STATE = SNAPSHOT_TABLES_CONTRACT.table
PUBLISH_STATE = SNAPSHOT_PUBLISH_CONTRACT.table
FULL, INCREMENTAL = "full", "incremental"
# Nothing changed since the snapshot was published: the file is left as it is (same bytes, same mtime).
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class PublishSettings:
    """When an incremental publish gives way to a full rebuild (environment variables; defaults in pipeline/settings.py).

    - ``CPT_PUBLISH_FULL_REBUILD_ROWS``: a changed table that has at least this many rows in the
      previous snapshot triggers a full rebuild, so a big table's old blocks never linger as free space in a
      copy.  (A big table that was empty before, e.g. a first 10M-row file, is written into the copy.)
    - ``CPT_PUBLISH_COMPACT_EVERY``: every N-th publish is a full rebuild (1 = always full).
    - ``CPT_PUBLISH_MAX_FREE_FRACTION``: a full rebuild when more than this fraction of the previous
      file's blocks are free.
    """

    full_rebuild_rows: int = DEFAULTS["publish_full_rebuild_rows"]
    compact_every: int = DEFAULTS["publish_compact_every"]
    max_free_fraction: float = DEFAULTS["publish_max_free_fraction"]


@dataclass(frozen=True)
class SnapshotTable:
    version: int | None
    contract_digest: str
    rows: int


@dataclass(frozen=True)
class PreviousSnapshot:
    """What the current serving file says about itself (``error`` when it cannot be opened)."""

    size_bytes: int
    tables: dict[str, SnapshotTable] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    publishes_since_rebuild: int = 0
    free_fraction: float = 0.0
    error: str | None = None

    @property
    def versions(self) -> dict[str, int]:
        return {t: s.version for t, s in self.tables.items() if s.version is not None}


@dataclass(frozen=True)
class PublishInputs:
    """Everything the plan and the publish guard need, read before anything is written."""

    serving_path: Path
    contracts: tuple[TableContract, ...]
    previous: PreviousSnapshot | None
    working_rows: dict[str, int]
    versions: dict[str, int]
    changed: frozenset[str]
    # The working file, when a plain copy of it is a valid snapshot (see copyable_working_file).
    working_file: Path | None = None
    working_free_fraction: float = 1.0

    @property
    def tables(self) -> list[str]:
        return [c.table for c in self.contracts]


@dataclass(frozen=True)
class PublishPlan:
    mode: str
    reason: str
    tables_to_write: tuple[str, ...]
    copy_working_file: bool = False


@dataclass
class PublishResult:
    path: Path
    tables: dict[str, int]
    bytes_written: int
    mode: str = FULL
    reason: str = ""
    tables_written: tuple[str, ...] = ()
    seconds: float = 0.0


def temp_path_for(serving_path: Path) -> Path:
    return serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


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


def remove_stale_wal(serving_path: Path) -> None:
    # Only a read-write open leaves a WAL, and nothing opens the serving file read-write: a WAL beside it
    # is stale, and replayed onto a newer file it would corrupt it.
    wal_of(serving_path).unlink(missing_ok=True)


# --- reading the previous snapshot and the working file ------------------------------------------------


def read_previous_snapshot(serving_path: Path, tables: list[str]) -> PreviousSnapshot | None:
    if not serving_path.exists():
        return None
    size = serving_path.stat().st_size
    try:
        check = duckdb.connect(str(serving_path), read_only=True)
    except duckdb.Error as exc:
        return PreviousSnapshot(size, error=describe(exc))
    try:
        return _describe_snapshot(check, size, tables)
    except duckdb.Error as exc:
        return PreviousSnapshot(size, error=describe(exc))
    finally:
        check.close()


def _describe_snapshot(check: duckdb.DuckDBPyConnection, size: int, tables: list[str]) -> PreviousSnapshot:
    present = {f"{s}.{t}" for s, t in check.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
    row_counts = {t: check.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables if t in present}
    recorded: dict[str, SnapshotTable] = {}
    publishes = 0
    if TABLES_STATE in present and PUBLISH_STATE in present:
        for name, version, digest, rows in check.execute(
            f"SELECT table_name, version, contract_digest, rows FROM {TABLES_STATE}"
        ).fetchall():
            recorded[name] = SnapshotTable(version, digest, rows)
        publishes = check.execute(f"SELECT max(publishes_since_rebuild) FROM {PUBLISH_STATE}").fetchone()[0] or 0
    total, free = check.execute(
        "SELECT total_blocks, free_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchone()
    return PreviousSnapshot(size, recorded, row_counts, publishes, free / total if total else 0.0)


def inspect_publish(
    con: duckdb.DuckDBPyConnection, serving_path: Path, contracts: tuple[TableContract, ...] = PUBLISHED_CONTRACTS
) -> PublishInputs:
    """Read the previous snapshot and the working file's state; writes nothing."""
    remove_stale_wal(serving_path)
    tables = [c.table for c in contracts]
    previous = read_previous_snapshot(serving_path, tables)
    working_rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    recorded = previous.tables if previous else {}
    changed = changed_since(con, previous.versions if previous else {}, tables)
    # Safety net for a writer that changed a table without logging it: a row count that moved is a change.
    changed |= {t for t in tables if t in recorded and recorded[t].rows != working_rows[t]}
    working_file, working_free = copyable_working_file(con)
    return PublishInputs(
        serving_path,
        tuple(contracts),
        previous,
        working_rows,
        latest_versions(con),
        frozenset(changed),
        working_file,
        working_free,
    )


def snapshot_digest(inputs: PublishInputs) -> str:
    """What a snapshot published from ``inputs`` holds: each table's change-log version, contract and row count.
    The same after a publish that left the file as it was (nothing changed), so it serves as its data version."""
    state = [
        [c.table, inputs.versions.get(c.table), c.ddl_digest, inputs.working_rows[c.table]] for c in inputs.contracts
    ]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def working_database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    try:
        (path,) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    except duckdb.Error:
        return None
    return Path(path) if path else None


def copyable_working_file(con: duckdb.DuckDBPyConnection) -> tuple[Path | None, float]:
    """The working file and its free fraction, when it was created readable by DuckDB 1.4 (the resource opens
    new working files that way): then a full publish is an OS-level copy of it instead of re-encoding every row."""
    path, tags = con.execute(
        "SELECT path, tags FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not path or not str((tags or {}).get("storage_version", "")).startswith(STORAGE_VERSION):
        return None, 1.0
    free, total = con.execute(
        "SELECT free_blocks, total_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchone()
    return Path(path), (free / total if total else 0.0)


# --- deciding between an incremental publish and a full rebuild ----------------------------------------


def plan_publish(inputs: PublishInputs, settings: PublishSettings) -> PublishPlan:
    if not inputs.changed and _structural_reason(inputs) is None:
        # Not even a compaction: a run that changes nothing must leave the file BI tools read untouched.
        return PublishPlan(UNCHANGED, "no table changed since the snapshot was published; file left as is", ())
    reason = full_rebuild_reason(inputs, settings)
    if reason:
        copy = (
            inputs.working_file is not None
            and not reason.startswith("compaction")
            and inputs.working_free_fraction <= settings.max_free_fraction
        )
        if copy:
            reason += "; written as a copy of the working file (no row re-encoded)"
        return PublishPlan(FULL, reason, tuple(inputs.tables), copy_working_file=copy)
    written = tuple(t for t in inputs.tables if t in inputs.changed)
    return PublishPlan(INCREMENTAL, f"{len(written)} of {len(inputs.tables)} tables changed", written)


def full_rebuild_reason(inputs: PublishInputs, settings: PublishSettings) -> str | None:
    return _structural_reason(inputs) or _compaction_reason(inputs, inputs.previous, settings)


def _structural_reason(inputs: PublishInputs) -> str | None:
    """Why the previous snapshot cannot be reused at all, or None."""
    previous = inputs.previous
    if previous is None:
        return "no previous snapshot"
    if previous.error:
        return f"the previous snapshot could not be opened ({previous.error})"
    if set(previous.tables) != set(inputs.tables):
        added = sorted(set(inputs.tables) - set(previous.tables))
        dropped = sorted(set(previous.tables) - set(inputs.tables))
        return f"the set of published tables changed (new: {added or 'none'}; gone: {dropped or 'none'})"
    moved = [c.table for c in inputs.contracts if previous.tables[c.table].contract_digest != c.ddl_digest]
    if moved:
        return f"contract changed: {', '.join(moved)}"
    return None


def _compaction_reason(inputs: PublishInputs, previous: PreviousSnapshot, settings: PublishSettings) -> str | None:
    # Rewriting a table inside the copy frees the blocks of its previous version: harmless for small tables,
    # a file-sized hole for a big one.  A big table that was empty (a first load) leaves no hole.
    # When the working file can simply be copied, a big table written for the first time is cheaper that way
    # too than re-encoding its rows into the copied snapshot.
    def rows(t: str) -> int:
        return max(previous.tables[t].rows, inputs.working_rows[t] if inputs.working_file else 0)

    large = [
        f"{t} ({rows(t):,} rows)"
        for t in inputs.tables
        if t in inputs.changed and rows(t) >= settings.full_rebuild_rows
    ]
    if large:
        return f"large table changed: {', '.join(large)} (CPT_PUBLISH_FULL_REBUILD_ROWS={settings.full_rebuild_rows:,})"
    if previous.publishes_since_rebuild + 1 >= settings.compact_every:
        return (
            f"compaction: {previous.publishes_since_rebuild} incremental publishes since the last full rebuild "
            f"(CPT_PUBLISH_COMPACT_EVERY={settings.compact_every})"
        )
    if previous.free_fraction > settings.max_free_fraction:
        return (
            f"compaction: {previous.free_fraction:.0%} of the previous file is free space "
            f"(CPT_PUBLISH_MAX_FREE_FRACTION={settings.max_free_fraction})"
        )
    return None


# --- the steps (module-level functions, so a test can stop a publish between any two of them) ----------


def copy_previous_file(serving_path: Path, temp: Path) -> None:
    """OS-level copy (copy_file_range on Linux): no pages go through DuckDB."""
    shutil.copyfile(serving_path, temp)


def copy_working_file(con: duckdb.DuckDBPyConnection, working_file: Path, temp: Path) -> None:
    """Checkpoint (so the file alone holds every committed row), then copy it at the OS level."""
    con.execute("CHECKPOINT")
    shutil.copyfile(working_file, temp)


def drop_unpublished(con: duckdb.DuckDBPyConnection, contracts: tuple[TableContract, ...]) -> None:
    """A copy of the working file also holds the pipeline's own tables (parse cache, change log): drop them."""
    published = {c.table for c in contracts}
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [SNAPSHOT_ALIAS]
    ).fetchall()
    for schema, table in rows:
        if f"{schema}.{table}" not in published:
            con.execute(f"DROP TABLE {SNAPSHOT_ALIAS}.{schema}.{table}")
    for (view,) in con.execute(
        "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [SNAPSHOT_ALIAS],
    ).fetchall():
        con.execute(f"DROP VIEW {SNAPSHOT_ALIAS}.{view}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SNAPSHOT_ALIAS}.{STATE_SCHEMA}")


def attach_new_file(con: duckdb.DuckDBPyConnection, temp: Path, contracts: tuple[TableContract, ...]) -> None:
    con.execute(f"ATTACH {sql_literal(str(temp))} AS {SNAPSHOT_ALIAS} (STORAGE_VERSION '{STORAGE_VERSION}')")
    for schema in dict.fromkeys([*(c.schema_name for c in contracts), STATE_SCHEMA]):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SNAPSHOT_ALIAS}.{schema}")


def attach_copy(con: duckdb.DuckDBPyConnection, temp: Path) -> None:
    # The copy keeps the storage version it was created with (v1.4.0); ATTACH does not upgrade it.
    con.execute(f"ATTACH {sql_literal(str(temp))} AS {SNAPSHOT_ALIAS}")


def write_tables(con: duckdb.DuckDBPyConnection, contracts: list[TableContract]) -> None:
    for contract in contracts:
        target = f"{SNAPSHOT_ALIAS}.{contract.table}"
        con.execute(f"DROP TABLE IF EXISTS {target}")
        con.execute(contract.create_table_sql(target))
        columns = ", ".join(contract.column_names)
        con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {contract.table}")


def apply_all_comments(con: duckdb.DuckDBPyConnection, contracts: tuple[TableContract, ...]) -> None:
    """Every table's and column's comment as its contract words it. A table whose comments already read so (a
    copy keeps them) is left alone: some 450 ``COMMENT ON`` statements cost a tenth of a second per publish."""
    current = _snapshot_comments(con)
    for contract in contracts:
        wanted = {(contract.table, None): contract.description}
        wanted.update({(contract.table, c.name): c.description for c in contract.columns})
        if any(current.get(key) != text for key, text in wanted.items()):
            apply_comments(con, contract, f"{SNAPSHOT_ALIAS}.{contract.table}")


def _snapshot_comments(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str | None], str | None]:
    """(schema.table, column or None for the table itself) -> its comment, in the snapshot being written."""
    tables = con.execute(
        "SELECT schema_name || '.' || table_name, NULL, comment FROM duckdb_tables() WHERE database_name = ?",
        [SNAPSHOT_ALIAS],
    ).fetchall()
    columns = con.execute(
        "SELECT schema_name || '.' || table_name, column_name, comment FROM duckdb_columns() WHERE database_name = ?",
        [SNAPSHOT_ALIAS],
    ).fetchall()
    return {(table, column): comment for table, column, comment in tables + columns}


def write_snapshot_state(con: duckdb.DuckDBPyConnection, inputs: PublishInputs, plan: PublishPlan) -> None:
    """Record what the snapshot was built from, for the next publish's plan."""
    tables, publish = f"{SNAPSHOT_ALIAS}.{TABLES_STATE}", f"{SNAPSHOT_ALIAS}.{PUBLISH_STATE}"
    create_table(con, SNAPSHOT_TABLES_CONTRACT, tables)
    published = [
        {
            "table_name": c.table,
            "version": inputs.versions.get(c.table),
            "contract_digest": c.ddl_digest,
            "rows": inputs.working_rows[c.table],
        }
        for c in inputs.contracts
    ]
    insert_rows(con, SNAPSHOT_TABLES_CONTRACT, published, into=tables)
    since = 0 if plan.mode == FULL else inputs.previous.publishes_since_rebuild + 1
    create_table(con, SNAPSHOT_PUBLISH_CONTRACT, publish)
    this_publish = {
        "published_at": NOW,
        "mode": plan.mode,
        "reason": plan.reason,
        "publishes_since_rebuild": since,
        "tables_written": list(plan.tables_to_write),
    }
    insert_rows(con, SNAPSHOT_PUBLISH_CONTRACT, [this_publish], into=publish)


def checkpoint_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CHECKPOINT {SNAPSHOT_ALIAS}")
    con.execute(f"DETACH {SNAPSHOT_ALIAS}")


def verify_snapshot(path: Path, counts: dict[str, int], *, read_every_block: bool = False) -> None:
    """Re-open the finished file read-only before it can replace anything.

    With ``read_every_block`` (every full publish), the checksum of every block the file carries is checked
    (see ``corrupt_blocks``)."""
    if wal_of(path).exists():
        raise RuntimeError(f"{path} still has a WAL after checkpoint; not publishing")
    check = duckdb.connect(str(path), read_only=True)
    try:
        for table, expected in counts.items():
            actual = check.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            if actual != expected:
                raise RuntimeError(f"snapshot {table} has {actual} rows, expected {expected}; not publishing")
        if read_every_block:
            verify_every_block(path, check)
    finally:
        check.close()
    _fsync(path)


def verify_every_block(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Every block's stored checksum, read from the file's bytes: data, indexes and metadata alike. A file
    whose layout this check does not know is read back through DuckDB instead (table data only)."""
    try:
        bad = mismatched_blocks(path)
    except LayoutUnknown:
        scan_every_block(con)
        return
    if bad:
        shown = ", ".join(str(block) for block in bad[:10]) + (" …" if len(bad) > 10 else "")
        try:  # only on failure: name the table whose data is hit, if any
            scan_every_block(con)
            where = "not in any table's data: an index or metadata block"
        except BlockChecksumError as exc:
            where = str(exc)
        raise BlockChecksumError(
            f"{len(bad)} block(s) of {path.name} do not match their stored checksum (block ids {shown}; {where})"
        )


class BlockChecksumError(RuntimeError):
    """A block of a DuckDB file does not match its stored checksum."""


def is_checksum_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and "checksum" in text and ("corrupt" in text or "does not match" in text)


def scan_every_block(con: duckdb.DuckDBPyConnection) -> None:
    """Read every value of every column of every table (``count(*)`` alone reads no data block): DuckDB verifies
    each block's checksum as it loads it and raises on a mismatch."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY ALL"
    ).fetchall()
    for schema, table in tables:
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = ? AND table_name = ? ORDER BY column_index",
                [schema, table],
            ).fetchall()
        ]
        # hash() reads each value (and its validity); max() keeps the result one row, and no statistic answers it.
        aggregates = ", ".join(f'max(hash("{c}"))' for c in columns) or "1"
        try:
            con.execute(f'SELECT count(*), {aggregates} FROM "{schema}"."{table}"').fetchall()
        except duckdb.Error as exc:
            if is_checksum_error(exc):
                raise BlockChecksumError(f"table {schema}.{table}: {describe(exc)}") from exc
            raise


def corrupt_blocks(path: Path) -> str | None:
    """Check every block of ``path`` against its stored checksum; what is corrupt, or None when all match."""
    check = duckdb.connect(str(path), read_only=True)
    try:
        verify_every_block(path, check)
    except BlockChecksumError as exc:
        return str(exc)
    finally:
        check.close()
    return None


class WorkingFileCorrupt(RuntimeError):
    """A block of the working file does not match its checksum: nothing built from it is published."""

    def __init__(self, working_file: Path | None, serving_path: Path, cause: BaseException):
        where = f"the working warehouse {working_file}" if working_file else "the working warehouse"
        delete = f"delete {working_file} (and {working_file.name}.wal if present)" if working_file else "delete it"
        untouched = (
            f"the previous snapshot {serving_path} is untouched and still served"
            if serving_path.exists()
            else "no snapshot was published"
        )
        super().__init__(
            f"{where} has a corrupt block ({cause}); nothing was published: {untouched}. It is derived data: "
            f"{delete} and run `uv run cpt-warehouse build`, which rebuilds every table from the source folders"
        )


def replace_serving_file(temp: Path, serving_path: Path) -> None:
    remove_stale_wal(serving_path)
    os.replace(temp, serving_path)
    _fsync_dir(serving_path.parent)


# --- the publish ---------------------------------------------------------------------------------------


def publish_snapshot(
    con: duckdb.DuckDBPyConnection,
    serving_path: Path,
    contracts: tuple[TableContract, ...] = PUBLISHED_CONTRACTS,
    settings: PublishSettings | None = None,
) -> PublishResult:
    """Inspect, plan and publish in one call (the asset runs the publish guard between inspect and publish)."""
    return publish_inspected(con, inspect_publish(con, serving_path, tuple(contracts)), settings)


def publish_inspected(
    con: duckdb.DuckDBPyConnection, inputs: PublishInputs, settings: PublishSettings | None = None
) -> PublishResult:
    started = time.perf_counter()
    plan = plan_publish(inputs, settings or PublishSettings())
    serving_path = inputs.serving_path
    if plan.mode == UNCHANGED:
        return PublishResult(
            serving_path, dict(inputs.working_rows), serving_path.stat().st_size, plan.mode, plan.reason, (), 0.0
        )
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(serving_path)
    temp = temp_path_for(serving_path)
    working = working_database_path(con)  # asked now: a checksum error can leave the connection unusable
    for leftover in (temp, wal_of(temp)):
        leftover.unlink(missing_ok=True)
    try:
        try:
            _build_file(con, inputs, plan, temp)
            with _explained_os_errors("verifying", temp, inputs, 0):
                # A full publish reads back every block it carries (a copy of the working file carries its
                # blocks unread); an incremental one read every table it wrote through DuckDB already.
                verify_snapshot(temp, inputs.working_rows, read_every_block=plan.mode == FULL)
        except (duckdb.Error, BlockChecksumError, InfrastructureFailure) as exc:
            cause = exc.cause if isinstance(exc, InfrastructureFailure) else exc
            if isinstance(exc, BlockChecksumError) or is_checksum_error(cause):
                raise WorkingFileCorrupt(working, serving_path, exc) from exc
            raise
        with _explained_os_errors("renaming onto", serving_path, inputs, 0):
            replace_serving_file(temp, serving_path)
    except BaseException:
        _discard(con, temp)
        raise
    return PublishResult(
        serving_path,
        dict(inputs.working_rows),
        serving_path.stat().st_size,
        plan.mode,
        plan.reason,
        plan.tables_to_write,
        time.perf_counter() - started,
    )


def _build_file(con: duckdb.DuckDBPyConnection, inputs: PublishInputs, plan: PublishPlan, temp: Path) -> None:
    by_table = {c.table: c for c in inputs.contracts}
    needed = estimated_bytes(con, inputs, plan.tables_to_write)
    to_write = plan.tables_to_write
    if plan.mode == INCREMENTAL:
        with _explained_os_errors("copying the previous snapshot to", temp, inputs, inputs.previous.size_bytes):
            copy_previous_file(inputs.serving_path, temp)
        attach_copy(con, temp)
    elif plan.copy_working_file:
        with _explained_os_errors("copying the working file to", temp, inputs, inputs.working_file.stat().st_size):
            copy_working_file(con, inputs.working_file, temp)
        attach_copy(con, temp)
        drop_unpublished(con, inputs.contracts)
        to_write = ()
    else:
        attach_new_file(con, temp, inputs.contracts)
    # One transaction: one commit instead of one per DDL and COMMENT statement.
    with _explained_os_errors("writing tables into", temp, inputs, needed), transaction(con):
        write_tables(con, [by_table[t] for t in to_write])
        apply_all_comments(con, inputs.contracts)
        write_snapshot_state(con, inputs, plan)
    with _explained_os_errors("checkpointing", temp, inputs, needed):
        checkpoint_snapshot(con)


def estimated_bytes(con: duckdb.DuckDBPyConnection, inputs: PublishInputs, tables: tuple[str, ...]) -> int:
    """Rough size of the tables to write: their share of the rows, times the bytes those rows take now."""
    rows = sum(inputs.working_rows[t] for t in tables)
    previous = inputs.previous
    if previous and not previous.error and sum(previous.row_counts.values()):
        return int(previous.size_bytes * rows / max(1, sum(previous.row_counts.values())))
    block_size, used = con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchone()
    return int(block_size * used * rows / max(1, sum(inputs.working_rows.values())))


@contextmanager
def _explained_os_errors(step: str, path: Path, inputs: PublishInputs, needed_bytes: int) -> Iterator[None]:
    """Disk full and OS errors say where, how much space, and that the BI file is untouched."""
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        # DuckDB reports a full disk as an IOException, or as a fatal/transaction error on commit.
        if not (isinstance(exc, OSError | duckdb.IOException) or is_disk_full(exc)):
            raise
        untouched = (
            f"The previous snapshot {inputs.serving_path} is untouched and still served."
            if inputs.serving_path.exists()
            else "No snapshot was published."
        )
        hint = f"{free_space_hint(path, needed_bytes or None)}. {untouched}" if is_disk_full(exc) else untouched
        raise InfrastructureFailure(f"publishing the serving snapshot: {step} {path}", exc, hint) from exc


def _discard(con: duckdb.DuckDBPyConnection, temp: Path) -> None:
    """Drop a failed publish's file; errors here are secondary and must not hide the first one. (No transaction
    is left open: the one publish transaction rolls itself back.)"""
    try:
        attached = con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [SNAPSHOT_ALIAS]
        ).fetchone()[0]
        if attached:
            con.execute(f"DETACH {SNAPSHOT_ALIAS}")
    except duckdb.Error:
        pass
    for leftover in (temp, wal_of(temp)):
        leftover.unlink(missing_ok=True)


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
