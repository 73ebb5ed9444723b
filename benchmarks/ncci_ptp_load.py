"""NCCI PTP benchmark: the project's load of a real-size practitioner release against a bare DuckDB read of it.

    uv run python benchmarks/ncci_ptp_load.py [--rows 2633389] [--files 4] [--repeat 3]

1. Writes a practitioner PTP release in the real layout (tests/synthetic/coding_edits.py: copyright line,
   ``Column1/Column2 Edits``, the header wrapped over 4 lines, 7 tab-separated fields, ``*`` for no deletion
   date and for pre-1996 edits, latin-1, CRLF), split over ``--files`` files like CMS's f1-f4, with made-up
   Level II-shaped codes (never real NCCI rows) and a realistic mix: about 5% deleted, 1% indicator-9 tombstones,
   a quarter with indicator 0, 3% pre-1996.
2. Alternating, each in a fresh database file with the pipeline's DuckDB settings, times
   - bare:    ``CREATE TABLE t AS SELECT * FROM read_csv([the files], <the same read options>)``: typed dates, the
              ENUM indicator, latin-1, skip 6, nullstr '*', no sniffing (``ncci.PTP_READ_OPTIONS``);
   - project: ``load_folder`` of the medicare policy folder holding the files: hashing, recognition by content,
              the cut-off check, the read, the rules DuckDB's reader cannot apply, the repeated-key and
              duplicate-file checks, quarantine, source_files and the change log.
Target: project <= 1.5x bare (issue 21). Prints each pair and the median ratio, of wall-clock seconds (the target)
and of CPU seconds of this process (DuckDB's threads included): on a shared, busy machine the wall clock swings
with other people's work, the CPU seconds much less.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.medicare_policy.folder import load_folder, prepare_tables  # noqa: E402
from pipeline.medicare_policy.ncci import PTP_READ_OPTIONS  # noqa: E402
from pipeline.settings import DEFAULTS, DUCKDB_STORAGE_VERSION, REPO_ROOT  # noqa: E402
from tests.synthetic.coding_edits import ptp_file_name, ptp_text  # noqa: E402

RATIONALES = (
    "Misuse of Column Two code with Column One code",
    "Mutually exclusive procedures",
    "Standards of medical/surgical practice",
    "HCPCS/CPT procedure code definition",
    "CPT Manual or CMS manual coding instruction",
)
CONFIG = {
    "memory_limit": DEFAULTS["duckdb_memory_limit"],
    "preserve_insertion_order": False,
    "storage_compatibility_version": DUCKDB_STORAGE_VERSION,
}


def _code(number: int) -> str:
    return f"{chr(ord('A') + number // 10000 % 26)}{number % 10000:04d}"


def write_release(directory: Path, rows: int, files: int) -> list[Path]:
    """``rows`` unique edits in ``files`` files; each row's fields follow from its index (reproducible)."""
    per_file = -(-rows // files)
    paths = []
    for part in range(files):
        path = directory / ptp_file_name("practitioner", "v322r0", part + 1)
        with path.open("wb") as handle:
            handle.write(ptp_text([]))  # the preamble: copyright, title, the header over 4 lines
            start, stop = part * per_file, min(rows, (part + 1) * per_file)
            for chunk in range(start, stop, 100_000):
                lines = []
                for i in range(chunk, min(stop, chunk + 100_000)):
                    first, second = _code(i // 300), _code(200_000 + i % 300 + (i // 300) % 7 * 300)
                    year = 1996 + i % 30
                    effective = f"{year}{1 + i % 4 * 3:02d}01"
                    kind = i % 100
                    if kind == 0:  # a tombstone: deleted retroactively, indicator 9
                        deletion, indicator = effective, "9"
                    elif kind < 6:
                        deletion, indicator = f"{min(year + 2, 2026)}1231", "1"
                    else:
                        deletion, indicator = "*", "0" if kind < 31 else "1"
                    pre = "*" if kind in (40, 41, 42) else ""
                    lines.append(f"{first}\t{second}\t{pre}\t{effective}\t{deletion}\t{indicator}\t{RATIONALES[i % 5]}")
                handle.write(("\r\n".join(lines) + "\r\n").encode("latin-1"))
        paths.append(path)
    return paths


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare(paths: list[Path], database: Path) -> tuple[float, float, int]:
    con = duckdb.connect(str(database), config=CONFIG)
    files = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    start, cpu = time.perf_counter(), _cpu_seconds()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv({files}, {PTP_READ_OPTIONS})")
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    count = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return seconds, cpu, count


def project(folder: Path, database: Path) -> tuple[float, float, int]:
    con = duckdb.connect(str(database), config=CONFIG)
    prepare_tables(con, REPO_ROOT / "sources" / "reference")
    start, cpu = time.perf_counter(), _cpu_seconds()
    outcomes, _ = load_folder(con, folder)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    bad = [o for o in outcomes if o.status != "loaded"]
    if bad:
        raise RuntimeError(f"not loaded: {bad}")
    count = con.execute("SELECT count(*) FROM medicare.ncci_ptp").fetchone()[0]
    con.close()
    return seconds, cpu, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_633_389, help="edits in the release (v322r0: 2,633,389)")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ncci_bench_") as scratch:
        scratch = Path(scratch)
        folder = scratch / "medicare_policy"
        folder.mkdir()
        start = time.perf_counter()
        paths = write_release(folder, args.rows, args.files)
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(f"wrote {args.rows:,} edits in {args.files} files ({size:.0f} MB) in {time.perf_counter() - start:.1f} s")
        ratios, cpu_ratios = [], []
        for attempt in range(args.repeat):
            for database in scratch.glob("*.duckdb*"):
                database.unlink()
            b, b_cpu, b_rows = bare(paths, scratch / f"bare{attempt}.duckdb")
            p, p_cpu, p_rows = project(folder, scratch / f"project{attempt}.duckdb")
            if b_rows != p_rows:
                raise RuntimeError(f"bare read {b_rows:,} rows, project loaded {p_rows:,}")
            ratios.append(p / b)
            cpu_ratios.append(p_cpu / b_cpu)
            print(
                f"pair {attempt + 1}: bare {b:.2f} s (cpu {b_cpu:.2f} s), project {p:.2f} s (cpu {p_cpu:.2f} s) "
                f"({p_rows:,} rows): {p / b:.2f}x wall, {p_cpu / b_cpu:.2f}x cpu"
            )
        print(
            f"median ratio project / bare: {statistics.median(ratios):.2f}x wall (target <= 1.5x), "
            f"{statistics.median(cpu_ratios):.2f}x cpu"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
