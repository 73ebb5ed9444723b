"""The sensor sees an edit that keeps size and mtime (issue 16: the change time and inode are available).

A file is re-hashed when its change time (st_ctime, which no tool can set back) is at or after the time the
run that recorded it read the folder, less READ_WINDOW.  Deterministic: the edit restores the mtime with
os.utime, which moves the change time to now; the recorded read time is set by the test."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.defs.automation import documents_changed, utilization_changed
from pipeline.documents.folder import read_document
from pipeline.inputs.change_detection import (
    READ_WINDOW,
    ObservedFile,
    RecordedFile,
    changed_since_read,
    compare_folder,
)
from tests.pipeline.conftest import run_sensor

EPOCH = datetime(1970, 1, 1)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture
def folders(sensor_folders) -> dict[str, Path]:
    return sensor_folders


def publish(folders: dict[str, Path], read_at: datetime) -> None:
    """A serving snapshot recording both folders as read at ``read_at`` (parsed_at / loaded_at)."""
    serving = folders["serving"]
    serving.parent.mkdir(parents=True, exist_ok=True)
    serving.unlink(missing_ok=True)
    con = duckdb.connect(str(serving))
    try:
        con.execute("CREATE SCHEMA core; CREATE SCHEMA utilization")
        con.execute(
            "CREATE TABLE core.documents (document_id VARCHAR, sha256 VARCHAR, file_size_bytes BIGINT, "
            "file_modified_at TIMESTAMP, parsed_at TIMESTAMP)"
        )
        con.execute(
            "CREATE TABLE utilization.source_files (file_name VARCHAR, sha256 VARCHAR, file_size_bytes BIGINT, "
            "file_modified_at TIMESTAMP, loaded_at TIMESTAMP)"
        )
        for table, folder in (
            ("core.documents", folders["documents"]),
            ("utilization.source_files", folders["utilization"]),
        ):
            for path in sorted(folder.iterdir()):
                source = read_document(path, folder, max_bytes=1 << 20)
                con.execute(
                    f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)",
                    [path.name, source.sha256, source.size_bytes, source.modified_at, read_at],
                )
    finally:
        con.close()


def edit_keeping_size_and_mtime(path: Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def tick() -> dg.SensorResult:
    return run_sensor()


def write_sources(folders: dict[str, Path]) -> tuple[Path, Path]:
    document = folders["documents"] / "50592_kidney.txt"
    document.write_bytes(b"CPT 50592: kidney ablation. Covered by Medicare and Aetna.\n")
    cms = folders["utilization"] / "MUP_PHY_R25_P05_V20_D23_Geo.csv"
    cms.write_bytes(b"Rndrng_Prvdr_Geo_Lvl,HCPCS_Cd,Tot_Srvcs\nNational,50592,1204\n")
    return document, cms


@pytest.mark.parametrize("kind", ["documents", "utilization"])
def test_an_edit_that_keeps_size_and_mtime_is_a_change(folders, hashed, kind):
    document, cms = write_sources(folders)
    publish(folders, read_at=now_utc())  # the run read both files just now, after their last change
    assert tick().run_requests == []
    path, old, new = (document, b"Aetna", b"Cigna") if kind == "documents" else (cms, b"1204", b"9999")
    edit_keeping_size_and_mtime(path, old, new)
    (request,) = tick().run_requests
    assert request.job_name == (documents_changed if kind == "documents" else utilization_changed).name
    assert request.tags["cpt/changed"] == "1"
    assert path in hashed


def test_a_file_replaced_by_another_inode_with_the_same_stat_is_a_change(folders, hashed):
    document, _ = write_sources(folders)
    publish(folders, read_at=now_utc())
    stat = document.stat()
    replacement = folders["documents"].parent / "replacement.txt"
    replacement.write_bytes(document.read_bytes().replace(b"Aetna", b"Humna"))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, document)
    assert document.stat().st_ino != stat.st_ino
    (request,) = tick().run_requests
    assert request.tags["cpt/changed"] == "1"


def test_files_last_changed_well_before_their_read_are_not_read(folders, hashed):
    write_sources(folders)
    # The recording run read the folder long after every file's last change (ctime): nothing is re-hashed.
    publish(folders, read_at=now_utc() + READ_WINDOW + timedelta(hours=1))
    result = tick()
    assert result.run_requests == [] and hashed == []


def test_a_snapshot_without_read_times_still_compares_by_size_and_mtime(folders, hashed):
    document, _ = write_sources(folders)
    publish(folders, read_at=now_utc())
    con = duckdb.connect(str(folders["serving"]))
    con.execute("ALTER TABLE core.documents DROP COLUMN parsed_at")
    con.execute("ALTER TABLE utilization.source_files DROP COLUMN loaded_at")
    con.close()
    assert tick().run_requests == [] and hashed == []
    document.write_bytes(document.read_bytes() + b"More.\n")
    (request,) = tick().run_requests
    assert request.tags["cpt/changed"] == "1"


def test_the_rule_in_plain_data():
    read_at = datetime(2026, 1, 1, 12, 0, 0)
    recorded = RecordedFile("abc", 10, datetime(2026, 1, 1), read_at)
    mtime_ns = (datetime(2026, 1, 1) - EPOCH) // timedelta(microseconds=1) * 1000
    at = lambda moment: (moment - EPOCH) // timedelta(microseconds=1) * 1000  # noqa: E731
    assert changed_since_read(recorded, ObservedFile("a", 10, mtime_ns, at(read_at)))
    assert changed_since_read(recorded, ObservedFile("a", 10, mtime_ns, at(read_at - READ_WINDOW)))
    assert not changed_since_read(recorded, ObservedFile("a", 10, mtime_ns, at(read_at - READ_WINDOW) - 1000))
    assert not changed_since_read(RecordedFile("abc", 10, datetime(2026, 1, 1)), ObservedFile("a", 10, mtime_ns, 0))
    changes = compare_folder({"a": recorded}, [ObservedFile("a", 10, mtime_ns, at(read_at))], {}, lambda key: "new")
    assert changes.changed == ["a"]
    unchanged = compare_folder(
        {"a": recorded}, [ObservedFile("a", 10, mtime_ns, at(read_at - timedelta(hours=1)))], {}, lambda key: 1 / 0
    )
    assert not unchanged
