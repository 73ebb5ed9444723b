"""Configuration in one place: every environment variable the pipeline reads, its default, its check.

``VARIABLES`` is the table (variable, default, kind, minimum); ``Settings.from_env`` reads it once into typed
values, and nothing else in ``pipeline/`` reads the environment (tests/test_settings_in_one_place.py).  The
Dagster resources are built from a ``Settings`` (pipeline/defs/resources.py) and hand the values to the domain
code as arguments.  The README's table of variables is tested against ``VARIABLES``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline.core.text_decoding import DEFAULT_MAX_DOCUMENT_BYTES

REPO_ROOT = Path(__file__).resolve().parent.parent

# The on-disk format of both DuckDB files, written once: the working file is created in it so that a full
# publish can be an OS-level copy of it (two different values would silently re-encode every row instead).
DUCKDB_STORAGE_VERSION = "v1.4.0"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, its default (a flag's is False: unset means off), and how it is checked.

    kind: path (relative to the repo root), integer (at least ``minimum``), fraction (0 to 1), positive (a
    number > 0), flag (1/true/yes mean on), memory (a DuckDB memory limit), level (a log level), date (YYYY-MM-DD or today), text (as given;
    an empty default means unset)."""

    name: str
    default: object
    kind: str
    minimum: int = 0

    @property
    def field(self) -> str:
        """Its ``Settings`` attribute: the name without CPT_, lower case."""
        return self.name.removeprefix("CPT_").lower()

    @property
    def documented_default(self) -> str:
        """The default as the README writes it."""
        if self.kind == "flag" or self.default == "":
            return "unset"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


VARIABLES = (
    Variable("CPT_DOCUMENTS_DIR", "sources/documents", "path"),
    Variable("CPT_UTILIZATION_DIR", "sources/utilization", "path"),
    Variable("CPT_REFERENCE_DIR", "sources/reference", "path"),
    Variable("CPT_WAREHOUSE_PATH", "warehouse/cpt.duckdb", "path"),
    Variable("CPT_SERVING_PATH", "warehouse/serving/cpt_analytics.duckdb", "path"),
    Variable("CPT_MEDICARE_POLICY_DIR", "sources/medicare_policy", "path"),
    Variable("CPT_MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES, "integer", 1),
    # Processes that parse documents and build their rows (pipeline/documents/workers.py): 0 = one per CPU.
    Variable("CPT_DOCUMENT_WORKERS", 0, "integer", 0),
    Variable("CPT_DUCKDB_MEMORY_LIMIT", "2GB", "memory"),
    Variable("CPT_WRITER_LOCK_TIMEOUT_SECONDS", 6 * 3600, "integer", 0),
    Variable("CPT_ALLOW_SHRINK", False, "flag"),
    Variable("CPT_UTILIZATION_MAX_FILE_SHRINK", 0.5, "fraction"),
    Variable("CPT_UTILIZATION_MAX_QUARANTINE_FRACTION", 0.5, "fraction"),
    Variable("CPT_ZIP_MAX_EXPANDED_BYTES", 20_000_000_000, "integer", 1),
    Variable("CPT_ZIP_MAX_RATIO", 100.0, "positive"),
    Variable("CPT_PUBLISH_MAX_SHRINK", 0.5, "fraction"),
    Variable("CPT_PUBLISH_FULL_REBUILD_ROWS", 1_000_000, "integer", 0),
    Variable("CPT_PUBLISH_COMPACT_EVERY", 20, "integer", 1),
    Variable("CPT_PUBLISH_MAX_FREE_FRACTION", 0.25, "fraction"),
    Variable("CPT_CONTRACT_CHECKS_FULL_SCAN", False, "flag"),
    # The daily schedule runs every 24 hours; two hours of grace for a queued or slow run.
    Variable("CPT_SERVING_MAX_AGE_HOURS", 26.0, "positive"),
    Variable("CPT_LOG_LEVEL", "INFO", "level"),
    # Optional: after a publish, refresh this Superset dashboard's cache (pipeline/bi/superset_refresh.py).
    Variable("CPT_SUPERSET_URL", "", "text"),
    Variable("CPT_SUPERSET_USERNAME", "", "text"),
    Variable("CPT_SUPERSET_PASSWORD", "", "text"),
    Variable("CPT_SUPERSET_DASHBOARD", "cpt-analytics", "text"),
    # The date NCCI edits are judged active on in marts.modifier_checks: YYYY-MM-DD, or today (each build's day).
    Variable("CPT_CODING_EDITS_REFERENCE_DATE", "today", "date"),
    # The optional DuckLake target (pipeline/publishing/lake.py): off while the catalog is unset.
    Variable("CPT_LAKE_CATALOG", "", "text"),
    Variable("CPT_LAKE_DATA_PATH", "", "text"),
    Variable("CPT_LAKE_RETENTION_DAYS", 30, "integer", 0),
    Variable("CPT_LAKE_EXTENSION_DIR", "warehouse/duckdb_extensions", "text"),
    # An s3:// CPT_LAKE_DATA_PATH: the publisher's S3 secret (unset: DuckDB's own defaults, AWS itself).
    Variable("CPT_LAKE_S3_ENDPOINT", "", "text"),
    Variable("CPT_LAKE_S3_REGION", "", "text"),
    Variable("CPT_LAKE_S3_URL_STYLE", "", "text"),
    Variable("CPT_LAKE_S3_USE_SSL", "", "text"),
    Variable("CPT_LAKE_S3_KEY_ID", "", "text"),
    Variable("CPT_LAKE_S3_SECRET", "", "text"),
)
BY_NAME = {variable.name: variable for variable in VARIABLES}
DEFAULTS = {variable.field: variable.default for variable in VARIABLES}

PATH_VARIABLES = tuple(v.name for v in VARIABLES if v.kind == "path")
SOURCE_FOLDER_VARIABLES = ("CPT_DOCUMENTS_DIR", "CPT_UTILIZATION_DIR", "CPT_REFERENCE_DIR")
INTEGER_VARIABLES = {v.name: v.minimum for v in VARIABLES if v.kind == "integer"}
FRACTION_VARIABLES = tuple(v.name for v in VARIABLES if v.kind == "fraction")
POSITIVE_NUMBER_VARIABLES = tuple(v.name for v in VARIABLES if v.kind == "positive")
ALLOW_SHRINK_ENV = "CPT_ALLOW_SHRINK"
# How every refusal that the shrink override lifts names it: both ways, since a run-config override reaches
# exactly the stages the variable reaches.
ALLOW_SHRINK_HINT = f"{ALLOW_SHRINK_ENV}=1 (or, for one run, run config resources.overrides.config.allow_shrink: true)"
MEMORY_LIMIT_ENV = "CPT_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = BY_NAME[MEMORY_LIMIT_ENV].default


def resolve_path(value: str | Path) -> Path:
    """A configured path as used: ``~`` expanded, relative paths taken from the repo root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def is_on(value: str | None) -> bool:
    """The one truthy parser of on/off variables: 1, true or yes (any case) mean on."""
    return (value or "").strip().lower() in {"1", "true", "yes"}


def _parse(variable: Variable, raw: str | None) -> object:
    if variable.kind == "flag":
        return is_on(raw)
    if variable.kind == "path":
        return resolve_path(raw or variable.default)
    if not raw or not raw.strip():
        return variable.default
    if variable.kind == "integer":
        return int(raw)
    if variable.kind in ("fraction", "positive"):
        return float(raw)
    if variable.kind == "level":
        return raw.strip().upper()
    if variable.kind == "date":
        return raw.strip().lower() if raw.strip().lower() == "today" else raw.strip()
    if variable.kind == "text":
        return raw.strip()
    return raw


@dataclass(frozen=True)
class Settings:
    """Every value the pipeline takes from the environment, typed, read once (``from_env``)."""

    documents_dir: Path
    utilization_dir: Path
    reference_dir: Path
    warehouse_path: Path
    serving_path: Path
    medicare_policy_dir: Path
    max_document_bytes: int
    document_workers: int
    duckdb_memory_limit: str
    writer_lock_timeout_seconds: int
    allow_shrink: bool
    utilization_max_file_shrink: float
    utilization_max_quarantine_fraction: float
    zip_max_expanded_bytes: int
    zip_max_ratio: float
    publish_max_shrink: float
    publish_full_rebuild_rows: int
    publish_compact_every: int
    publish_max_free_fraction: float
    contract_checks_full_scan: bool
    serving_max_age_hours: float
    log_level: str
    superset_url: str
    superset_username: str
    superset_password: str
    superset_dashboard: str
    coding_edits_reference_date: str
    lake_catalog: str
    lake_data_path: str
    lake_retention_days: int
    lake_extension_dir: str
    lake_s3_endpoint: str
    lake_s3_region: str
    lake_s3_url_style: str
    lake_s3_use_ssl: str
    lake_s3_key_id: str
    lake_s3_secret: str
    # Dagster's own variable (not ours, so not in VARIABLES): `cpt-warehouse build` uses that instance when set.
    dagster_home: str | None = None
    # The variables that were set: a resource field fed by one of them names it (dg.EnvVar) in the Dagster UI.
    set_variables: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and parse every variable; ``SettingsError`` (every problem named) when a value does not parse or
        is out of range.  What needs the file system or DuckDB (paths, memory limit, reference data) is checked by
        ``validate_settings``, at start and before every run and sensor tick."""
        environ = os.environ if environ is None else environ
        problems = _number_problems(environ) + _level_problems(environ) + _date_problems(environ)
        if problems:
            raise SettingsError(problems)
        return cls(
            **{v.field: _parse(v, environ.get(v.name)) for v in VARIABLES},
            dagster_home=environ.get("DAGSTER_HOME") or None,
            set_variables=frozenset(v.name for v in VARIABLES if environ.get(v.name)),
        )

    @classmethod
    def defaults(cls) -> Settings:
        return cls.from_env({})

    @property
    def paths(self) -> Paths:
        return Paths(*(getattr(self, v.field) for v in VARIABLES if v.kind == "path"))


@dataclass(frozen=True)
class Paths:
    documents_dir: Path
    utilization_dir: Path
    reference_dir: Path
    warehouse_path: Path
    serving_path: Path
    medicare_policy_dir: Path | None = None  # None: a caller that names only the first three folders


# --- configuration that cannot work is refused at start -------------------------------------------------


class SettingsError(ValueError):
    """Configuration that cannot work; the message lists every problem and why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "configuration refused, nothing was run:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


def validate_settings(
    environ: Mapping[str, str] | None = None,
    *,
    paths: Paths | None = None,
    memory_limit: str | None = None,
    check_reference: bool = True,
) -> list[str]:
    """Refuse configuration that cannot work (raise ``SettingsError`` naming each problem); return notes.

    ``paths`` and ``memory_limit`` default to what the environment says; a resource passes its own.  Checks:
    path variables with leading/trailing whitespace; the serving file = the working file; either inside a
    source folder (compared after resolving symlinks); numeric variables that do not parse or are out of
    range; a memory limit DuckDB does not take; reference CSVs that cannot be read (a Windows-1252 file is
    read, with a note).
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    for name in PATH_VARIABLES:
        value = environ.get(name)
        if value and value != value.strip():
            problems.append(
                f"{name}={value!r} has leading or trailing whitespace: that names a different file or folder "
                "than the one meant; remove the spaces"
            )
    if paths is None:
        paths = paths_from(environ)
    problems += _path_problems(paths, already=problems)
    problems += _number_problems(environ) + _level_problems(environ) + _date_problems(environ)
    limit = memory_limit if memory_limit is not None else environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
    problem = memory_limit_problem(limit)
    if problem:
        problems.append(problem)
    notes: list[str] = []
    problems += _lake_problems(environ)
    if check_reference:
        problems += _reference_problems(paths.reference_dir, notes)
    if problems:
        raise SettingsError(problems)
    return notes


def paths_from(environ: Mapping[str, str]) -> Paths:
    return Paths(*(_parse(BY_NAME[name], environ.get(name)) for name in PATH_VARIABLES))


def _path_problems(paths: Paths, already: list[str]) -> list[str]:
    problems = []
    files = {"CPT_WAREHOUSE_PATH": paths.warehouse_path, "CPT_SERVING_PATH": paths.serving_path}
    folders = dict(
        zip(SOURCE_FOLDER_VARIABLES, (paths.documents_dir, paths.utilization_dir, paths.reference_dir), strict=True)
    )
    if paths.medicare_policy_dir is not None:
        folders["CPT_MEDICARE_POLICY_DIR"] = paths.medicare_policy_dir
    for name, path in {**folders, **files}.items():
        if any(part != part.strip() for part in path.parts) and not any(p.startswith(name + "=") for p in already):
            problems.append(f"{name}: {str(path)!r} has a path part with leading or trailing whitespace; remove it")
    working, serving = (path.resolve() for path in files.values())
    if working == serving:
        problems.append(
            f"CPT_SERVING_PATH and CPT_WAREHOUSE_PATH are the same file ({serving}): every publish would replace "
            "the working file; give the BI file its own path"
        )
    for name, this, other in (("CPT_SERVING_PATH", serving, working), ("CPT_WAREHOUSE_PATH", working, serving)):
        if any(this == companion for companion in _companions(other)):
            problems.append(
                f"{name} ({this}) is a file DuckDB keeps beside {other} (its write-ahead log, lock or spill folder): "
                "one would overwrite the other; give it its own name"
            )
        if this.is_dir():
            problems.append(f"{name} ({this}) is a folder; it must name a DuckDB file (e.g. {this / 'cpt.duckdb'})")
    resolved_folders = {name: folder.resolve() for name, folder in folders.items()}
    for name, folder in resolved_folders.items():
        for other_name, other in resolved_folders.items():
            if name < other_name and (folder.is_relative_to(other) or other.is_relative_to(folder)):
                relation = "the same folder as" if folder == other else "nested with"
                problems.append(
                    f"{name} ({folder}) is {relation} {other_name} ({other}): each source folder must be its own, "
                    "or one would read the other's files as its input"
                )
    for file_name, file_path in files.items():
        resolved = file_path.resolve()
        for folder_name, folder in folders.items():
            folder_resolved = folder.resolve()
            if resolved.is_relative_to(folder_resolved):
                via = (
                    ""
                    if file_path.is_relative_to(folder)
                    else f" (through a symlink: {file_path} resolves to {resolved})"
                )
                problems.append(
                    f"{file_name} ({file_path}) is inside the source folder {folder_name} ({folder_resolved}){via}: "
                    "the pipeline would read its own output as input (the sensor would request a run after every "
                    "run); put it outside the source folders"
                )
    return problems


def _companions(database: Path) -> list[Path]:
    return [database.with_name(database.name + suffix) for suffix in (".wal", ".lock", ".tmp")]


def _number_problems(environ: Mapping[str, str]) -> list[str]:
    problems = []
    for name, minimum in INTEGER_VARIABLES.items():
        value = environ.get(name)
        if not value:
            continue
        try:
            number = int(value)
        except ValueError:
            problems.append(f"{name}={value!r} is not an integer")
            continue
        if number < minimum:
            problems.append(f"{name}={value!r} must be at least {minimum}")
    for name in (*FRACTION_VARIABLES, *POSITIVE_NUMBER_VARIABLES):
        value = environ.get(name)
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            problems.append(f"{name}={value!r} is not a number")
            continue
        if name in FRACTION_VARIABLES and not 0 <= number <= 1:
            problems.append(f"{name}={value!r} must be a fraction between 0 and 1 (e.g. 0.5)")
        elif name in POSITIVE_NUMBER_VARIABLES and not (number > 0 and math.isfinite(number)):
            problems.append(f"{name}={value!r} must be a positive number")
    return problems


def _level_problems(environ: Mapping[str, str]) -> list[str]:
    value = environ.get("CPT_LOG_LEVEL")
    if value and value.strip().upper() not in LOG_LEVELS:
        return [f"CPT_LOG_LEVEL={value!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"]
    return []


def reference_date(value: str) -> date | None:
    """A date variable's value as a date; None for today (decided when a run uses it, not when it starts)."""
    return None if value.strip().lower() == "today" else date.fromisoformat(value.strip())


def _date_problems(environ: Mapping[str, str]) -> list[str]:
    problems = []
    for variable in VARIABLES:
        value = environ.get(variable.name)
        if variable.kind != "date" or not value or not value.strip():
            continue
        try:
            reference_date(value)
        except ValueError:
            problems.append(f"{variable.name}={value!r} is not a date; write YYYY-MM-DD (e.g. 2026-07-01) or today")
    return problems


def memory_limit_problem(limit: str) -> str | None:
    """None when DuckDB takes ``limit`` as its memory_limit (tried on an in-memory connection)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET memory_limit = '" + limit.replace("'", "''") + "'")
    except duckdb.Error as exc:
        con.close()
        return (
            f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory limit DuckDB accepts ({_first_line(exc)}); use a size "
            "such as 2GB or 512MB, or a share of RAM such as 80%"
        )
    try:
        granted = _bytes_of(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    except duckdb.OutOfMemoryException:
        granted = 0  # so small that DuckDB cannot even answer
    finally:
        con.close()
    if granted is not None and granted < MIN_MEMORY_LIMIT_BYTES:
        return (
            f"{MEMORY_LIMIT_ENV}={limit!r} is too small for the pipeline (DuckDB grants {granted:,} bytes; it needs "
            f"at least {MIN_MEMORY_LIMIT_BYTES // 2**20} MiB); use a size such as 2GB"
        )
    return None


# A limit this small cannot work (at 1KB DuckDB cannot even report its settings). Above it, a limit still too
# small for a load fails that load as an out-of-memory infrastructure failure that names the file.
MIN_MEMORY_LIMIT_BYTES = 8 * 2**20
_UNITS = {"bytes": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def _bytes_of(setting: str) -> int | None:
    """'1.8 GiB' as bytes, as DuckDB reports its memory limit; None for a form it does not use."""
    number, _, unit = setting.strip().partition(" ")
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        return None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _lake_problems(environ: Mapping[str, str]) -> list[str]:
    from pipeline.publishing.lake import lake_problems, s3_problems

    data_path = (environ.get("CPT_LAKE_DATA_PATH") or "").strip()
    s3 = {v.name: (environ.get(v.name) or "").strip() for v in VARIABLES if v.name.startswith("CPT_LAKE_S3_")}
    return lake_problems((environ.get("CPT_LAKE_CATALOG") or "").strip(), data_path) + s3_problems(data_path, s3)


def _reference_problems(reference_dir: Path, notes: list[str]) -> list[str]:
    from pipeline.contracts.utilization_tables import GEOGRAPHIES_CONTRACT
    from pipeline.core.reference_data import REFERENCE_FILES, ReferenceDataError, load_reference_data
    from pipeline.core.reference_data import read_reference_csv as read
    from pipeline.utilization.geographies import GEOGRAPHIES_FILE, read_geographies

    if not reference_dir.is_dir():
        return [f"CPT_REFERENCE_DIR: the reference folder {reference_dir} does not exist"]
    try:
        for name, columns in REFERENCE_FILES.items():
            read(reference_dir / f"{name}.csv", columns, notes)  # notes on a Windows-1252 file
        load_reference_data(reference_dir)  # and the references between the files
        if (reference_dir / GEOGRAPHIES_FILE).exists():
            read(reference_dir / GEOGRAPHIES_FILE, tuple(GEOGRAPHIES_CONTRACT.column_names), notes)
            read_geographies(reference_dir)
    except (ReferenceDataError, OSError) as exc:
        return [f"reference data in {reference_dir} cannot be used: {exc}"]
    return []
