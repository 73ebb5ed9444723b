"""Dagster resources: the working DuckDB warehouse and the source folders.

DuckDB allows one read-write process per file.  The warehouse resource takes an
exclusive ``flock`` on ``<warehouse>.lock`` for the whole run (resources are set
up once per run with the in-process executor), so a second run *waits* for the
first instead of failing with "Could not set lock on file".  BI tools never open
this file: they read the published serving snapshot (see pipeline/defs/assets/serving.py).
"""

from __future__ import annotations

import fcntl
import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from pipeline.failures import describe
from pipeline.publishing.lake import LakeSettings, S3Settings
from pipeline.publishing.snapshot import PublishSettings
from pipeline.settings import (
    BY_NAME,
    DEFAULTS,
    DUCKDB_STORAGE_VERSION,
    Paths,
    Settings,
    reference_date,
    resolve_path,
    validate_settings,
)
from pipeline.utilization.file_access import ZipCaps

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


def _fed(settings: Settings, name: str, value: object, env_vars: bool) -> object:
    """A resource field's value.  In the code location (``env_vars``), the variable itself when it is set, so
    the Dagster UI names the variable that feeds the field (``dg.EnvVar``, read when a run or tick starts); the
    default otherwise, since an ``EnvVar`` of an unset variable fails.  Fractions and flags have no ``EnvVar``
    form: their parsed value is given.  Outside it (``from_env()`` in scripts and tests) always the plain value:
    an ``EnvVar`` field cannot be read outside a Dagster run."""
    kind = BY_NAME[name].kind
    if not env_vars or name not in settings.set_variables or kind not in ("path", "integer"):
        return value if isinstance(value, int | float | bool) else str(value)
    return dg.EnvVar.int(name) if kind == "integer" else dg.EnvVar(name)


def _described(name: str) -> str:
    return f"{name} (default {BY_NAME[name].documented_default})"


class WarehouseResource(DuckDBResource):
    """The pipeline's working DuckDB file (CPT_WAREHOUSE_PATH) and its serving snapshot (CPT_SERVING_PATH)."""

    serving_path: str = Field(description=_described("CPT_SERVING_PATH"))
    lock_timeout_seconds: int = Field(
        default=DEFAULTS["writer_lock_timeout_seconds"], description=_described("CPT_WRITER_LOCK_TIMEOUT_SECONDS")
    )

    @classmethod
    def from_settings(cls, settings: Settings, env_vars: bool = True) -> WarehouseResource:
        return cls(
            database=_fed(settings, "CPT_WAREHOUSE_PATH", settings.warehouse_path, env_vars),
            serving_path=_fed(settings, "CPT_SERVING_PATH", settings.serving_path, env_vars),
            connection_config={
                "memory_limit": settings.duckdb_memory_limit,
                # Insertion order is meaningless for these tables; dropping it lets big loads stream.
                "preserve_insertion_order": False,
            },
            lock_timeout_seconds=_fed(
                settings, "CPT_WRITER_LOCK_TIMEOUT_SECONDS", settings.writer_lock_timeout_seconds, env_vars
            ),
        )

    @classmethod
    def from_env(cls) -> WarehouseResource:
        return cls.from_settings(Settings.from_env(), env_vars=False)

    @property
    def working_file(self) -> Path:
        return resolve_path(self.database)

    @property
    def serving_file(self) -> Path:
        return resolve_path(self.serving_path)

    def validate(self, log=None, sources: SourcesResource | None = None) -> None:
        """Refuse configuration that cannot work before the run touches anything (``SettingsError``): this
        resource's own files and memory limit, with the source folders of ``sources`` (the sensor passes its
        resource) or, at run start, where no other resource is at hand, those the environment names."""
        if sources is not None:
            folders = (sources.documents, sources.utilization, sources.reference)
            medicare = sources.medicare_policy
        else:
            env = Settings.from_env().paths
            folders = (env.documents_dir, env.utilization_dir, env.reference_dir)
            medicare = env.medicare_policy_dir
        paths = Paths(*folders, self.working_file, self.serving_file, medicare)
        memory_limit = (self.connection_config or {}).get("memory_limit")
        notes = validate_settings(paths=paths, memory_limit=None if memory_limit is None else str(memory_limit))
        for note in notes:
            if log is not None:
                log.warning(note)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[WarehouseResource]:
        if context.run is None:
            # A sensor tick reads the paths only: it must not wait for the writer lock a run holds, and it
            # validates with its own sources resource.
            yield self
            return
        self.validate(context.log)
        with writer_lock(self.working_file, timeout_seconds=self.lock_timeout_seconds, log=context.log), _heap_frozen():
            yield self

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the working file once, without retries: this run holds the writer lock, so a failure to open
        is never a wait-and-see contention but a real problem, reported at once with what to do."""
        path = self.working_file
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path), read_only=False, config={**WORKING_FILE_CONFIG, **self.connection_config})
        except duckdb.Error as exc:
            raise WorkingFileUnusable(path, exc) from exc
        try:
            yield con
        finally:
            con.close()


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """What the run's process holds when the run starts (its imports, the definitions, Dagster's run state) is out
    of the cyclic collector's sight until the run ends: otherwise each full collection in the run walks all of it
    again (about 0.15 s each, several per run, in the steps that use one core).  Nothing is lost: ``unfreeze``
    hands it back to the collector, garbage included."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class WorkingFileUnusable(RuntimeError):
    """The working DuckDB file cannot be opened: corrupt, unreadable, or held by another program."""

    def __init__(self, path: Path, cause: BaseException):
        if "newer version" in str(cause).lower():
            advice = (
                f"it was written by a newer DuckDB than this one ({duckdb.__version__}, the project's pin): it is "
                f"derived data, never converted in place: delete {path} (and {path.name}.wal if present) and run "
                "`uv run cpt-warehouse build`, which rebuilds it from the source folders in a format DuckDB 1.4 and "
                "later read; the BI snapshot is untouched until that run publishes"
            )
        elif "lock" in str(cause).lower():
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

    documents_dir: str = Field(description=_described("CPT_DOCUMENTS_DIR"))
    utilization_dir: str = Field(description=_described("CPT_UTILIZATION_DIR"))
    reference_dir: str = Field(description=_described("CPT_REFERENCE_DIR"))
    # None only where a caller builds the resource by hand (tests): no medicare policy folder is read then.
    medicare_policy_dir: str | None = Field(None, description=_described("CPT_MEDICARE_POLICY_DIR"))

    @classmethod
    def from_settings(cls, settings: Settings, env_vars: bool = True) -> SourcesResource:
        return cls(
            documents_dir=_fed(settings, "CPT_DOCUMENTS_DIR", settings.documents_dir, env_vars),
            utilization_dir=_fed(settings, "CPT_UTILIZATION_DIR", settings.utilization_dir, env_vars),
            reference_dir=_fed(settings, "CPT_REFERENCE_DIR", settings.reference_dir, env_vars),
            medicare_policy_dir=_fed(settings, "CPT_MEDICARE_POLICY_DIR", settings.medicare_policy_dir, env_vars),
        )

    @classmethod
    def from_env(cls) -> SourcesResource:
        return cls.from_settings(Settings.from_env(), env_vars=False)

    @property
    def documents(self) -> Path:
        return resolve_path(self.documents_dir)

    @property
    def utilization(self) -> Path:
        return resolve_path(self.utilization_dir)

    @property
    def reference(self) -> Path:
        return resolve_path(self.reference_dir)

    @property
    def medicare_policy(self) -> Path | None:
        return resolve_path(self.medicare_policy_dir) if self.medicare_policy_dir else None


class LimitsResource(dg.ConfigurableResource):
    """Limits of the loads, the checks and the publish (each field: its CPT_* variable; defaults in settings)."""

    max_document_bytes: int = Field(DEFAULTS["max_document_bytes"], description=_described("CPT_MAX_DOCUMENT_BYTES"))
    document_workers: int = Field(DEFAULTS["document_workers"], description=_described("CPT_DOCUMENT_WORKERS"))
    utilization_max_file_shrink: float = Field(
        DEFAULTS["utilization_max_file_shrink"], description=_described("CPT_UTILIZATION_MAX_FILE_SHRINK")
    )
    utilization_max_quarantine_fraction: float = Field(
        DEFAULTS["utilization_max_quarantine_fraction"],
        description=_described("CPT_UTILIZATION_MAX_QUARANTINE_FRACTION"),
    )
    zip_max_expanded_bytes: int = Field(
        DEFAULTS["zip_max_expanded_bytes"], description=_described("CPT_ZIP_MAX_EXPANDED_BYTES")
    )
    zip_max_ratio: float = Field(DEFAULTS["zip_max_ratio"], description=_described("CPT_ZIP_MAX_RATIO"))
    publish_max_shrink: float = Field(DEFAULTS["publish_max_shrink"], description=_described("CPT_PUBLISH_MAX_SHRINK"))
    publish_full_rebuild_rows: int = Field(
        DEFAULTS["publish_full_rebuild_rows"], description=_described("CPT_PUBLISH_FULL_REBUILD_ROWS")
    )
    publish_compact_every: int = Field(
        DEFAULTS["publish_compact_every"], description=_described("CPT_PUBLISH_COMPACT_EVERY")
    )
    publish_max_free_fraction: float = Field(
        DEFAULTS["publish_max_free_fraction"], description=_described("CPT_PUBLISH_MAX_FREE_FRACTION")
    )
    contract_checks_full_scan: bool = Field(
        DEFAULTS["contract_checks_full_scan"], description=_described("CPT_CONTRACT_CHECKS_FULL_SCAN")
    )
    coding_edits_reference_date: str = Field(
        DEFAULTS["coding_edits_reference_date"], description=_described("CPT_CODING_EDITS_REFERENCE_DATE")
    )

    @classmethod
    def from_settings(cls, settings: Settings, env_vars: bool = True) -> LimitsResource:
        return cls(
            **{
                name: _fed(settings, f"CPT_{name.upper()}", getattr(settings, name), env_vars)
                for name in cls.model_fields
            }
        )

    @classmethod
    def from_env(cls) -> LimitsResource:
        return cls.from_settings(Settings.from_env(), env_vars=False)

    @property
    def reference_date(self) -> date | None:
        """The date NCCI edits are judged active on; None: the day of the run."""
        return reference_date(self.coding_edits_reference_date)

    @property
    def zip_caps(self) -> ZipCaps:
        return ZipCaps(self.zip_max_expanded_bytes, self.zip_max_ratio)

    @property
    def publish_settings(self) -> PublishSettings:
        # A value below 1 would divide by zero; settings validation refuses it, a resource built by hand may not.
        return PublishSettings(
            self.publish_full_rebuild_rows, max(1, self.publish_compact_every), self.publish_max_free_fraction
        )


class OverridesResource(dg.ConfigurableResource):
    """Deliberate exceptions to the safety checks, for one run (run config) or every run (environment).

    Its own resource: run config given for a resource replaces all of that resource's values (unset fields fall
    back to the class defaults, not to the environment), so ``allow_shrink: true`` here leaves every limit as
    configured.  Every stage ``CPT_ALLOW_SHRINK=1`` reaches takes it from here: the documents load, the CMS
    loader (empty folder, cut file, shrunken replacement) and the publish guard."""

    allow_shrink: bool = Field(
        default=False,
        description=(
            "Accept an intended shrink: an emptied source folder, a CMS file replacing one with far fewer rows, a "
            "table losing rows the publish guard cannot explain. CPT_ALLOW_SHRINK=1 sets it for every run; run "
            "config resources.overrides.config.allow_shrink: true for one run."
        ),
    )

    @classmethod
    def from_settings(cls, settings: Settings, env_vars: bool = True) -> OverridesResource:
        return cls(allow_shrink=settings.allow_shrink)

    @classmethod
    def from_env(cls) -> OverridesResource:
        return cls.from_settings(Settings.from_env(), env_vars=False)


class SupersetResource(dg.ConfigurableResource):
    """The Superset whose dashboard cache is refreshed after a publish; off while ``url`` is empty."""

    url: str = Field(DEFAULTS["superset_url"], description=_described("CPT_SUPERSET_URL"))
    username: str = Field(DEFAULTS["superset_username"], description=_described("CPT_SUPERSET_USERNAME"))
    password: str = Field(DEFAULTS["superset_password"], description=_described("CPT_SUPERSET_PASSWORD"))
    dashboard: str = Field(DEFAULTS["superset_dashboard"], description=_described("CPT_SUPERSET_DASHBOARD"))

    @classmethod
    def from_settings(cls, settings: Settings, env_vars: bool = True) -> SupersetResource:
        # The password is shown in the Dagster UI by its variable's name only, never by value.
        password = settings.superset_password
        if env_vars and "CPT_SUPERSET_PASSWORD" in settings.set_variables:
            password = dg.EnvVar("CPT_SUPERSET_PASSWORD")
        return cls(
            url=settings.superset_url,
            username=settings.superset_username,
            password=password,
            dashboard=settings.superset_dashboard,
        )

    @classmethod
    def from_env(cls) -> SupersetResource:
        return cls.from_settings(Settings.from_env(), env_vars=False)


class LakeResource(dg.ConfigurableResource):
    """The optional DuckLake target (pipeline/publishing/lake.py); off while ``catalog`` is empty."""

    catalog: str = Field(default="", description=_described("CPT_LAKE_CATALOG"))
    data_path: str = Field(default="", description=_described("CPT_LAKE_DATA_PATH"))
    retention_days: int = Field(
        default=DEFAULTS["lake_retention_days"], description=_described("CPT_LAKE_RETENTION_DAYS")
    )
    extension_dir: str = Field(default=DEFAULTS["lake_extension_dir"], description=_described("CPT_LAKE_EXTENSION_DIR"))
    s3_endpoint: str = Field(default="", description=_described("CPT_LAKE_S3_ENDPOINT"))
    s3_region: str = Field(default="", description=_described("CPT_LAKE_S3_REGION"))
    s3_url_style: str = Field(default="", description=_described("CPT_LAKE_S3_URL_STYLE"))
    s3_use_ssl: str = Field(default="", description=_described("CPT_LAKE_S3_USE_SSL"))
    s3_key_id: str = Field(default="", description=_described("CPT_LAKE_S3_KEY_ID"))
    s3_secret: str = Field(default="", description=_described("CPT_LAKE_S3_SECRET"))

    @classmethod
    def from_settings(cls, settings: Settings, env_vars: bool = True) -> LakeResource:
        # The S3 secret is shown in the Dagster UI by its variable's name only, never by value.
        s3_secret = settings.lake_s3_secret
        if env_vars and "CPT_LAKE_S3_SECRET" in settings.set_variables:
            s3_secret = dg.EnvVar("CPT_LAKE_S3_SECRET")
        return cls(
            catalog=settings.lake_catalog,
            data_path=settings.lake_data_path,
            retention_days=_fed(settings, "CPT_LAKE_RETENTION_DAYS", settings.lake_retention_days, env_vars),
            extension_dir=settings.lake_extension_dir,
            s3_endpoint=settings.lake_s3_endpoint,
            s3_region=settings.lake_s3_region,
            s3_url_style=settings.lake_s3_url_style,
            s3_use_ssl=settings.lake_s3_use_ssl,
            s3_key_id=settings.lake_s3_key_id,
            s3_secret=s3_secret,
        )

    @classmethod
    def from_env(cls) -> LakeResource:
        return cls.from_settings(Settings.from_env(), env_vars=False)

    @property
    def settings(self) -> LakeSettings:
        # A local data folder is taken from the repo root like every other path; a URL (s3://…) is used as given.
        data_path = self.data_path
        if data_path and "://" not in data_path:
            data_path = str(resolve_path(data_path)).rstrip("/") + "/"
        s3 = S3Settings(
            self.s3_endpoint, self.s3_region, self.s3_url_style, self.s3_use_ssl, self.s3_key_id, self.s3_secret
        )
        return LakeSettings(self.catalog, data_path, self.retention_days, resolve_path(self.extension_dir), s3)


def resources_from(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the code location, from one reading of the environment."""
    return {
        "warehouse": WarehouseResource.from_settings(settings),
        "sources": SourcesResource.from_settings(settings),
        "limits": LimitsResource.from_settings(settings),
        "overrides": OverridesResource.from_settings(settings),
        "superset": SupersetResource.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
    }
