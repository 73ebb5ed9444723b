"""Jobs, the daily schedule and the source-folder sensor.

One writer at a time: every asset and check step is in the ``cpt_warehouse``
concurrency pool, and the instance config (``warehouse/dagster_home/dagster.yaml``)
gives that pool one slot per run, so any run that touches the warehouse (a job,
"Materialize all" in the UI, a sensor or schedule run) queues behind the one in
progress.  The jobs also keep the ``cpt/warehouse`` tag limit, and the warehouse
resource's file lock backs both up for runs started outside the daemon.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.defs.resources import SourcesResource, WarehouseResource
from pipeline.inputs.change_detection import (
    ChangeSet,
    ObservedFile,
    RecordedFile,
    compare_folder,
    merge_change_sets,
    run_key,
)
from pipeline.inputs.source_folder import SourceFolderMissing, scan_folder, sha256_file
from pipeline.settings import SettingsError
from pipeline.warehouse.tables import table_exists

WRITER_TAG = {"cpt/warehouse": "writer"}
NO_SNAPSHOT = "no-snapshot"  # the generation of a serving file that does not exist yet
CORE = dg.AssetSelection.groups("core")
UTILIZATION = dg.AssetSelection.groups("utilization")
MEDICARE = dg.AssetSelection.groups("medicare")
# Both mart groups: one multi-asset builds them (it cannot be run in part), and the snapshot publishes them.
DOWNSTREAM = dg.AssetSelection.groups("marts", "marts_lists", "serving")

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Rebuild every table and publish the serving snapshot.",
    tags=WRITER_TAG,
)
documents_changed = dg.define_asset_job(
    "documents_changed",
    selection=CORE | DOWNSTREAM,
    description="Reload documents, rebuild marts, publish the snapshot.",
    tags=WRITER_TAG,
)
utilization_changed = dg.define_asset_job(
    "utilization_changed",
    selection=UTILIZATION | DOWNSTREAM,
    description="Load new or changed utilization files, rebuild marts, publish the snapshot.",
    tags=WRITER_TAG,
)
medicare_policy_changed = dg.define_asset_job(
    "medicare_policy_changed",
    # CORE too: core.modifiers takes its descriptions from the HCPCS Level II file (a medicare table).
    selection=MEDICARE | CORE | DOWNSTREAM,
    description="Load new or changed fee-schedule files, refresh core (modifier descriptions), rebuild marts, "
    "publish the snapshot.",
    tags=WRITER_TAG,
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=materialize_everything,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    description="Materialize everything every day at 05:00 UTC.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dataclass(frozen=True)
class WatchedFolder:
    kind: str
    directory: Path
    recursive: bool
    env_var: str
    job_name: str
    # What the published warehouse records for each entry of this folder: key, sha256, size, mtime.
    recorded_sql: str
    # The table and column holding when the recording run read the file (an older snapshot may lack it).
    table: str = ""
    read_at_column: str = ""
    # Watched since after some snapshots were published: a snapshot without its table records none of its files.
    newer_than_some_snapshots: bool = False

    def recorded_query(self, con: duckdb.DuckDBPyConnection) -> str:
        """``recorded_sql`` plus the read time, or NULL when the snapshot has no such column."""
        schema, _, table = self.table.partition(".")
        present = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? AND column_name = ?",
            [schema, table, self.read_at_column],
        ).fetchone()[0]
        read_at = self.read_at_column if present else "NULL"
        select, _, rest = self.recorded_sql.partition(" FROM ")
        return f"{select}, {read_at} FROM {rest}"

    def key(self, path: Path) -> str:
        """The entry's key as its asset records it: document_id (relative path) or file_name."""
        return path.relative_to(self.directory).as_posix() if self.recursive else path.name


def watched_folders(sources: SourcesResource) -> list[WatchedFolder]:
    """The folders of the resource the assets read, so the sensor watches what a run would load."""
    medicare = []
    if sources.medicare_policy is not None:
        medicare.append(
            WatchedFolder(
                "medicare_policy",
                sources.medicare_policy,
                False,
                "CPT_MEDICARE_POLICY_DIR",
                medicare_policy_changed.name,
                "SELECT file_name, sha256, file_size_bytes, file_modified_at FROM medicare.source_files",
                "medicare.source_files",
                "loaded_at",
                newer_than_some_snapshots=True,
            )
        )
    return [
        WatchedFolder(
            "documents",
            sources.documents,
            True,
            "CPT_DOCUMENTS_DIR",
            documents_changed.name,
            "SELECT document_id, sha256, file_size_bytes, file_modified_at FROM core.documents",
            "core.documents",
            "parsed_at",
        ),
        WatchedFolder(
            "utilization",
            sources.utilization,
            False,
            "CPT_UTILIZATION_DIR",
            utilization_changed.name,
            "SELECT file_name, sha256, file_size_bytes, file_modified_at FROM utilization.source_files",
            "utilization.source_files",
            "loaded_at",
        ),
        *medicare,
    ]


class SnapshotUnreadable(RuntimeError):
    """The serving snapshot exists but cannot be read, so the sensor cannot tell what changed."""


def read_published_files(
    serving_path: Path, folders: list[WatchedFolder]
) -> tuple[dict[str, dict[str, RecordedFile]], str]:
    """Per folder kind, the files the published snapshot records; and the snapshot's generation.

    A short-lived read-only connection to the serving file (never the working file, which a run may
    hold).  No snapshot yet: nothing is recorded, so everything in the folders counts as added.
    """
    if not serving_path.exists():
        return {folder.kind: {} for folder in folders}, NO_SNAPSHOT
    stat = serving_path.stat()
    generation = f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"
    try:
        con = duckdb.connect(str(serving_path), read_only=True)
        try:
            rows = {
                folder.kind: con.execute(folder.recorded_query(con)).fetchall() if _has_table(con, folder) else []
                for folder in folders
            }
        finally:
            con.close()
    except duckdb.Error as exc:
        raise SnapshotUnreadable(
            f"cannot read the serving snapshot {serving_path} to compare the source folders with it: {exc}. "
            "Fix or remove that file (a run of materialize_everything publishes a new one); until then the "
            "sensor requests nothing."
        ) from exc
    recorded = {
        kind: {key: RecordedFile(sha, size, modified, read_at) for key, sha, size, modified, read_at in r}
        for kind, r in rows.items()
    }
    return recorded, generation


def _has_table(con: duckdb.DuckDBPyConnection, folder: WatchedFolder) -> bool:
    """A snapshot published before a folder was watched has no table of it: everything in it counts as added. For
    the older folders a missing table means a broken snapshot, which the query reports."""
    return not folder.newer_than_some_snapshots or table_exists(con, folder.table)


def folder_changes(folder: WatchedFolder, recorded: dict[str, RecordedFile]) -> ChangeSet:
    """The folder, listed the way its asset lists it (every entry, links never followed), against the records."""
    scan = scan_folder(folder.directory, recursive=folder.recursive, env_var=folder.env_var)
    paths = {folder.key(path): path for path in scan.files}
    stats = {}
    for key, path in paths.items():
        try:
            stats[key] = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:  # removed since the listing: it is simply not there
            continue
    observed = [ObservedFile(key, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns) for key, stat in stats.items()]
    skipped = {folder.key(entry.path): entry.reason for entry in scan.skipped}

    def sha256_of(key: str) -> str:
        stat = stats[key]
        return _sha256_or_error(str(paths[key]), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    return compare_folder(recorded, observed, skipped, sha256_of)


@functools.lru_cache(maxsize=4096)
def _sha256_or_error(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    """Cached per file version: a changed file waiting for its run is read once, not on every tick."""
    try:
        return sha256_file(Path(path))
    except OSError as exc:  # an unreadable file differs from any recorded hash; its run records the error
        return f"unreadable: {exc.strerror or exc}"


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {what}" for what, count in counts.items() if count)


def changed_batches(
    folders: list[WatchedFolder], recorded: dict[str, dict[str, RecordedFile]], generation: str
) -> tuple[list[tuple[str, str, ChangeSet]], list[str]]:
    """(cursor entry, job, change set) per batch to run, and notes for the sensor page.

    One batch per changed folder.  With no snapshot published yet, one batch for everything: a
    documents-only run could not build the marts, which read the utilization tables too.
    """
    notes, by_folder = [], {}
    for folder in folders:
        try:
            changes = folder_changes(folder, recorded[folder.kind])
        except SourceFolderMissing as exc:
            notes.append(f"{folder.kind}: {exc}")
            continue
        if changes:
            by_folder[folder] = changes
        else:
            notes.append(f"{folder.kind}: matches the published warehouse")
    if generation == NO_SNAPSHOT and by_folder:
        everything = merge_change_sets({folder.kind: changes for folder, changes in by_folder.items()})
        return [("everything", materialize_everything.name, everything)], notes
    return [(folder.kind, folder.job_name, changes) for folder, changes in by_folder.items()], notes


def plan_requests(
    folders: list[WatchedFolder], recorded: dict[str, dict[str, RecordedFile]], generation: str, cursor: dict
) -> tuple[list[dg.RunRequest], list[str], dict[str, str]]:
    """At most one run request per job, the notes for the sensor page, and the next cursor.

    The cursor holds, per batch, the digest of the change set last requested.  The same change set
    is not requested twice: while its run is queued, and also after that run published without
    resolving it (a run that failed, or a file the asset does not record), which would otherwise
    request a run after every publish.  The next change, or the daily refresh, retries.
    """
    requests, next_cursor = [], {}
    batches, notes = changed_batches(folders, recorded, generation)
    for name, job_name, changes in batches:
        digest = changes.digest()
        next_cursor[name] = digest
        summary = describe(changes.counts())
        if cursor.get(name) == digest:
            notes.append(f"{name}: {summary}, already requested (runs tagged cpt/change_set={digest[:16]})")
            continue
        tags = {f"cpt/{what}": str(count) for what, count in changes.counts().items()}
        tags["cpt/change_set"] = digest[:16]
        requests.append(dg.RunRequest(run_key=run_key(job_name, digest, generation), job_name=job_name, tags=tags))
        notes.append(f"{name}: {summary}")
    return requests, notes, next_cursor


@dg.sensor(
    name="source_folder_sensor",
    jobs=[documents_changed, utilization_changed, medicare_policy_changed, materialize_everything],
    minimum_interval_seconds=30,
    description=(
        "Compares the documents, utilization and medicare policy folders with the published warehouse and requests one run "
        "per folder that changed (new, changed or removed files), whatever the number of files; one run of "
        "everything while no snapshot is published yet."
    ),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def source_folder_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, sources: SourcesResource
) -> dg.SensorResult:
    stored = json.loads(context.cursor) if context.cursor else {}
    # Earlier versions kept one entry per file; only per-folder digests (strings) are meaningful now.
    cursor = (
        {kind: value for kind, value in stored.items() if isinstance(value, str)} if isinstance(stored, dict) else {}
    )
    try:
        # Configuration that cannot work (e.g. the serving file inside a source folder, which would make every
        # publish look like a change) requests nothing; the reason is on the sensor page.
        warehouse.validate(sources=sources)
    except SettingsError as exc:
        context.log.error(str(exc))
        return dg.SensorResult(run_requests=[], cursor=context.cursor, skip_reason=str(exc))
    folders = watched_folders(sources)
    recorded, generation = read_published_files(warehouse.serving_file, folders)
    requests, notes, next_cursor = plan_requests(folders, recorded, generation, cursor)
    for note in notes:
        context.log.info(note)
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(next_cursor, sort_keys=True),
        skip_reason=None if requests else "; ".join(notes),
    )
