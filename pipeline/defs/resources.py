"""Dagster resources: the working DuckDB warehouse and the source folders.

DuckDB allows one read-write process per file.  The warehouse resource takes an
exclusive ``flock`` on ``<warehouse>.lock`` for the whole run (resources are set
up once per run with the in-process executor), so a second run *waits* for the
first instead of failing with "Could not set lock on file".  BI tools never open
this file: they read the published serving snapshot (see assets/serving.py).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipeline.failures import describe
from pipeline.settings import DUCKDB_STORAGE_VERSION, Paths, env_int, validate_settings

LOCK_POLL_SECONDS = 2.0
# A new working file is created readable by DuckDB 1.4, like the serving file: a full publish can then be an
# OS-level copy of it rather than a re-encoding of every row (an existing file keeps its format).
WORKING_FILE_CONFIG = {"storage_compatibility_version": DUCKDB_STORAGE_VERSION}
# Dagster concurrency pool (limit 1 in the instance config) on every step that opens the working file.
WAREHOUSE_POOL = "cpt_warehouse"


@contextmanager
def writer_lock(warehouse_path: Path, *, timeout_seconds: float, log=None) -> Iterator[None]:
    """Exclusive, blocking lock for the one process allowed to write the working warehouse."""
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = warehouse_path.with_name(warehouse_path.name + ".lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_seconds
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"another pipeline run has held {lock_path} for over {timeout_seconds:.0f}s"
                    ) from None
                if not announced and log is not None:
                    handle.seek(0)
                    log.info(f"waiting for the warehouse writer lock held by: {handle.read().strip() or '?'}")
                    announced = True
                time.sleep(LOCK_POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _default(name: str) -> str:
    return str(getattr(Paths.from_env(), name))


class WarehouseResource(DuckDBResource):
    """The pipeline's working DuckDB file (CPT_WAREHOUSE_PATH) and its serving snapshot (CPT_SERVING_PATH)."""

    serving_path: str
    lock_timeout_seconds: int = 6 * 3600

    @classmethod
    def from_env(cls) -> WarehouseResource:
        return cls(
            database=_default("warehouse_path"),
            serving_path=_default("serving_path"),
            connection_config={
                "memory_limit": os.environ.get("CPT_DUCKDB_MEMORY_LIMIT", "2GB"),
                # Insertion order is meaningless for these tables; dropping it lets big loads stream.
                "preserve_insertion_order": False,
            },
            lock_timeout_seconds=env_int("CPT_WRITER_LOCK_TIMEOUT_SECONDS", 6 * 3600),
        )

    def validate(self, log=None) -> None:
        """Refuse configuration that cannot work before the run touches anything (``SettingsError``): this
        resource's own paths and memory limit, the source folders and reference data from the environment."""
        env = Paths.from_env()
        paths = Paths(
            env.documents_dir, env.utilization_dir, env.reference_dir, Path(self.database), Path(self.serving_path)
        )
        memory_limit = (self.connection_config or {}).get("memory_limit")
        notes = validate_settings(paths=paths, memory_limit=None if memory_limit is None else str(memory_limit))
        for note in notes:
            if log is not None:
                log.warning(note)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[WarehouseResource]:
        self.validate(context.log)
        with writer_lock(Path(self.database), timeout_seconds=self.lock_timeout_seconds, log=context.log):
            yield self

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the working file once, without retries: this run holds the writer lock, so a failure to open
        is never a wait-and-see contention but a real problem, reported at once with what to do."""
        path = Path(self.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path), read_only=False, config={**WORKING_FILE_CONFIG, **self.connection_config})
        except duckdb.Error as exc:
            raise WorkingFileUnusable(path, exc) from exc
        try:
            yield con
        finally:
            con.close()


class WorkingFileUnusable(RuntimeError):
    """The working DuckDB file cannot be opened: corrupt, unreadable, or held by another program."""

    def __init__(self, path: Path, cause: BaseException):
        if "lock" in str(cause).lower():
            advice = (
                "another program has it open (BI tools must open the serving file, never the working file); "
                "close it and rerun"
            )
        else:
            advice = (
                f"it is derived data: delete {path} (and {path.name}.wal if present) and run "
                "`uv run cpt-warehouse build`, which rebuilds every table from the source folders; the BI "
                "snapshot is untouched until that run publishes"
            )
        super().__init__(f"the working warehouse {path} cannot be opened ({describe(cause)}); {advice}")


class SourcesResource(dg.ConfigurableResource):
    """Input folders: documents (CPT_DOCUMENTS_DIR), utilization CSVs (CPT_UTILIZATION_DIR), reference CSVs."""

    documents_dir: str
    utilization_dir: str
    reference_dir: str

    @classmethod
    def from_env(cls) -> SourcesResource:
        return cls(
            documents_dir=_default("documents_dir"),
            utilization_dir=_default("utilization_dir"),
            reference_dir=_default("reference_dir"),
        )
