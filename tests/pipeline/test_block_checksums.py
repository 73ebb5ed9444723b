"""Every block of a DuckDB file is checked against its stored checksum: data, indexes and metadata alike."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.publishing.block_checksums import BLOCK_BYTES, HEADER_BYTES, LayoutUnknown, mismatched_blocks
from pipeline.publishing.snapshot import BlockChecksumError, scan_every_block, verify_every_block


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blocks") / "db.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id VARCHAR PRIMARY KEY, v BIGINT)")
    con.execute("INSERT INTO t SELECT 'key' || i, i FROM range(200000) r(i)")
    con.execute("CHECKPOINT")
    con.close()
    return path


def _flip(path: Path, block: int) -> None:
    offset = HEADER_BYTES + block * BLOCK_BYTES + BLOCK_BYTES // 2
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def _blocks(path: Path) -> range:
    return range((path.stat().st_size - HEADER_BYTES) // BLOCK_BYTES)


def test_a_file_duckdb_wrote_matches_every_checksum(database):
    assert mismatched_blocks(database) == []


def test_a_flipped_byte_is_found_in_whichever_block_it_is(database):
    written = [b for b in _blocks(database) if _block_bytes(database, b).strip(b"\0")]
    assert len(written) > 3
    for block in written:
        _flip(database, block)
        try:
            assert mismatched_blocks(database) == [block]
        finally:
            _flip(database, block)
    assert mismatched_blocks(database) == []


def _block_bytes(path: Path, block: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(HEADER_BYTES + block * BLOCK_BYTES)
        return handle.read(BLOCK_BYTES)


def test_a_corrupt_index_block_that_a_column_scan_misses_is_caught(database, tmp_path):
    """The case a scan of every column cannot see: a primary-key index block, read only by a point lookup."""
    caught_beyond_the_scan = []
    for block in _blocks(database):
        copy = tmp_path / f"copy{block}.duckdb"
        copy.write_bytes(database.read_bytes())
        _flip(copy, block)
        try:
            con = duckdb.connect(str(copy), read_only=True)
        except duckdb.Error:
            continue  # a metadata block: the file does not even open
        try:
            scan_every_block(con)
        except BlockChecksumError:
            con.close()
            continue  # table data: the scan sees it too
        try:
            with pytest.raises(BlockChecksumError, match="index or metadata block"):
                verify_every_block(copy, con)
            caught_beyond_the_scan.append(block)
        finally:
            con.close()
    assert caught_beyond_the_scan, "some block (the index) must be one only the checksum check catches"


def test_a_file_of_another_layout_is_said_to_be_unknown(tmp_path):
    other = tmp_path / "other.duckdb"
    other.write_bytes(b"\0" * (HEADER_BYTES + BLOCK_BYTES))
    with pytest.raises(LayoutUnknown):
        mismatched_blocks(other)


def test_a_zeroed_block_is_found(database, tmp_path):
    """Zeros are what a hole or a lost write leaves: DuckDB never writes a block of zeros."""
    copy = tmp_path / "zeroed.duckdb"
    copy.write_bytes(database.read_bytes())
    with open(copy, "r+b") as handle:
        handle.seek(HEADER_BYTES + 2 * BLOCK_BYTES)
        handle.write(bytes(BLOCK_BYTES))
    assert mismatched_blocks(copy) == [2]
