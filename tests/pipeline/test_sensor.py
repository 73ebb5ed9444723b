"""The source-folder sensor: one run per batch of changes, measured against the published warehouse."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.defs.automation import (
    SnapshotUnreadable,
    documents_changed,
    materialize_everything,
    utilization_changed,
)
from pipeline.documents.folder import read_document
from tests.conftest import run_pipeline
from tests.pipeline.conftest import run_sensor

MAX_CURSOR_BYTES = 2048
MANY = 1_000


@pytest.fixture
def folders(sensor_folders) -> dict[str, Path]:
    publish_records(sensor_folders["serving"], sensor_folders["documents"], sensor_folders["utilization"])
    return sensor_folders  # published before files arrived


def write_documents(folder: Path, count: int) -> list[Path]:
    """``count`` documents spread over nested subfolders, plus hidden files the pipeline ignores."""
    written = []
    for number in range(count):
        path = folder / f"batch{number % 7}" / f"part{number % 3}" / f"doc_{number:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"CPT {10000 + number}: document {number}\n")
        written.append(path)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "batch0" / ".doc_00000.txt.swp").write_text("editor swap file\n")
    return written


def publish_records(serving: Path, documents: Path, utilization: Path | None = None, published_at_ns: int = 0) -> None:
    """A serving snapshot recording the folders as a run reads them (the pipeline's own read_document).

    ``published_at_ns`` sets the file's mtime: publishes in a test follow each other faster than the
    file system's timestamp granularity, real ones do not.
    """
    serving.parent.mkdir(parents=True, exist_ok=True)
    serving.unlink(missing_ok=True)
    con = duckdb.connect(str(serving))
    try:
        con.execute("CREATE SCHEMA core; CREATE SCHEMA utilization")
        columns = "(key VARCHAR, sha256 VARCHAR, file_size_bytes BIGINT, file_modified_at TIMESTAMP)"
        con.execute(f"CREATE TABLE core.documents {columns.replace('key', 'document_id')}")
        con.execute(f"CREATE TABLE utilization.source_files {columns.replace('key', 'file_name')}")
        for table, folder in (("core.documents", documents), ("utilization.source_files", utilization)):
            if folder is None:
                continue
            rows = []
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in path.relative_to(folder).parts):
                    continue
                source = read_document(path, folder, max_bytes=1 << 20)
                key = source.document_id if table == "core.documents" else path.name
                rows.append([key, source.sha256, source.size_bytes, source.modified_at])
            if rows:
                con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)
    finally:
        con.close()
    if published_at_ns:
        os.utime(serving, ns=(published_at_ns, published_at_ns))


def tick(cursor: str | None = None) -> dg.SensorResult:
    """One evaluation; ``cursor=None`` is a daemon with no stored state (a fresh instance)."""
    return run_sensor(cursor)


def by_job(result: dg.SensorResult) -> dict[str, dg.RunRequest]:
    requests = {request.job_name: request for request in result.run_requests}
    assert len(requests) == len(result.run_requests), "more than one request for a job in one tick"
    return requests


def counts(request: dg.RunRequest) -> dict[str, int]:
    return {what: int(request.tags[f"cpt/{what}"]) for what in ("added", "changed", "removed")}


# --- One run per batch ---------------------------------------------------------------------------------------------


def test_a_thousand_new_documents_give_one_request(folders, hashed):
    written = write_documents(folders["documents"], MANY)
    result = tick()
    requests = by_job(result)
    assert set(requests) == {documents_changed.name}
    assert counts(requests[documents_changed.name]) == {"added": len(written), "changed": 0, "removed": 0}
    assert len(result.cursor.encode()) < MAX_CURSOR_BYTES
    assert hashed == []  # new files are described by size and mtime; nothing is read


def test_with_nothing_published_yet_one_run_builds_everything(folders):
    """A documents-only run could not build the marts on an empty warehouse: they read utilization too."""
    folders["serving"].unlink()
    written = write_documents(folders["documents"], 5)
    (folders["utilization"] / "MUP_PHY_R25_P05_V20_D23_Geo.csv").write_text("header\n")
    (request,) = tick().run_requests
    assert request.job_name == materialize_everything.name
    assert counts(request) == {"added": len(written) + 1, "changed": 0, "removed": 0}


def test_a_pending_change_set_is_requested_once_and_keeps_its_key(folders):
    write_documents(folders["documents"], MANY)
    first = tick()
    (key,) = [request.run_key for request in first.run_requests]

    again = tick(first.cursor)
    assert again.run_requests == [] and "already requested" in again.skip_reason.skip_message
    # A daemon that lost its cursor asks again with the same key, which Dagster does not launch twice.
    (same,) = tick().run_requests
    assert same.run_key == key


def test_a_grown_change_set_gets_a_new_key(folders):
    written = write_documents(folders["documents"], MANY)
    first = tick()
    (folders["documents"] / "late_arrival.txt").write_text("CPT 32994: one more\n")
    (grown,) = tick(first.cursor).run_requests
    assert grown.run_key != first.run_requests[0].run_key
    assert counts(grown) == {"added": len(written) + 1, "changed": 0, "removed": 0}


def test_against_a_published_warehouse_only_real_changes_count(folders, hashed):
    written = write_documents(folders["documents"], MANY)
    publish_records(folders["serving"], folders["documents"])

    quiet = tick()
    assert quiet.run_requests == [] and hashed == []

    edited, touched, removed = written[:3], written[3:5], written[5:7]
    for path in edited:
        path.write_text(path.read_text() + "Service type: Surgical\n")
    for path in touched:
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))  # same bytes
    for path in removed:
        path.unlink()
    (folders["documents"] / "new.txt").write_text("CPT 32998: new\n")

    result = tick(quiet.cursor)
    (request,) = result.run_requests
    assert request.job_name == documents_changed.name
    assert counts(request) == {"added": 1, "changed": len(edited), "removed": len(removed)}
    assert sorted(hashed) == sorted(edited + touched)  # only files whose size or mtime moved are read
    assert len(result.cursor.encode()) < MAX_CURSOR_BYTES

    # While its run is pending, the next tick neither requests again nor reads the files again.
    waiting = tick(result.cursor)
    assert waiting.run_requests == [] and sorted(hashed) == sorted(edited + touched)


def test_an_unchanged_folder_requests_nothing_across_restarts(folders):
    write_documents(folders["documents"], 20)
    publish_records(folders["serving"], folders["documents"])
    first = tick()
    assert first.run_requests == []
    assert tick(first.cursor).run_requests == []


def test_a_file_restored_after_a_publish_triggers_again(folders, tmp_path):
    """Dagster never runs a run key twice, so a key must not repeat once the warehouse has moved on."""
    document = folders["documents"] / "a.txt"
    document.write_text("CPT 32994: A\n")
    backup = tmp_path / "a.txt.bak"
    shutil.copy2(document, backup)
    keys = [tick().run_requests[0].run_key]  # a.txt is new

    publish_records(folders["serving"], folders["documents"], published_at_ns=1)
    document.unlink()
    keys.append(tick().run_requests[0].run_key)  # removed

    publish_records(folders["serving"], folders["documents"], published_at_ns=2)
    assert tick().run_requests == []
    shutil.copy2(backup, document)  # same bytes, same mtime as when it was first added
    (restored,) = tick().run_requests
    assert counts(restored) == {"added": 1, "changed": 0, "removed": 0}
    assert restored.run_key not in keys


def test_a_same_size_edit_within_the_same_second_is_seen(folders):
    path = folders["documents"] / "a.txt"
    path.write_text("CPT 32994: A\n")
    os.utime(path, ns=(0, 1_700_000_000_000_000_000))
    publish_records(folders["serving"], folders["documents"])
    path.write_text("CPT 32994: B\n")
    os.utime(path, ns=(0, 1_700_000_000_000_001_000))  # one microsecond later, same size
    (request,) = tick().run_requests
    assert counts(request) == {"added": 0, "changed": 1, "removed": 0}


def test_links_count_by_presence_and_are_never_read(folders, hashed, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("CPT 32994: outside the folder\n")
    (folders["documents"] / "link.txt").symlink_to(outside)
    (request,) = tick().run_requests
    assert counts(request) == {"added": 1, "changed": 0, "removed": 0}
    assert hashed == []


def test_a_missing_folder_is_reported_not_taken_as_removal(folders):
    write_documents(folders["documents"], 5)
    publish_records(folders["serving"], folders["documents"])
    shutil.rmtree(folders["documents"])
    (folders["utilization"] / "MUP_PHY_R25_P05_V20_D23_Geo.csv").write_text("header\n")
    result = tick()
    assert set(by_job(result)) == {utilization_changed.name}
    quiet = tick(result.cursor)
    assert quiet.run_requests == [] and str(folders["documents"]) in quiet.skip_reason.skip_message


@pytest.mark.parametrize("content", [b"this is not a DuckDB file\n" * 64, None], ids=["corrupt", "without tables"])
def test_an_unreadable_snapshot_fails_the_tick_naming_the_file(folders, content):
    folders["serving"].unlink()
    if content is None:
        duckdb.connect(str(folders["serving"])).close()
    else:
        folders["serving"].write_bytes(content)
    with pytest.raises(SnapshotUnreadable, match=str(folders["serving"])):
        tick()


def test_a_cursor_from_the_per_file_sensor_is_replaced(folders):
    write_documents(folders["documents"], 3)
    old = {"documents/batch0/part0/doc_00000.txt": {"size": 1, "mtime_ns": 1, "sha256": "0" * 64, "version": 1}}
    result = tick(json.dumps(old))
    assert len(result.run_requests) == 1
    assert set(json.loads(result.cursor)) == {"documents"}


# --- Against the real pipeline -------------------------------------------------------------------------------------


def test_a_fresh_instance_over_a_published_warehouse_requests_nothing(pipeline_env, monkeypatch, hashed, tmp_path):
    for name, value in pipeline_env.env_vars.items():
        monkeypatch.setenv(name, value)
    # Entries a run records without reading them, next to the sample files.
    (pipeline_env.documents_dir / "link.txt").symlink_to(tmp_path / "elsewhere.txt")
    run_pipeline(pipeline_env)

    quiet = tick()
    assert quiet.run_requests == [], quiet.skip_reason
    assert hashed == []

    document = sorted(pipeline_env.documents_dir.glob("*.txt"))[0]
    document.write_text(document.read_text() + "\nModifier 59 applies.\n")
    removed = sorted(pipeline_env.utilization_dir.glob("*.csv"))[0]
    removed.unlink()
    requests = by_job(tick(quiet.cursor))
    assert counts(requests[documents_changed.name]) == {"added": 0, "changed": 1, "removed": 0}
    assert counts(requests[utilization_changed.name]) == {"added": 0, "changed": 0, "removed": 1}
