"""The BI-facing serving snapshot: atomic publish, readers never disturbed, failures change nothing,
and a publish whose cost follows the change (incremental copy) with periodic full rebuilds."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipeline.failures import InfrastructureFailure
from pipeline.publishing.snapshot import (
    FULL,
    INCREMENTAL,
    PUBLISH_STATE,
    PUBLISHED_CONTRACTS,
    PUBLISHED_SCHEMAS,
    TABLES_STATE,
    UNCHANGED,
    PublishSettings,
    publish_snapshot,
)
from pipeline.settings import DUCKDB_STORAGE_VERSION
from pipeline.warehouse.change_log import record_change
from tests.conftest import PipelineEnv, kill_when_marker_appears, make_pipeline_env, run_pipeline

PUBLISHED_TABLES = [c.table for c in PUBLISHED_CONTRACTS]
# Incremental unless a test says otherwise: no size, count or free-space trigger fires.
NEVER_COMPACT = PublishSettings(full_rebuild_rows=10**12, compact_every=10**6, max_free_fraction=1.0)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temp_files(serving_path: Path) -> list[Path]:
    return list(serving_path.parent.glob(".*.tmp*"))


def snapshot_checksum(path: Path) -> dict[str, str]:
    """md5 of every published table's sorted rows; opening the file is part of the check."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            f"{s}.{t}"
            for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2").fetchall()
        ]
        return {
            table: con.execute(
                f"SELECT count(*) || ':' || coalesce(md5(string_agg(r, '|' ORDER BY r)), '') "
                f"FROM (SELECT t::VARCHAR AS r FROM {table} t)"
            ).fetchone()[0]
            for table in tables
        }
    finally:
        con.close()


@pytest.fixture
def published(pipeline_env):
    assert run_pipeline(pipeline_env).success
    return pipeline_env


@pytest.fixture(scope="module")
def built_once(tmp_path_factory) -> PipelineEnv:
    env = make_pipeline_env(tmp_path_factory.mktemp("built_once"))
    assert run_pipeline(env).success
    return env


@pytest.fixture
def built(built_once, tmp_path) -> PipelineEnv:
    """A file copy of one build of the sample (folders, working and serving file) under tmp_path: for the tests
    that read the snapshot or call publish_snapshot on the copy, never the pipeline (the copy's
    core.documents.source_path still names the first build's folder). A copy costs far less than a build."""
    shutil.copytree(built_once.root, tmp_path, dirs_exist_ok=True)
    return PipelineEnv(
        tmp_path,
        tmp_path / built_once.documents_dir.relative_to(built_once.root),
        tmp_path / built_once.utilization_dir.relative_to(built_once.root),
        tmp_path / built_once.warehouse_path.relative_to(built_once.root),
        tmp_path / built_once.serving_path.relative_to(built_once.root),
    )


def test_snapshot_has_the_published_schemas_with_comments(built):
    rows = built.query(
        "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE schema_name <> 'internal' ORDER BY 1", serving=True
    )
    assert [r[0] for r in rows] == sorted(PUBLISHED_SCHEMAS)
    tables = built.query(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name <> 'internal'", serving=True
    )
    assert sorted(t for (t,) in tables) == sorted(PUBLISHED_TABLES)
    schemas = ", ".join(f"'{s}'" for s in PUBLISHED_SCHEMAS)
    missing = built.query(
        "SELECT schema_name || '.' || table_name || '.' || column_name FROM duckdb_columns() "
        f"WHERE schema_name IN ({schemas}) AND (comment IS NULL OR comment = '')",
        serving=True,
    )
    assert missing == []
    assert built.query("SELECT count(*) FROM duckdb_tables() WHERE comment IS NULL OR comment = ''", serving=True) == [
        (0,)
    ]
    assert built.query("SELECT count(*) FROM marts.code_utilization WHERE code = '32994'", serving=True)[0][0] > 2


READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    q = "SELECT count(*) FROM core.documents"
    print(con.execute(q).fetchone()[0], flush=True)
    sys.stdin.readline()
    print(con.execute(q).fetchone()[0], flush=True)
    """
)


@pytest.mark.slow  # a reader in a child process while the whole pipeline runs
def test_reader_holding_the_old_file_through_a_full_run(published):
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published.serving_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "8"
        (published.documents_dir / "20982_bone_rfa.txt").unlink()
        assert run_pipeline(published).success  # the pipeline is not blocked by the reader
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "8"  # consistent old view
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(7,)]  # new connection, new data


def test_failed_blocking_check_leaves_the_snapshot_unchanged(published, monkeypatch):
    before = snapshot_checksum(published.serving_path)
    inode = published.serving_path.stat().st_ino
    from pipeline.marts.queries import mart_query

    def broken(table_name):  # a bad edit to a mart's SQL that duplicates its grain
        sql = mart_query(table_name)
        return f"SELECT * FROM ({sql}) UNION ALL SELECT * FROM ({sql})" if table_name == "code_utilization" else sql

    monkeypatch.setattr("pipeline.marts.build.mart_query", broken)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.asset_check_key.to_user_string() for e in failed] == ["marts/code_utilization:contract"]
    serving_steps = [e for e in result.all_events if e.step_key == "serving__cpt_analytics" and e.is_step_success]
    assert serving_steps == []
    assert published.serving_path.stat().st_ino == inode
    assert snapshot_checksum(published.serving_path) == before


# Runs the whole pipeline in a child process and stops it for good at one publish step: the wrapper of the
# step function writes a marker file and sleeps, so the test can SIGKILL the process at exactly that point.
PAUSED_PIPELINE = textwrap.dedent(
    """
    import pathlib, sys, time
    import dagster as dg
    import pipeline.publishing.snapshot as snapshot
    step, when, marker = sys.argv[1:4]
    original = getattr(snapshot, step)

    def pause_here():
        pathlib.Path(marker).write_text(step)
        time.sleep(600)

    def paused(*args, **kwargs):
        if when == "before":
            pause_here()
        result = original(*args, **kwargs)
        if when == "after":
            pause_here()
        return result

    setattr(snapshot, step, paused)
    from pipeline.definitions import ASSETS, CHECKS
    from pipeline.defs.resources import resources_from
    from pipeline.settings import Settings
    dg.materialize([*ASSETS, *CHECKS], resources=resources_from(Settings.from_env()))
    """
)


@pytest.mark.slow  # a child process per case, importing Dagster and running the whole pipeline
@pytest.mark.parametrize(
    ("mode", "step", "when"),
    [
        (INCREMENTAL, "copy_previous_file", "after"),
        (INCREMENTAL, "write_tables", "after"),
        (INCREMENTAL, "checkpoint_snapshot", "after"),
        (INCREMENTAL, "replace_serving_file", "before"),
        (FULL, "write_tables", "after"),
        (FULL, "checkpoint_snapshot", "after"),
        (FULL, "replace_serving_file", "before"),
    ],
)
def test_publish_killed_at_each_step_leaves_the_previous_snapshot(published, tmp_path, mode, step, when):
    before_bytes, before = file_sha256(published.serving_path), snapshot_checksum(published.serving_path)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    marker = tmp_path / "paused_at"
    compact_every = "1" if mode == FULL else "1000"
    env = {**os.environ, **published.env_vars, "CPT_PUBLISH_COMPACT_EVERY": compact_every}

    def temp_file_written():
        assert temp_files(published.serving_path), "the publish was stopped before it wrote its temp file"

    kill_when_marker_appears(
        [sys.executable, "-c", PAUSED_PIPELINE, step, when, str(marker)],
        env=env,
        marker=marker,
        timeout=120,
        stage=step,
        before_kill=temp_file_written,
    )
    assert file_sha256(published.serving_path) == before_bytes
    assert snapshot_checksum(published.serving_path) == before
    # The next run recovers: the working file opens, the stale temp file is cleaned, the new data is published.
    assert run_pipeline(published).success
    assert not temp_files(published.serving_path)
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(7,)]


def test_stale_wal_beside_the_serving_file_is_removed(published):
    wal = published.serving_path.with_name(published.serving_path.name + ".wal")
    wal.write_bytes(b"not a wal for the new file")
    assert run_pipeline(published).success
    assert not wal.exists()
    assert published.query("SELECT count(*) FROM core.codes", serving=True) == [(8,)]


@pytest.fixture(params=[FULL, INCREMENTAL])
def published_either_way(request, built):
    """The snapshot as a full rebuild wrote it, or after an incremental publish that rewrote one table."""
    if request.param == INCREMENTAL:
        simulate_writers_logging(built)
        with working(built) as con:
            con.execute("UPDATE core.codes SET title = title || ' (revised)' WHERE code = '32994'")
            record_change(con, "core.codes")
            assert publish_snapshot(con, built.serving_path, settings=NEVER_COMPACT).mode == INCREMENTAL
    return built


@pytest.mark.slow  # runs released DuckDB CLIs from PyPI (`uv tool run`)
@pytest.mark.parametrize("cli_version", ["1.4.4", "1.5.6"])
def test_older_duckdb_clients_open_the_snapshot(published_either_way, cli_version):
    published = published_either_way
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV to its own binary
    assert uv, "uv is needed to run the DuckDB CLI from PyPI in its own tool environment"
    output = subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--from",
            f"duckdb-cli=={cli_version}",
            "duckdb",
            "-readonly",
            "-csv",
            str(published.serving_path),
            "-c",
            "SELECT version(), count(*) FROM marts.code_utilization WHERE code = '32994'",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.splitlines()
    version, count = output[1].split(",")
    assert version.startswith(f"v{cli_version[:3]}")
    assert int(count) > 2


def test_superset_style_sqlalchemy_inspection(built):
    sa = pytest.importorskip("sqlalchemy")
    engine = sa.create_engine(f"duckdb:///{built.serving_path}", connect_args={"read_only": True})
    try:
        inspector = sa.inspect(engine)
        assert {"code_overview", "code_utilization"} <= set(inspector.get_table_names(schema="marts"))
        columns = {c["name"]: c for c in inspector.get_columns("codes", schema="core")}
        assert {"code", "code_system", "title"} <= set(columns)
        assert columns["code"]["comment"] == "CPT or HCPCS Level II code."
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT geo_level, sum(total_services) FROM marts.code_utilization "
                    "WHERE code = :code GROUP BY 1 ORDER BY 1"
                ),
                {"code": "32994"},
            ).fetchall()
        assert [r[0] for r in rows] == ["National", "State"]
    finally:
        engine.dispose()


def duckdb_cli(version: str, path: Path, sql: str) -> list[str]:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to run the DuckDB CLI from PyPI in its own tool environment"
    return subprocess.run(
        [uv, "tool", "run", "--from", f"duckdb-cli=={version}", "duckdb", "-readonly", "-csv", str(path), "-c", sql],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.splitlines()


# --- incremental publish ----------------------------------------------------------------------------------


class working:
    """The working file, opened read-write as the pipeline does (no run holds it during these tests)."""

    def __init__(self, env):
        self.path = env.warehouse_path

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.con = duckdb.connect(str(self.path))
        return self.con

    def __exit__(self, *exc):
        self.con.close()


def simulate_writers_logging(env) -> None:
    """What the writers do once they log their changes: a version for every table, then a publish of them."""
    with working(env) as con:
        for table in PUBLISHED_TABLES:
            record_change(con, table)
        publish_snapshot(con, env.serving_path, settings=NEVER_COMPACT)


def published_tables_checksum(path: Path) -> dict[str, str]:
    return {t: v for t, v in snapshot_checksum(path).items() if t in PUBLISHED_TABLES}


def publish_state(path: Path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            f"SELECT mode, reason, publishes_since_rebuild, tables_written FROM {PUBLISH_STATE}"
        ).fetchone()
    finally:
        con.close()


def test_incremental_publish_rewrites_only_the_changed_table(built):
    simulate_writers_logging(built)
    before = published_tables_checksum(built.serving_path)
    with working(built) as con:
        con.execute("UPDATE core.codes SET title = title || ' (revised)' WHERE code = '32994'")
        record_change(con, "core.codes")
        result = publish_snapshot(con, built.serving_path, settings=NEVER_COMPACT)
    after = published_tables_checksum(built.serving_path)
    assert (result.mode, result.tables_written) == (INCREMENTAL, ("core.codes",))
    assert {t for t in PUBLISHED_TABLES if before[t] != after[t]} == {"core.codes"}
    assert built.query("SELECT title FROM core.codes WHERE code = '32994'", serving=True)[0][0].endswith("(revised)")
    assert publish_state(built.serving_path)[3] == ["core.codes"]
    # Comments survive the copy and the rewrite.
    schemas = ", ".join(f"'{s}'" for s in PUBLISHED_SCHEMAS)
    assert built.query(
        f"SELECT count(*) FROM duckdb_columns() WHERE schema_name IN ({schemas}) AND (comment IS NULL OR comment = '')",
        serving=True,
    ) == [(0,)]


def test_nothing_changed_rewrites_nothing(built):
    simulate_writers_logging(built)
    before, stat = file_sha256(built.serving_path), built.serving_path.stat()
    with working(built) as con:
        result = publish_snapshot(con, built.serving_path, settings=NEVER_COMPACT)
    assert (result.mode, result.tables_written) == (UNCHANGED, ())
    after = built.serving_path.stat()
    assert file_sha256(built.serving_path) == before
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)  # not even replaced by a copy


def test_a_table_changed_without_a_logged_version_is_still_copied(built):
    """A writer that forgot to log its change: a row count that moved counts as a change."""
    simulate_writers_logging(built)
    with working(built) as con:
        con.execute("DELETE FROM core.place_of_service WHERE place_of_service_code = '19'")
        result = publish_snapshot(con, built.serving_path, settings=NEVER_COMPACT)
        expected = con.execute("SELECT count(*) FROM core.place_of_service").fetchone()[0]
    assert result.tables_written == ("core.place_of_service",)
    assert built.query("SELECT count(*) FROM core.place_of_service", serving=True) == [(expected,)]


@pytest.mark.slow  # twenty publish cycles
def test_twenty_incremental_cycles_keep_the_storage_version_and_a_bounded_size(built):
    simulate_writers_logging(built)
    first_size = built.serving_path.stat().st_size
    with working(built) as con:
        for cycle in range(20):
            con.execute("UPDATE core.codes SET title = ? WHERE code = '32994'", [f"cycle {cycle}"])
            con.execute("UPDATE core.documents SET title = ? WHERE code = '32994'", [f"cycle {cycle}"])
            record_change(con, "core.codes")
            record_change(con, "core.documents")
            assert publish_snapshot(con, built.serving_path, settings=NEVER_COMPACT).mode == INCREMENTAL
    assert publish_state(built.serving_path)[2] == 21
    assert built.query("SELECT title FROM core.codes WHERE code = '32994'", serving=True) == [("cycle 19",)]
    tags = built.query("SELECT tags FROM duckdb_databases() WHERE NOT internal AND path IS NOT NULL", serving=True)
    assert tags[0][0]["storage_version"].startswith(DUCKDB_STORAGE_VERSION)
    # Freed blocks are reused: twenty rewrites of two tables do not grow the file by twenty copies of them.
    block = built.query("SELECT block_size FROM pragma_database_size()", serving=True)[0][0]
    assert built.serving_path.stat().st_size <= first_size + 4 * block
    assert duckdb_cli("1.4.4", built.serving_path, "SELECT title FROM core.codes WHERE code = '32994'")[1:] == [
        "cycle 19"
    ]


# --- full rebuilds --------------------------------------------------------------------------------------


def test_every_nth_publish_is_a_full_rebuild(built):
    simulate_writers_logging(built)  # publish 2 (incremental); publish 1 was the full first one
    settings = PublishSettings(full_rebuild_rows=10**12, compact_every=4, max_free_fraction=1.0)
    results = []
    with working(built) as con:
        for _ in range(5):
            record_change(con, "core.codes")  # a publish that writes something: an unchanged one writes nothing
            results.append(publish_snapshot(con, built.serving_path, settings=settings))
    assert [r.mode for r in results] == [INCREMENTAL, INCREMENTAL, FULL, INCREMENTAL, INCREMENTAL]
    assert "CPT_PUBLISH_COMPACT_EVERY=4" in results[2].reason


def test_free_space_past_the_threshold_compacts_the_file(built):
    simulate_writers_logging(built)
    with working(built) as con:
        con.execute("DELETE FROM core.document_sections WHERE ordinal > 3")
        record_change(con, "core.document_sections")
        publish_snapshot(con, built.serving_path, settings=NEVER_COMPACT)
        total, free = built.query(
            "SELECT total_blocks, free_blocks FROM pragma_database_size() WHERE database_name = current_database()",
            serving=True,
        )[0]
        assert free > 0, "rewriting a table inside the copy leaves its old blocks free"
        just_below = PublishSettings(full_rebuild_rows=10**12, compact_every=10**6, max_free_fraction=free / total / 2)
        record_change(con, "core.codes")  # the next publish that writes anything compacts (an unchanged one waits)
        result = publish_snapshot(con, built.serving_path, settings=just_below)
    assert result.mode == FULL
    assert "CPT_PUBLISH_MAX_FREE_FRACTION" in result.reason
    assert built.query(
        "SELECT free_blocks FROM pragma_database_size() WHERE database_name = current_database()", serving=True
    ) == [(0,)]


def _tamper_snapshot(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("large", "large table changed: core.document_sections"),
        (f"UPDATE {TABLES_STATE} SET contract_digest = 'old' WHERE table_name = 'core.codes'", "contract changed"),
        (f"DELETE FROM {TABLES_STATE} WHERE table_name = 'marts.code_overview'", "set of published tables"),
        ("garbage", "could not be opened"),
    ],
)
def test_full_rebuild_triggers(built, tamper, reason):
    simulate_writers_logging(built)
    settings = NEVER_COMPACT
    with working(built) as con:
        if tamper == "large":
            rows = con.execute("SELECT count(*) FROM core.document_sections").fetchone()[0]
            settings = PublishSettings(full_rebuild_rows=rows, compact_every=10**6, max_free_fraction=1.0)
            record_change(con, "core.document_sections")
        elif tamper == "garbage":
            built.serving_path.write_bytes(b"not a duckdb file" * 100)
        else:
            _tamper_snapshot(built.serving_path, tamper)
        result = publish_snapshot(con, built.serving_path, settings=settings)
    assert result.mode == FULL
    assert reason in result.reason
    assert sorted(published_tables_checksum(built.serving_path)) == sorted(PUBLISHED_TABLES)


def test_serving_metadata_says_which_path_ran_and_why(published):
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    result = run_pipeline(published)
    [materialization] = [
        m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == "serving/cpt_analytics"
    ]
    metadata = materialization.materialization.metadata
    mode, reason = metadata["publish_mode"].value, metadata["publish_reason"].value
    written = metadata["tables_written"].value
    state = publish_state(published.serving_path)
    assert (mode, reason, list(written)) == (state[0], state[1], state[3])
    assert "core.documents" in written  # the removed document changed it
    assert "core.documents" in metadata["publish_guard"].value


# --- errors that say what to do ---------------------------------------------------------------------------


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _duckdb_disk_full(*_args, **_kwargs):
    raise duckdb.IOException('Could not write file "x.tmp": No space left on device')


def fake_error_class(fake) -> str:
    return "OSError" if fake is _disk_full else "IOException"


@pytest.mark.slow  # fault injection, like tests/faults: a build, then a run failing at each publish step
@pytest.mark.parametrize(
    ("target", "fake", "step"),
    [
        ("shutil.copyfile", _disk_full, "copying the previous snapshot"),
        ("pipeline.publishing.snapshot.write_tables", _duckdb_disk_full, "writing tables"),
        ("pipeline.publishing.snapshot.checkpoint_snapshot", _duckdb_disk_full, "checkpointing"),
    ],
)
def test_disk_full_during_publish_names_the_path_and_space_and_keeps_the_snapshot(
    published, monkeypatch, target, fake, step
):
    before = file_sha256(published.serving_path)
    monkeypatch.setenv("CPT_PUBLISH_COMPACT_EVERY", "1" if step != "copying the previous snapshot" else "1000")
    monkeypatch.setattr(target, fake)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "serving__cpt_analytics"
    error = failure.step_failure_data.error.cause  # the asset's own exception, under Dagster's wrapper
    message = error.message
    assert error.cls_name == InfrastructureFailure.__name__
    assert error.cause.cls_name == fake_error_class(fake)  # the original exception is kept and shown
    assert step in message and str(published.serving_path.parent) in message
    assert "MB free" in message and "needed about" in message
    assert "ENOSPC" in message or "No space left on device" in message
    assert f"previous snapshot {published.serving_path} is untouched" in message
    assert file_sha256(published.serving_path) == before
    assert not temp_files(published.serving_path)


def test_comments_are_rewritten_where_a_copy_holds_stale_or_none(tmp_path):
    """A publish into a copy leaves the comments it already carries as they are, and rewrites a table whose
    comment or column comment differs from its contract, or is missing (a rewritten table)."""
    from pipeline.contracts import CONTRACTS_BY_TABLE
    from pipeline.publishing.snapshot import SNAPSHOT_ALIAS, apply_all_comments

    contracts = (CONTRACTS_BY_TABLE["core.codes"], CONTRACTS_BY_TABLE["core.payers"])
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'copy.duckdb'}' AS {SNAPSHOT_ALIAS}")
    con.execute(f"CREATE SCHEMA {SNAPSHOT_ALIAS}.core")
    for contract in contracts:
        con.execute(contract.create_table_sql(f"{SNAPSHOT_ALIAS}.{contract.table}"))

    def comments() -> dict:
        rows = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE database_name = ? UNION ALL "
            "SELECT table_name, NULL, comment FROM duckdb_tables() WHERE database_name = ?",
            [SNAPSHOT_ALIAS, SNAPSHOT_ALIAS],
        ).fetchall()
        return {(table, column): comment for table, column, comment in rows}

    apply_all_comments(con, contracts)  # no comment yet: every one written
    written = comments()
    assert written[("codes", "code")] == "CPT or HCPCS Level II code."
    assert written[("payers", None)] == CONTRACTS_BY_TABLE["core.payers"].description
    con.execute(f"COMMENT ON COLUMN {SNAPSHOT_ALIAS}.core.codes.code IS 'stale'")
    con.execute(f"COMMENT ON TABLE {SNAPSHOT_ALIAS}.core.payers IS NULL")
    apply_all_comments(con, contracts)
    assert comments() == written
