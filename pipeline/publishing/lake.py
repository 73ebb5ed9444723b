"""Publish the serving snapshot's tables to a DuckLake (catalog in Postgres or SQLite, data as Parquet files in a
folder or object storage), as an optional second target beside the serving file.

Why a separate, pinned environment: DuckLake is a DuckDB extension, and offline its binaries exist only as PyPI
wheels built for DuckDB 1.5.5, while the project runs DuckDB 2.0.1, which refuses to load a 1.5.5 extension.
Moving the whole project to 1.5.5 was measured (docs/lake.md, "The version decision"); the lake side runs as a
child process in a venv uv builds once from ``lake_requirements.txt`` (``pinned_python``). The child (``lake_worker.py``) reads the published serving file read-only
and commits the changed tables into the lake.

The changed-table decision is the file publish's: the serving file records every table's change-log version,
contract digest and row count (``internal.snapshot_tables``); each lake snapshot carries the same record in its
commit metadata, and a table is written when the two differ. One publish = one lake snapshot with exactly those
tables, committed in one transaction, after the serving file was published (so after the same blocking checks
and publish guard); any failure rolls the transaction back and the lake keeps its previous snapshot.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from pipeline.failures import InfrastructureFailure

WORKER = Path(__file__).with_name("lake_worker.py")
REQUIREMENTS = Path(__file__).with_name("lake_requirements.txt")
# The DuckDB the lake side runs: the version in lake_requirements.txt, whose extension wheels exist on PyPI.
LAKE_DUCKDB_VERSION = next(
    line.split("==", 1)[1].strip() for line in REQUIREMENTS.read_text().splitlines() if line.startswith("duckdb==")
)
CATALOG_KINDS = ("postgres:", "sqlite:", "duckdb:")
# How long a lake publish may take before it is counted as hung (a Postgres that stopped answering).
WORKER_TIMEOUT_SECONDS = 3600


S3_URL_STYLES = ("path", "vhost")
ON, OFF = ("1", "true", "yes"), ("0", "false", "no")


@dataclass(frozen=True)
class S3Settings:
    """``CPT_LAKE_S3_*``: the S3 secret the publisher creates for an ``s3://`` data path. Empty: DuckDB's default
    (AWS's endpoint, us-east-1, vhost-style URLs, SSL on; no keys: anonymous access)."""

    endpoint: str = ""
    region: str = ""
    url_style: str = ""
    use_ssl: str = ""
    key_id: str = ""
    secret: str = field(default="", repr=False)

    def for_worker(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "url_style": self.url_style,
            "use_ssl": None if not self.use_ssl else self.use_ssl.strip().lower() in ON,
            "key_id": self.key_id,
            "secret": self.secret,
        }


@dataclass(frozen=True)
class LakeSettings:
    """``CPT_LAKE_CATALOG``, ``CPT_LAKE_DATA_PATH``, ``CPT_LAKE_RETENTION_DAYS``, ``CPT_LAKE_EXTENSION_DIR``, and
    ``CPT_LAKE_S3_*`` for a data path on S3-compatible storage."""

    catalog: str
    data_path: str
    retention_days: int
    extension_dir: Path
    s3: S3Settings = S3Settings()

    @property
    def enabled(self) -> bool:
        return bool(self.catalog)


@dataclass
class LakeResult:
    snapshot_id: int
    tables_written: list[str]
    tables_dropped: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    commit_seconds: float = 0.0
    expired_snapshots: int = 0
    files_removed: int = 0
    steps: dict[str, float] = field(default_factory=dict)


class LakePublishFailed(InfrastructureFailure):
    """The lake side failed; its transaction was rolled back, so the lake still serves its previous snapshot."""


def lake_problems(catalog: str, data_path: str) -> list[str]:
    """Configuration of the lake that cannot work (checked at start with the other settings)."""
    problems = []
    if catalog and not catalog.startswith(CATALOG_KINDS):
        problems.append(
            f"CPT_LAKE_CATALOG={catalog!r} is not a DuckLake catalog; use postgres:dbname=… host=… (several hosts) "
            "or sqlite:/path/metadata.sqlite (one host)"
        )
    if catalog and not data_path:
        problems.append("CPT_LAKE_CATALOG is set but CPT_LAKE_DATA_PATH is not: the lake needs a folder for its data")
    if data_path and not catalog:
        problems.append("CPT_LAKE_DATA_PATH is set but CPT_LAKE_CATALOG is not: the lake needs its catalog")
    return problems


def s3_problems(data_path: str, s3: dict[str, str]) -> list[str]:
    """``CPT_LAKE_S3_*`` values (by variable name) that cannot work; the secret's value is never repeated."""
    problems = []
    given = sorted(name for name, value in s3.items() if value)
    if given and not data_path.startswith("s3://"):
        problems.append(
            f"{', '.join(given)} set but CPT_LAKE_DATA_PATH={data_path!r} is not an s3:// path: they would be ignored"
        )
    style = s3.get("CPT_LAKE_S3_URL_STYLE", "")
    if style and style not in S3_URL_STYLES:
        problems.append(f"CPT_LAKE_S3_URL_STYLE={style!r}: use path (MinIO, most S3-compatible servers) or vhost (AWS)")
    ssl = s3.get("CPT_LAKE_S3_USE_SSL", "").lower()
    if ssl and ssl not in ON + OFF:
        problems.append(f"CPT_LAKE_S3_USE_SSL={ssl!r}: use true or false")
    endpoint = s3.get("CPT_LAKE_S3_ENDPOINT", "")
    if "://" in endpoint or endpoint.endswith("/"):
        problems.append(
            f"CPT_LAKE_S3_ENDPOINT={endpoint!r}: give host[:port] only (http or https is CPT_LAKE_S3_USE_SSL)"
        )
    if bool(s3.get("CPT_LAKE_S3_KEY_ID")) != bool(s3.get("CPT_LAKE_S3_SECRET")):
        problems.append("CPT_LAKE_S3_KEY_ID and CPT_LAKE_S3_SECRET go together: set both, or neither (anonymous)")
    return problems


def uv_executable() -> str:
    return shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


def pinned_python(extension_dir: Path) -> Path:
    """The interpreter of the lake's own environment: a venv built once by uv from lake_requirements.txt, beside
    the extensions, and named by the requirements' digest (a changed pin builds a new one). Starting it directly
    costs ~0.2 s; ``uv run --with-requirements`` re-resolves on every call (~0.3 s more), a third of the 1 s a
    small publish may take."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    env = extension_dir / f"python-env-{digest}"
    python = env / "bin" / "python"
    if python.exists():
        return python
    extension_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".python-env-", dir=extension_dir))
    try:
        uv = uv_executable()
        for step in (
            [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(building)],
            [uv, "pip", "install", "--quiet", "--python", str(building / "bin" / "python"), "-r", str(REQUIREMENTS)],
        ):
            done = subprocess.run(step, capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(step[:3])}: {done.stderr.strip()[-500:]}")
        try:
            building.rename(env)  # a venv finds its packages relative to its interpreter, so it can be moved
        except OSError:
            if not python.exists():  # another process finished first: use its environment
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


def worker_command(extension_dir: Path) -> list[str]:
    return [str(pinned_python(extension_dir)), str(WORKER)]


def run_worker(command: str, params: dict, *, timeout: float = WORKER_TIMEOUT_SECONDS) -> dict:
    # The parameters (the S3 secret, a catalog string with a password) go on stdin: a command line is
    # readable by every user of the host (ps, /proc/*/cmdline).
    try:
        done = subprocess.run(
            [*worker_command(Path(params["extension_dir"])), command],
            input=json.dumps(params),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        raise LakePublishFailed(
            f"lake {command}: the DuckDB {LAKE_DUCKDB_VERSION} environment", exc, _untouched()
        ) from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise LakePublishFailed(f"lake {command}", RuntimeError(reason), _untouched())
    return json.loads(done.stdout.strip().splitlines()[-1])


def _untouched() -> str:
    return "The lake is untouched: it still serves its previous snapshot."


def publish_to_lake(serving_path: Path, settings: LakeSettings, *, fail_before_commit: bool = False) -> LakeResult:
    """Commit the serving file's changed tables into the lake as one snapshot (none when nothing changed)."""
    started = time.perf_counter()
    result = run_worker(
        "publish",
        {
            "serving_path": str(serving_path),
            "catalog": settings.catalog,
            "data_path": settings.data_path,
            "retention_days": settings.retention_days,
            "extension_dir": str(settings.extension_dir),
            "s3": settings.s3.for_worker(),
            "fail_before_commit": fail_before_commit,
        },
    )
    return LakeResult(
        snapshot_id=result["snapshot_id"],
        tables_written=result["tables_written"],
        tables_dropped=result["tables_dropped"],
        rows=result["rows"],
        seconds=time.perf_counter() - started,
        commit_seconds=result["commit_seconds"],
        expired_snapshots=result["expired_snapshots"],
        files_removed=result["files_removed"],
        steps=result["steps"],
    )


def lake_history(settings: LakeSettings) -> list[dict]:
    # The data path too: attaching a lake whose data is on s3:// needs httpfs loaded.
    params = {
        "catalog": settings.catalog,
        "data_path": settings.data_path,
        "extension_dir": str(settings.extension_dir),
    }
    return run_worker("history", params)["snapshots"]


def format_history(snapshots: list[dict]) -> str:
    """One line per snapshot (time, id, tables changed), then each changed table's row count."""
    lines = []
    for snapshot in snapshots:
        written, dropped = snapshot["tables_written"], snapshot["tables_dropped"]
        if snapshot["author"] == "cpt-warehouse":
            what = f"{len(written)} table(s) written: {', '.join(written)}" + (
                f"; dropped {', '.join(dropped)}" if dropped else ""
            )
        else:  # a snapshot someone else committed (or the lake's creation): DuckLake's own account of it
            what = "; ".join(f"{k}: {', '.join(v)}" for k, v in snapshot["changes"].items()) or "-"
        lines.append(f"{snapshot['time'][:19]}  snapshot {snapshot['snapshot_id']:>5}  {what}")
        lines += [f"    {table:44} {rows:>14,} rows" for table, rows in snapshot["rows"].items()]
    return "\n".join(lines)


def read_only_uri(settings: LakeSettings) -> str:
    """The duckdb-engine URI a BI tool (Superset) reads the lake with: read-only, extensions from the local
    folder only, no access to the host's files beyond it."""
    # The catalog as written: SQLAlchemy takes the spaces of a libpq string, and duckdb-engine does not unescape %20.
    return (
        f"duckdb:///ducklake:{settings.catalog}?access_mode=read_only"
        f"&extension_directory={quote(str(settings.extension_dir))}&autoinstall_known_extensions=false"
    )
