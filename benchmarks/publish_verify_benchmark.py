"""Publish read-back benchmark: what verifying every block of a full publish costs, against the copy itself.

    uv run python benchmarks/publish_verify_benchmark.py [--rows 10000000] [--repeat 3]

A full publish is an OS-level copy of the working file followed by a read-back of every block it carries
(issue 16: a corrupt block must never reach the BI file). This builds, in a temporary folder, a DuckDB file
of about the size of the 10M-row warehouse (--rows provider-like rows, a primary-keyed table beside them),
then times, alternating, --repeat times each:
  copy       shutil.copyfile of the file (the publish's baseline, measured in the same run)
  checksums  pipeline.publishing.block_checksums.mismatched_blocks: every block's stored checksum (data, indexes, metadata)
  scan       pipeline.publishing.snapshot.scan_every_block: every column of every table read back through DuckDB
             (the read-back before this change, and still the fallback for a layout the checksum check does not know)
and prints the median and range of each and the ratio of each read-back to the copy.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from pipeline.publishing.block_checksums import mismatched_blocks
from pipeline.publishing.snapshot import scan_every_block
from pipeline.settings import DUCKDB_STORAGE_VERSION


def build(path: Path, rows: int) -> None:
    con = duckdb.connect(str(path), config={"storage_compatibility_version": DUCKDB_STORAGE_VERSION})
    con.execute(
        "CREATE TABLE provider AS SELECT (1000000000 + i % 900000)::VARCHAR AS npi, "
        "lpad((i % 9000 + 10000)::VARCHAR, 5, '0') AS hcpcs_code, ['F', 'O'][1 + i % 2] AS place_of_service, "
        "(i % 97)::BIGINT AS total_beneficiaries, (i % 1013)::DOUBLE AS total_services, "
        "(i % 7919) / 7.0 AS avg_allowed, 2023 AS data_year, 'Springfield' AS city FROM range(?) r(i)",
        [rows],
    )
    con.execute("CREATE TABLE codes (code VARCHAR PRIMARY KEY, title VARCHAR)")
    con.execute("INSERT INTO codes SELECT 'C' || i, 'title ' || i FROM range(200000) r(i)")
    con.execute("CHECKPOINT")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source, copy = Path(folder) / "working.duckdb", Path(folder) / "copy.duckdb"
        started = time.perf_counter()
        build(source, args.rows)
        size_mb = source.stat().st_size / 1e6
        print(f"built {args.rows:,} rows: {size_mb:,.0f} MB in {time.perf_counter() - started:.1f} s")
        shutil.copyfile(source, copy)
        times: dict[str, list[float]] = {"copy": [], "checksums": [], "scan": []}
        for _ in range(args.repeat):
            for name in times:
                started = time.perf_counter()
                if name == "copy":
                    shutil.copyfile(source, copy)
                elif name == "checksums":
                    assert mismatched_blocks(copy) == []
                else:
                    con = duckdb.connect(str(copy), read_only=True)
                    scan_every_block(con)
                    con.close()
                times[name].append(time.perf_counter() - started)
        copy_median = statistics.median(times["copy"])
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"{name:10s} median {median:.2f} s (range {min(values):.2f}-{max(values):.2f} s), "
                f"{median / copy_median:.2f}x the copy, {size_mb / median:,.0f} MB/s"
            )


if __name__ == "__main__":
    main()
