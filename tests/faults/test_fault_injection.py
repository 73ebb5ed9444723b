"""Fault injection: what the pipeline decides when something goes wrong.

Every case records the serving file's content hash and per-table row counts before and after.
Content failures (one bad file) are recorded and the run goes on; infrastructure failures fail
the run, delete nothing and publish nothing; a shrink nothing explains is refused.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import kill_when_marker_appears, run_pipeline

# Slow: fault-injection and inputs-in-motion scenarios, each building and publishing the whole sample
# warehouse and running the pipeline again one to three times; the full suite runs them.
pytestmark = pytest.mark.slow

SECRET = "root-password-hash-that-must-never-be-published"


def serving_state(path: Path) -> tuple[str, dict[str, int]]:
    """(sha256 of the file's bytes, rows per table): the two things a BI user would notice changing."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name <> 'internal'"
        ).fetchall()
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in tables}
    finally:
        con.close()
    return digest, counts


def working_counts(env) -> dict[str, int]:
    con = duckdb.connect(str(env.warehouse_path), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name IN ('core', 'utilization')"
        ).fetchall()
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in tables}
    finally:
        con.close()


def failure_text(result) -> str:
    return "\n".join(event.step_failure_data.error.to_string() for event in result.all_events if event.is_step_failure)


@pytest.fixture
def published(pipeline_env):
    assert run_pipeline(pipeline_env).success
    return pipeline_env


def assert_nothing_published_or_lost(env, before_serving, before_working):
    assert serving_state(env.serving_path) == before_serving
    assert working_counts(env) == before_working


def test_infrastructure_failure_while_reloading_documents(published, monkeypatch):
    before, working = serving_state(published.serving_path), working_counts(published)
    path = published.documents_dir / "50592_kidney_rfa.txt"
    path.write_text(path.read_text().replace("Medicare, Aetna, and Cigna Health", "Medicare and Humana"))
    import pipeline.documents.load as documents_load

    real, calls = documents_load.gate_table, []

    def out_of_memory(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256 KiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(documents_load, "gate_table", out_of_memory)
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert str(published.documents_dir) in text and "OutOfMemoryException" in text and "rolled back" in text
    assert "cannot rollback" not in text
    assert_nothing_published_or_lost(published, before, working)

    monkeypatch.setattr(documents_load, "gate_table", real)  # the cause is fixed: a rerun loses nothing
    assert run_pipeline(published).success
    payers = published.query("SELECT payer_id FROM core.code_payers WHERE code = '50592' ORDER BY 1", serving=True)
    assert payers == [("humana",), ("medicare",)]


def test_disk_full_during_the_core_write_names_the_cause_and_keeps_the_snapshot(published, monkeypatch):
    before, working = serving_state(published.serving_path), working_counts(published)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    import pipeline.documents.load as documents_load

    real, calls = documents_load.create_table, []

    def disk_full(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise duckdb.IOException(f'Could not write file "{published.warehouse_path}": No space left on device')
        return real(*args, **kwargs)

    monkeypatch.setattr(documents_load, "create_table", disk_full)  # the second staging table
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "No space left on device" in text and "MB free under" in text
    assert "cannot rollback" not in text and "transaction is aborted" not in text
    assert_nothing_published_or_lost(published, before, working)


@pytest.mark.parametrize("how", ["emptied", "missing"])
def test_empty_or_missing_documents_folder_is_refused(published, how):
    before, working = serving_state(published.serving_path), working_counts(published)
    if how == "emptied":
        for path in published.documents_dir.iterdir():
            path.unlink()
    else:
        published.documents_dir.rename(published.root / "documents.unmounted")
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert str(published.documents_dir) in text and "mount" in text
    assert_nothing_published_or_lost(published, before, working)


def test_empty_folder_with_the_override_removes_on_purpose(published, monkeypatch):
    for path in published.documents_dir.iterdir():
        path.unlink()
    monkeypatch.setenv("CPT_ALLOW_SHRINK", "1")
    assert run_pipeline(published).success
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(0,)]


def test_removing_one_document_on_purpose_is_published(published):
    before_hash, before_counts = serving_state(published.serving_path)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    assert run_pipeline(published).success
    after_hash, after_counts = serving_state(published.serving_path)
    assert after_hash != before_hash
    assert after_counts["core.documents"] == before_counts["core.documents"] - 1
    assert after_counts["core.codes"] == before_counts["core.codes"] - 1


def test_symlinks_out_of_the_folder_are_skipped_never_read(published, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(f"root:{SECRET}:0:0\n")
    (published.documents_dir / "evil.txt").symlink_to(outside / "passwd")
    (published.documents_dir / "linked_folder").symlink_to(outside, target_is_directory=True)
    (published.documents_dir / "loop").symlink_to(published.documents_dir / "loop")
    assert run_pipeline(published).success
    rows = dict(
        published.query(
            "SELECT document_id, status || ': ' || problems FROM core.documents WHERE status = 'skipped'", serving=True
        )
    )
    assert set(rows) == {"evil.txt", "linked_folder", "loop"}
    assert all("symbolic link" in reason for reason in rows.values())
    leaked = published.query(f"SELECT count(*) FROM core.document_sections WHERE body LIKE '%{SECRET}%'", serving=True)
    assert leaked == [(0,)]
    assert published.query("SELECT count(*) FROM core.documents WHERE status = 'parsed'", serving=True) == [(8,)]


def test_fifo_and_socket_are_skipped_without_hanging(published):
    os.mkfifo(published.documents_dir / "pipe.txt")
    os.mkfifo(published.utilization_dir / "pipe.csv")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(published.documents_dir / "sock.txt"))
    signal.alarm(120)  # a run that opened the FIFO would block forever: fail loudly instead
    try:
        assert run_pipeline(published).success
    finally:
        signal.alarm(0)
        server.close()
    skipped = dict(
        published.query("SELECT document_id, problems FROM core.documents WHERE status = 'skipped'", serving=True)
    )
    assert "FIFO" in skipped["pipe.txt"] and "socket" in skipped["sock.txt"]
    [(status, error)] = published.query(
        "SELECT status, error FROM utilization.source_files WHERE file_name = 'pipe.csv'", serving=True
    )
    assert status == "skipped" and "FIFO" in error


def test_an_unreadable_document_is_rejected_and_the_run_goes_on(published, monkeypatch):
    before_hash, _ = serving_state(published.serving_path)
    import pipeline.documents.folder as document_folder

    real = document_folder.read_bytes

    def eio_for_one(path):
        if path.name == "20983_bone_cryo.txt":
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path)

    monkeypatch.setattr(document_folder, "read_bytes", eio_for_one)
    assert run_pipeline(published).success
    [(status, problems)] = published.query(
        "SELECT status, problems FROM core.documents WHERE document_id = '20983_bone_cryo.txt'", serving=True
    )
    assert status == "rejected" and "EIO" in problems and "20983_bone_cryo.txt" in problems
    assert published.query("SELECT count(*) FROM core.documents WHERE status = 'parsed'", serving=True) == [(7,)]
    assert serving_state(published.serving_path)[0] != before_hash


def test_a_corrupted_working_file_fails_fast_with_what_to_do(published):
    before = serving_state(published.serving_path)
    published.warehouse_path.write_bytes(b"this is not a DuckDB file" * 1000)
    started = time.monotonic()
    result = run_pipeline(published, raise_on_error=False)
    elapsed = time.monotonic() - started
    assert not result.success and elapsed < 10
    text = failure_text(result)
    assert "derived data" in text and f"delete {published.warehouse_path}" in text
    assert serving_state(published.serving_path) == before
    published.warehouse_path.unlink()  # as the message says: delete it and rerun
    assert run_pipeline(published).success
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(8,)]


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["parse", "load", "publish"])
def test_sigkill_at_each_phase_then_a_rerun_succeeds(published, phase, tmp_path):
    before = serving_state(published.serving_path)
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    (published.documents_dir / "new_0599T.txt").write_text(
        (published.documents_dir / "50593_kidney_cryo.txt").read_text().replace("50593", "0599T")
    )
    marker = tmp_path / "stalled"
    env = {**os.environ, **published.env_vars}
    env.pop("DAGSTER_HOME", None)
    kill_when_marker_appears(
        [sys.executable, "-m", "tests.faults.stalled_build", phase, str(marker)],
        env=env,
        marker=marker,
        timeout=180,
        stage=phase,
    )
    assert serving_state(published.serving_path) == before
    assert run_pipeline(published).success
    codes = {code for (code,) in published.query("SELECT code FROM core.codes", serving=True)}
    assert "0599T" in codes and "20982" not in codes


def test_removing_most_utilization_files_on_purpose_is_published(pipeline_env):
    sample = next(pipeline_env.utilization_dir.glob("*_D23_Geo.csv"))
    for year in ("21", "22"):
        (pipeline_env.utilization_dir / sample.name.replace("_D23_", f"_D{year}_")).write_bytes(sample.read_bytes())
    assert run_pipeline(pipeline_env).success
    assert pipeline_env.query("SELECT count(*) FROM utilization.source_files", serving=True) == [(3,)]
    for path in pipeline_env.utilization_dir.glob("*_D2[12]_Geo.csv"):
        path.unlink()
    assert run_pipeline(pipeline_env).success  # two thirds of the rows leave, and the removals explain it
    assert pipeline_env.query("SELECT count(*) FROM utilization.source_files", serving=True) == [(1,)]


def test_an_unlistable_subfolder_fails_the_run_instead_of_removing_its_documents(published, monkeypatch):
    sub = published.documents_dir / "sub"
    sub.mkdir()
    (published.documents_dir / "20982_bone_rfa.txt").rename(sub / "20982_bone_rfa.txt")
    assert run_pipeline(published).success
    before, working = serving_state(published.serving_path), working_counts(published)
    real = os.scandir

    def eio_for_sub(path):
        if str(path).endswith("/sub"):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path)

    monkeypatch.setattr("pipeline.inputs.source_folder.os.scandir", eio_for_sub)
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    assert "sub" in failure_text(result) and "cannot be listed" in failure_text(result)
    assert_nothing_published_or_lost(published, before, working)
