"""The BI-facing serving snapshot: atomic publish, readers never disturbed, failures change nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.serving_snapshot import PUBLISHED_SCHEMAS
from tests.conftest import REPO_ROOT, run_pipeline


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


def test_snapshot_has_the_published_schemas_with_comments(published):
    rows = published.query("SELECT DISTINCT schema_name FROM duckdb_tables() ORDER BY 1", serving=True)
    assert [r[0] for r in rows] == sorted(PUBLISHED_SCHEMAS)
    missing = published.query(
        "SELECT schema_name || '.' || table_name || '.' || column_name FROM duckdb_columns() "
        "WHERE schema_name IN ('core', 'utilization', 'marts') AND (comment IS NULL OR comment = '')",
        serving=True,
    )
    assert missing == []
    assert published.query(
        "SELECT count(*) FROM duckdb_tables() WHERE comment IS NULL OR comment = ''", serving=True
    ) == [(0,)]
    assert published.query("SELECT count(*) FROM marts.code_utilization WHERE code = '32994'", serving=True)[0][0] > 2


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
    from pipeline.mart_sql import mart_query

    def broken(table_name):  # a bad edit to a mart's SQL that duplicates its grain
        sql = mart_query(table_name)
        return f"SELECT * FROM ({sql}) UNION ALL SELECT * FROM ({sql})" if table_name == "code_utilization" else sql

    monkeypatch.setattr("pipeline.assets.marts.mart_query", broken)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.asset_check_key.to_user_string() for e in failed] == ["marts/code_utilization:contract"]
    serving_steps = [e for e in result.all_events if e.step_key == "serving__cpt_analytics" and e.is_step_success]
    assert serving_steps == []
    assert published.serving_path.stat().st_ino == inode
    assert snapshot_checksum(published.serving_path) == before


def test_killed_run_leaves_the_previous_snapshot(published):
    before = snapshot_checksum(published.serving_path)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    env = {**os.environ, **published.env_vars, "CPT_PUBLISH_PAUSE_SECONDS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "build"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(published.serving_path.parent.glob(".*.tmp")):
            assert process.poll() is None, "pipeline ended before it reached the publish step"
            assert time.monotonic() < deadline, "publish never started"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert snapshot_checksum(published.serving_path) == before
    # The next run recovers: the working file opens, the stale temp file is cleaned, the new data is published.
    assert run_pipeline(published).success
    assert not list(published.serving_path.parent.glob(".*.tmp*"))
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(7,)]


def test_stale_wal_beside_the_serving_file_is_removed(published):
    wal = published.serving_path.with_name(published.serving_path.name + ".wal")
    wal.write_bytes(b"not a wal for the new file")
    assert run_pipeline(published).success
    assert not wal.exists()
    assert published.query("SELECT count(*) FROM core.codes", serving=True) == [(8,)]


@pytest.mark.parametrize("cli_version", ["1.4.4", "1.5.6"])
def test_older_duckdb_clients_open_the_snapshot(published, cli_version):
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


def test_superset_style_sqlalchemy_inspection(published):
    sa = pytest.importorskip("sqlalchemy")
    engine = sa.create_engine(f"duckdb:///{published.serving_path}", connect_args={"read_only": True})
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
