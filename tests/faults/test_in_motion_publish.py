"""A corrupt block of the working file never reaches the BI file (issue 16, point 4).

A full publish copies the working file at the OS level; before the copy replaces the serving file, every block
it carries is read back.  A checksum error fails the publish naming the working file; the previous snapshot stays
byte-identical and the temporary file is removed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from pipeline.defs.resources import WORKING_FILE_CONFIG
from pipeline.publishing import snapshot as serving_snapshot
from pipeline.publishing.snapshot import (
    PublishSettings,
    WorkingFileCorrupt,
    corrupt_blocks,
    inspect_publish,
    publish_inspected,
)
from tests.conftest import run_pipeline
from tests.faults.test_fault_injection import serving_state

# Slow: fault-injection and inputs-in-motion scenarios, each building and publishing the whole sample
# warehouse and running the pipeline again one to three times; the full suite runs them.
pytestmark = pytest.mark.slow

HEADER_BYTES = 3 * 4096  # DuckDB's file header and its two database headers come before block 0
BLOCK_HEADER_BYTES = 8  # each block starts with its checksum


def flip_bytes_in_block_of(path: Path, table: str) -> int:
    """Invert 16 bytes of the values of ``table``'s last column segment (inside its block's data); returns the
    block id."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size, block, block_offset = con.execute(
            "SELECT (SELECT block_size FROM pragma_database_size()), block_id, block_offset "
            f"FROM pragma_storage_info('{table}') WHERE block_id >= 0 ORDER BY block_id DESC, block_offset DESC "
            "LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    offset = HEADER_BYTES + block * block_size + BLOCK_HEADER_BYTES + block_offset + 16
    with open(path, "r+b") as handle:
        handle.seek(offset)
        data = handle.read(16)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))
    return block


def stray_temp_files(serving_path: Path) -> list[Path]:
    return list(serving_path.parent.glob(f".{serving_path.name}.*"))


@pytest.fixture
def published(pipeline_env):
    assert run_pipeline(pipeline_env).success
    return pipeline_env


def test_corrupt_blocks_reads_back_every_table(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path), config=WORKING_FILE_CONFIG)
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE s.t AS SELECT range AS i, range::VARCHAR || 'x' AS v, [range] AS l FROM range(300000)")
    con.execute("CREATE TABLE s.small AS SELECT 1 AS x")
    con.close()
    assert corrupt_blocks(path) is None
    flip_bytes_in_block_of(path, "s.t")
    problem = corrupt_blocks(path)
    assert problem is not None and "s.t" in problem and "checksum" in problem


@pytest.mark.parametrize("how", ["copy of the working file", "re-encoded"])
def test_a_corrupt_block_in_the_working_file_is_never_published(published, how):
    before = serving_state(published.serving_path)
    # A table no publish step reads through DuckDB when the working file is copied: only the read-back sees it.
    flip_bytes_in_block_of(published.warehouse_path, "utilization.geographies")
    con = duckdb.connect(str(published.warehouse_path), config=WORKING_FILE_CONFIG)
    try:
        # A table changed (a run that changes nothing publishes nothing, so it reads no block at all).
        inputs = dataclasses.replace(inspect_publish(con, published.serving_path), changed=frozenset({"core.codes"}))
        if how == "copy of the working file":
            # A big table changed: a full publish as an OS-level copy of the working file.
            settings = PublishSettings(full_rebuild_rows=1)
            assert serving_snapshot.plan_publish(inputs, settings).copy_working_file
        else:
            settings = PublishSettings(compact_every=1)  # compaction: every row re-encoded into a new file
            assert not serving_snapshot.plan_publish(inputs, settings).copy_working_file
        with pytest.raises(WorkingFileCorrupt) as failure:
            publish_inspected(con, inputs, settings)
    finally:
        con.close()
    text = str(failure.value)
    assert str(published.warehouse_path) in text and "checksum" in text
    assert f"previous snapshot {published.serving_path} is untouched" in text
    assert "cpt-warehouse build" in text
    assert serving_state(published.serving_path) == before
    assert stray_temp_files(published.serving_path) == []


def test_the_read_back_is_what_catches_the_copied_block(published, monkeypatch):
    """Mutation guard: without the read-back, the copy of the corrupt file is published (exit 0)."""
    flip_bytes_in_block_of(published.warehouse_path, "utilization.geographies")
    monkeypatch.setattr(serving_snapshot, "verify_every_block", lambda path, con: None)
    con = duckdb.connect(str(published.warehouse_path), config=WORKING_FILE_CONFIG)
    try:
        inputs = dataclasses.replace(inspect_publish(con, published.serving_path), changed=frozenset({"core.codes"}))
        publish_inspected(con, inputs, PublishSettings(full_rebuild_rows=1))
    finally:
        con.close()
    monkeypatch.undo()
    assert corrupt_blocks(published.serving_path) is not None
