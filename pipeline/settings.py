"""Where things live. Every path has a default under the repo and an environment override."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

ENV_DEFAULTS = {
    "CPT_DOCUMENTS_DIR": "sources/documents",
    "CPT_UTILIZATION_DIR": "sources/utilization",
    "CPT_REFERENCE_DIR": "sources/reference",
    "CPT_WAREHOUSE_PATH": "warehouse/cpt.duckdb",
    "CPT_SERVING_PATH": "warehouse/serving/cpt_analytics.duckdb",
}


def env_path(name: str) -> Path:
    """Resolve an env var (or its default) to an absolute path; relative paths are from the repo root."""
    value = os.environ.get(name) or ENV_DEFAULTS[name]
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


# The on-disk format of both DuckDB files, written once: the working file is created in it so that a full
# publish can be an OS-level copy of it (two different values would silently re-encode every row instead).
DUCKDB_STORAGE_VERSION = "v1.4.0"

ALLOW_SHRINK_ENV = "CPT_ALLOW_SHRINK"


def env_flag(name: str) -> bool:
    """The one truthy parser of on/off variables: 1, true or yes (any case) mean on."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def allow_shrink_from_env() -> bool:
    """The one reading of the shrink override, shared by the loaders and the publish guard."""
    return env_flag(ALLOW_SHRINK_ENV)


def env_fraction(name: str, default: float) -> float:
    """A fraction between 0 and 1 from the environment (the one reader of every *_SHRINK / *_FRACTION variable)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        fraction = float(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}") from exc
    if not 0 <= fraction <= 1:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
    return fraction


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


@dataclass(frozen=True)
class Paths:
    documents_dir: Path
    utilization_dir: Path
    reference_dir: Path
    warehouse_path: Path
    serving_path: Path

    @classmethod
    def from_env(cls) -> Paths:
        return cls(
            documents_dir=env_path("CPT_DOCUMENTS_DIR"),
            utilization_dir=env_path("CPT_UTILIZATION_DIR"),
            reference_dir=env_path("CPT_REFERENCE_DIR"),
            warehouse_path=env_path("CPT_WAREHOUSE_PATH"),
            serving_path=env_path("CPT_SERVING_PATH"),
        )


# --- configuration that cannot work is refused at start -------------------------------------------------

PATH_VARIABLES = tuple(ENV_DEFAULTS)
SOURCE_FOLDER_VARIABLES = ("CPT_DOCUMENTS_DIR", "CPT_UTILIZATION_DIR", "CPT_REFERENCE_DIR")
MEMORY_LIMIT_ENV = "CPT_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"
# Numeric variables: name -> (kind, minimum).  Variables other modules read are listed here too, so a value
# that does not parse is refused before a run starts instead of failing half-way through it.
INTEGER_VARIABLES = {
    "CPT_MAX_DOCUMENT_BYTES": 1,
    "CPT_WRITER_LOCK_TIMEOUT_SECONDS": 0,
    "CPT_PUBLISH_FULL_REBUILD_ROWS": 0,
    "CPT_PUBLISH_COMPACT_EVERY": 1,
    "CPT_ZIP_MAX_EXPANDED_BYTES": 1,
}
FRACTION_VARIABLES = (
    "CPT_PUBLISH_MAX_SHRINK",
    "CPT_PUBLISH_MAX_FREE_FRACTION",
    "CPT_UTILIZATION_MAX_FILE_SHRINK",
    "CPT_UTILIZATION_MAX_QUARANTINE_FRACTION",
)
POSITIVE_NUMBER_VARIABLES = ("CPT_ZIP_MAX_RATIO",)


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
    problems += _number_problems(environ)
    limit = memory_limit if memory_limit is not None else environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
    problem = memory_limit_problem(limit)
    if problem:
        problems.append(problem)
    notes: list[str] = []
    if check_reference:
        problems += _reference_problems(paths.reference_dir, notes)
    if problems:
        raise SettingsError(problems)
    return notes


def paths_from(environ: Mapping[str, str]) -> Paths:
    def path(name: str) -> Path:
        value = Path(environ.get(name) or ENV_DEFAULTS[name]).expanduser()
        return value if value.is_absolute() else REPO_ROOT / value

    return Paths(*(path(name) for name in PATH_VARIABLES))


def _path_problems(paths: Paths, already: list[str]) -> list[str]:
    problems = []
    files = {"CPT_WAREHOUSE_PATH": paths.warehouse_path, "CPT_SERVING_PATH": paths.serving_path}
    folders = dict(
        zip(SOURCE_FOLDER_VARIABLES, (paths.documents_dir, paths.utilization_dir, paths.reference_dir), strict=True)
    )
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
