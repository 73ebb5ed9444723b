"""The DuckLake side of a lake publish, run in its own pinned environment (``lake_requirements.txt``).

This file is executed as a script by ``pipeline/publishing/lake.py`` under DuckDB 1.5.5, the DuckDB whose
extensions (ducklake, postgres_scanner, sqlite_scanner, httpfs) install offline as PyPI wheels; the project
itself runs DuckDB 2.0.1, which refuses to load them. It therefore imports nothing but the standard library and
``duckdb``, and nothing from ``pipeline``.

It reads the just-published serving file read-only (the serving file is written in storage format v1.4.0, which
1.5.5 opens) and commits the tables that changed since the lake's last publish into the lake, in one
transaction: one lake snapshot holding exactly those tables, or nothing at all. What a lake snapshot was built
from (each table's change-log version, contract digest and row count, as the serving file's
``internal.snapshot_tables`` records them) travels in the snapshot's commit ``extra_info``, so the lake holds no
bookkeeping table of its own and the next publish compares against it.

Usage: ``python lake_worker.py publish|history`` with the parameters as one JSON document on stdin (never on the
command line: they hold the S3 secret); the result is one JSON document on stdout, or exit code 1 with the
error on stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from importlib import util
from pathlib import Path

import duckdb

LAKE = "lake"
SERVING = "serving"
STATE_KEY = "cpt_tables"
AUTHOR = "cpt-warehouse"
# The serving file's own bookkeeping: what it was built from (read to decide the changes, never copied).
SERVING_STATE = "internal.snapshot_tables"
# Extension name -> the PyPI package shipping its binary for this DuckDB version.
EXTENSION_PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "httpfs": "duckdb_extension_httpfs",
}


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str, database: str = LAKE) -> str:
    return f"{database}.{ident(schema)}.{ident(table)}"


# --- extensions from the wheels ---------------------------------------------------------------------------


def install_extensions(extension_dir: Path, refresh: frozenset[str] = frozenset()) -> Path:
    """Copy each extension binary shipped by its PyPI wheel to where DuckDB looks for it
    (``<dir>/<version>/<platform>/<name>.duckdb_extension``); autoinstall stays off, so nothing is downloaded."""
    version = f"v{duckdb.__version__}"
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    target = extension_dir / version / platform
    target.mkdir(parents=True, exist_ok=True)
    for name, package in EXTENSION_PACKAGES.items():
        spec = util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        source = Path(spec.submodule_search_locations[0]) / "extensions" / version / f"{name}.duckdb_extension"
        destination = target / source.name
        differs = not destination.exists() or destination.stat().st_size != source.stat().st_size
        if source.exists() and (differs or name in refresh):
            partial = destination.with_name(destination.name + ".partial")
            shutil.copyfile(source, partial)
            partial.replace(destination)
    return target


def identity(path: Path) -> str:
    """The file as the file system knows it: any rewrite or replacement changes its inode, size or mtime.
    (A digest would add nothing: whoever can replace a binary in the folder can replace its record too; the
    folder, like the environment, must be writable by the publisher alone.)"""
    stat = path.stat()
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


def verified(extension_dir: Path, target: Path, names: list[str]) -> bool:
    """Whether each extension binary is the very file whose signature DuckDB checked before.

    DuckDB checks an extension's signature on every LOAD: 0.3-1 s for the 12-14 MB ducklake and postgres binaries
    on these machines, most of a small publish's fixed cost. The first load of a binary is signature-checked (in a
    connection of its own) and the file's identity recorded beside it; later loads compare the identity and skip
    the check. A binary that differs from its record is copied from its wheel again and checked again."""
    stale = [n for n in names if _recorded(target, n) != identity(target / f"{n}.duckdb_extension")]
    if not stale:
        return True
    install_extensions(extension_dir, frozenset(stale))
    check = duckdb.connect(
        config={"extension_directory": str(target.parent.parent), "autoinstall_known_extensions": False}
    )
    try:
        for name in stale:  # raises when a signature does not verify: then nothing is recorded
            check.execute(f"LOAD {name}")
            (target / f"{name}.duckdb_extension.verified").write_text(identity(target / f"{name}.duckdb_extension"))
    finally:
        check.close()
    return True


def _recorded(target: Path, name: str) -> str | None:
    record = target / f"{name}.duckdb_extension.verified"
    return record.read_text().strip() if record.exists() else None


def needed_extensions(catalog: str, data_path: str | None) -> list[str]:
    names = ["ducklake"]
    if catalog.startswith("postgres:"):
        names.append("postgres_scanner")
    elif catalog.startswith("sqlite:"):
        names.append("sqlite_scanner")
    if data_path and "://" in data_path:
        names.append("httpfs")
    return names


def connect(extension_dir: Path, catalog: str = "", data_path: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with exactly the extensions this lake needs loaded, from their verified binaries; no other
    extension is loaded or installed afterwards."""
    target = install_extensions(extension_dir)
    names = needed_extensions(catalog, data_path)
    con = duckdb.connect(
        config={
            "extension_directory": str(extension_dir),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            # Only binaries whose digest matches one DuckDB verified (``verified`` raises otherwise).
            "allow_unsigned_extensions": verified(extension_dir, target, names),
        }
    )
    for name in names:
        con.execute(f"LOAD {name}")
    return con


def create_s3_secret(con: duckdb.DuckDBPyConnection, s3: dict) -> None:
    """The connection's S3 secret for an ``s3://`` data path (CPT_LAKE_S3_*): temporary, in memory only, never
    written to DuckDB's secret folder. Unset values keep DuckDB's defaults."""
    options = ["TYPE s3", "PROVIDER config"]
    for key in ("key_id", "secret", "region", "endpoint", "url_style"):
        if s3.get(key):
            options.append(f"{key.upper()} {quote(s3[key])}")
    if s3.get("use_ssl") is not None:
        options.append(f"USE_SSL {'true' if s3['use_ssl'] else 'false'}")
    try:
        con.execute(f"CREATE TEMPORARY SECRET cpt_lake_s3 ({', '.join(options)})")
    except duckdb.Error as exc:  # DuckDB may quote the statement, secret included: name the settings instead
        raise RuntimeError(
            f"the S3 secret from CPT_LAKE_S3_* was refused ({type(exc).__name__}); check those settings"
        ) from None


def attach_lake(con: duckdb.DuckDBPyConnection, catalog: str, data_path: str | None, *, read_only: bool) -> None:
    options = []
    if data_path:
        options.append(f"DATA_PATH {quote(data_path)}")
    if read_only:
        options.append("READ_ONLY")
    clause = f" ({', '.join(options)})" if options else ""
    con.execute(f"ATTACH {quote('ducklake:' + catalog)} AS {LAKE}{clause}")


# --- what the lake holds -------------------------------------------------------------------------------------


def lake_state(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """The serving-file state the newest publish recorded (empty for a new lake)."""
    rows = con.execute(
        f"SELECT commit_extra_info FROM ducklake_snapshots({quote(LAKE)}) "
        "WHERE author = ? AND commit_extra_info IS NOT NULL ORDER BY snapshot_id DESC LIMIT 1",
        [AUTHOR],
    ).fetchall()
    if not rows:
        return {}
    try:
        return json.loads(rows[0][0]).get(STATE_KEY, {})
    except (ValueError, AttributeError):
        return {}


class Catalog:
    """Every table of one attached database with its columns (name, type, comment) and comment, read in two
    queries: each catalog function call on a DuckLake reads its metadata, so it is asked once, not per table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, database: str):
        self.columns: dict[str, list[tuple[str, str, str | None]]] = {}
        for table, column, data_type, comment in con.execute(
            "SELECT schema_name || '.' || table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE database_name = ? ORDER BY schema_name, table_name, column_index",
            [database],
        ).fetchall():
            self.columns.setdefault(table, []).append((column, data_type, comment))
        self.comments: dict[str, str | None] = dict(
            con.execute(
                "SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() WHERE database_name = ?",
                [database],
            ).fetchall()
        )

    @property
    def tables(self) -> set[str]:
        return set(self.comments)

    def shape(self, table: str) -> list[tuple[str, str]]:
        return [(column, data_type) for column, data_type, _ in self.columns.get(table, [])]


def serving_state(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Every table the serving file publishes, with what it was built from: generic over whatever tables and
    schemas the file holds."""
    return {
        name: [version, digest, rows]
        for name, version, digest, rows in con.execute(
            f"SELECT table_name, version, contract_digest, rows FROM {SERVING}.{SERVING_STATE} ORDER BY table_name"
        ).fetchall()
    }


# --- publish ---------------------------------------------------------------------------------------------------


def attach_serving(con: duckdb.DuckDBPyConnection, path: str) -> None:
    try:
        con.execute(f"ATTACH {quote(path)} AS {SERVING} (READ_ONLY)")
    except duckdb.IOException as exc:
        if "newer version" not in str(exc):
            raise
        raise RuntimeError(
            f"the serving file {path} is in a storage format DuckDB {duckdb.__version__} (the lake's) cannot read: it "
            "was written by a newer DuckDB without the project's storage version (v1.4.0), so BI clients on DuckDB "
            "1.4 and 1.5 cannot read it either. Publish it again with `uv run cpt-warehouse build` (a snapshot it "
            "cannot open is rebuilt in full, in the right format); the lake was not touched"
        ) from exc


def publish(params: dict) -> dict:
    started = time.perf_counter()
    steps: dict[str, float] = {}

    def lap(step: str) -> None:
        steps[step] = round(time.perf_counter() - started - sum(steps.values()), 4)

    con = connect(Path(params["extension_dir"]), params["catalog"], params["data_path"])
    if params["data_path"].startswith("s3://"):  # before ATTACH: the lake's files are read and written with it
        create_s3_secret(con, params.get("s3") or {})
    lap("start_and_load_extensions")
    attach_serving(con, params["serving_path"])
    attach_lake(con, params["catalog"], params["data_path"], read_only=False)
    lap("attach")
    wanted = serving_state(con)
    recorded = lake_state(con)
    lake_catalog = Catalog(con, LAKE)
    present = lake_catalog.tables
    lap("compare")
    changed = sorted(t for t, state in wanted.items() if recorded.get(t) != state or t not in present)
    gone = sorted(t for t in present if t not in wanted)
    result = {"tables_written": changed, "tables_dropped": gone, "expired_snapshots": 0, "files_removed": 0}
    if changed or gone:
        serving_catalog = Catalog(con, SERVING)
        con.execute("BEGIN")
        try:
            for table in gone:
                con.execute(f"DROP TABLE {qualified(*table.split('.', 1))}")
            for schema in dict.fromkeys(t.split(".", 1)[0] for t in changed):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{ident(schema)}")
            for table in changed:
                write_table(con, table, serving_catalog, lake_catalog)
            for table in changed:
                rows = con.execute(f"SELECT count(*) FROM {qualified(*table.split('.', 1))}").fetchone()[0]
                if rows != wanted[table][2]:
                    raise RuntimeError(f"lake {table} would hold {rows} rows, the serving file {wanted[table][2]}")
            message = f"publish: {len(changed)} table(s) written" + (f", {len(gone)} dropped" if gone else "")
            extra = json.dumps({STATE_KEY: wanted, "tables_written": changed, "tables_dropped": gone})
            con.execute(f"CALL {LAKE}.set_commit_message(?, ?, extra_info => ?)", [AUTHOR, message, extra])
            if params.get("fail_before_commit"):  # a test's way to stop a publish at its last step
                raise RuntimeError("stopped before the commit (fail_before_commit)")
            lap("write")
            con.execute("COMMIT")
            lap("commit")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    result["snapshot_id"] = con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()[0]
    result["commit_seconds"] = round(time.perf_counter() - started, 4)
    retention_days = params.get("retention_days") or 0
    if retention_days > 0 and (changed or gone):
        result.update(apply_retention(con, retention_days))
        lap("retention")
    result["rows"] = {t: wanted[t][2] for t in changed}
    con.close()
    result["seconds"] = round(time.perf_counter() - started, 4)
    result["steps"] = steps
    return result


def write_table(con: duckdb.DuckDBPyConnection, table: str, serving: Catalog, lake: Catalog) -> None:
    """Rewrite one table's rows in the open transaction. Same columns and types: delete and insert, so the
    table keeps its identity and its history reads as one table; otherwise it is recreated."""
    schema, name = table.split(".", 1)
    target, source = qualified(schema, name), qualified(schema, name, SERVING)
    same_shape = table in lake.tables and lake.shape(table) == serving.shape(table)
    if same_shape:
        con.execute(f"DELETE FROM {target}")
        con.execute(f"INSERT INTO {target} SELECT * FROM {source}")
    else:
        con.execute(f"DROP TABLE IF EXISTS {target}")
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
    # The data dictionary travels with the table: its comment and every column's (only those that differ).
    comment = serving.comments.get(table)
    if comment is not None and (not same_shape or lake.comments.get(table) != comment):
        con.execute(f"COMMENT ON TABLE {target} IS {quote(comment)}")
    current = {column: c for column, _, c in lake.columns.get(table, [])} if same_shape else {}
    for column, _, column_comment in serving.columns[table]:
        if column_comment is not None and current.get(column) != column_comment:
            con.execute(f"COMMENT ON COLUMN {target}.{ident(column)} IS {quote(column_comment)}")


def apply_retention(con: duckdb.DuckDBPyConnection, retention_days: float) -> dict:
    """Expire snapshots older than the retention (time travel reaches back that far, never the newest
    snapshot), then delete the data files no remaining snapshot needs."""
    # The calls' full rows, fetched: a count(*) over them, which reads no column, left every snapshot in place.
    # (Cast: their time zone-aware timestamps would need pytz to reach Python.)
    expired = len(
        con.execute(
            f"SELECT * REPLACE (snapshot_time::VARCHAR AS snapshot_time) FROM ducklake_expire_snapshots({quote(LAKE)}, "
            f"older_than => now() - INTERVAL '{int(float(retention_days) * 86400)} seconds')"
        ).fetchall()
    )
    removed = len(con.execute(f"CALL ducklake_cleanup_old_files({quote(LAKE)}, cleanup_all => true)").fetchall())
    return {"expired_snapshots": expired, "files_removed": removed}


# --- history ---------------------------------------------------------------------------------------------------


def history(params: dict) -> dict:
    # The data path only decides the extensions: attaching a lake whose data is on s3:// needs httpfs loaded (it
    # reads no object, so no secret).
    con = connect(Path(params["extension_dir"]), params["catalog"], params.get("data_path"))
    attach_lake(con, params["catalog"], None, read_only=True)
    snapshots = []
    for snapshot_id, at, changes, author, message, extra in con.execute(
        f"SELECT snapshot_id, snapshot_time::VARCHAR, changes, author, commit_message, commit_extra_info "
        f"FROM ducklake_snapshots({quote(LAKE)}) ORDER BY snapshot_id"
    ).fetchall():
        try:
            info = json.loads(extra) if extra else {}
        except ValueError:
            info = {}
        state = info.get(STATE_KEY, {})
        written = info.get("tables_written", [])
        snapshots.append(
            {
                "snapshot_id": snapshot_id,
                "time": at,
                "author": author,
                "message": message,
                "tables_written": written,
                "tables_dropped": info.get("tables_dropped", []),
                "rows": {t: state[t][2] for t in written if t in state},
                "changes": {k: list(v) for k, v in (changes or {}).items()},
            }
        )
    con.close()
    return {"snapshots": snapshots}


COMMANDS = {"publish": publish, "history": history}


def main(argv: list[str]) -> int:
    command, params = argv[0], json.loads(sys.stdin.read())
    try:
        result = COMMANDS[command](params)
    except Exception as exc:  # one line the caller can show; the traceback is no use to a BI operator
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
