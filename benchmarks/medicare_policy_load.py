"""Medicare policy benchmark: a full-size release of each fee schedule, loaded by the project, against a bare DuckDB
read of the same files.

    uv run python -m benchmarks.medicare_policy_load [--pfs 19000] [--opps 19000] [--asc 4800] [--repeat 3]

Generates, in the layouts CMS publishes (tests/medicare_policy_files.py): a PPRRVU csv of ``--pfs`` rows inside a
zip beside its txt form (as the RVU zips ship), an OPPS Addendum B csv and an ASC Addendum AA csv. Then times, each
on a fresh DuckDB file, best of ``--repeat``:
- bare:    ``CREATE TABLE AS SELECT * FROM read_csv(…, skip = preamble, all_varchar, no sniffing)`` of the three
           csv files (already extracted: no zip, no typing, no validation);
- project: ``load_folder`` on the folder (list, hash, unzip, recognise, type every cell in DuckDB, quarantine,
           contract rules and keys, conflict rule, source_files).
Target: project <= 3 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import duckdb

from pipeline.medicare_policy.folder import load_folder, prepare_tables
from pipeline.settings import REPO_ROOT
from tests import medicare_policy_files as F

REFERENCE = REPO_ROOT / "sources" / "reference"


def _code(i: int) -> str:
    return f"{10000 + i:05d}" if i < 89000 else f"G{i % 10000:04d}"


def pfs_rows(count: int) -> list[dict]:
    rng = random.Random(20)
    rows = []
    i = 0
    while len(rows) < count:
        work, pe, mp = round(rng.uniform(0, 30), 2), round(rng.uniform(0, 150), 2), round(rng.uniform(0, 3), 2)
        fpe = round(pe / 5, 2)
        row = F.pfs_row(_code(i), rng.choice("AAAACRTBIX"), f"{work:.2f}", f"{pe:.2f}", f"{fpe:.2f}", f"{mp:.2f}",
                        f"{work + pe + mp:.2f}", f"{work + fpe + mp:.2f}", "32.3465",
                        glob=rng.choice(["000", "010", "090", "XXX", "ZZZ"]))  # fmt: skip
        rows.append(row)
        if rng.random() < 0.05:  # PC/TC codes: global, 26 and TC rows
            rows[-1]["pctc"] = "1"
            rows.append(dict(row, mod="26"))
            rows.append(dict(row, mod="TC"))
        i += 1
    return rows[:count]


def opps_rows(count: int) -> list[list[str]]:
    rng = random.Random(21)
    rows = []
    for i in range(count):
        if rng.random() < 0.6:
            rows.append(F.opps_row(_code(i), "N"))
        else:
            rate = rng.uniform(20, 30000)
            rows.append(
                F.opps_row(_code(i), "J1", f"{rng.randint(5000, 5999)}", f"{rate / 90:.4f}", rate, rate / 5, rate / 5)
            )
    return rows


def asc_rows(count: int) -> list[list[str]]:
    rng = random.Random(22)
    return [
        F.aa_row(_code(i), "N1") if rng.random() < 0.3 else F.aa_row(_code(i), "A2", f"{rng.uniform(1, 200):.4f}", rng.uniform(50, 12000))
        for i in range(count)
    ]  # fmt: skip


def generate(folder: Path, extracted: Path, args) -> None:
    rows = pfs_rows(args.pfs)
    pfs_csv = F.pprrvu_csv(rows, title=F.pprrvu_title(2025, "October"))
    F.write(
        folder / "RVU25D.zip",
        F.zipped({"PPRRVU2025_Oct.csv": pfs_csv, "PPRRVU2025_Oct.txt": F.pprrvu_txt(rows, title="RVU25D")}),
    )
    opps = F.addendum_b_csv(opps_rows(args.opps), month_year="October 2025")
    asc = F.addendum_aa_csv(asc_rows(args.asc), month_year="October 2025")
    F.write(folder / "2025 October Web Addendum B.csv", opps)
    F.write(folder / "October 2025 ASC Addendum AA.csv", asc)
    for name, data in (("pprrvu.csv", pfs_csv), ("addendum_b.csv", opps), ("addendum_aa.csv", asc)):
        F.write(extracted / name, data)


def bare(extracted: Path, database: Path) -> float:
    con = duckdb.connect(str(database))
    start = time.perf_counter()
    for name, skip, width in (("pprrvu.csv", 10, 31), ("addendum_b.csv", 4, 13), ("addendum_aa.csv", 4, 7)):
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
        con.execute(
            f"CREATE TABLE t_{name.split('.')[0]} AS SELECT * FROM read_csv('{extracted / name}', skip = {skip}, "
            f"header = false, auto_detect = false, columns = {columns}, encoding = 'latin-1', null_padding = true)"
        )
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def project(folder: Path, database: Path) -> tuple[float, dict]:
    con = duckdb.connect(str(database), config={"preserve_insertion_order": False, "memory_limit": "2GB"})
    prepare_tables(con, REFERENCE)
    start = time.perf_counter()
    outcomes, _ = load_folder(con, folder)
    seconds = time.perf_counter() - start
    loaded = {o.file_name: (o.status, o.rows_loaded, o.rows_quarantined) for o in outcomes}
    con.close()
    return seconds, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pfs", type=int, default=19_000)
    parser.add_argument("--opps", type=int, default=19_000)
    parser.add_argument("--asc", type=int, default=4_800)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        generate(root / "folder", root / "extracted", args)
        bare_times, project_times = [], []
        for run in range(args.repeat):  # alternating, so machine noise hits both sides alike
            bare_times.append(bare(root / "extracted", root / f"bare{run}.duckdb"))
            seconds, loaded = project(root / "folder", root / f"project{run}.duckdb")
            project_times.append(seconds)
        print(f"files: {loaded}")
        print(f"bare DuckDB read_csv of the three csv files (no unzip, typing or validation): {min(bare_times):.2f} s")
        print(
            f"project load_folder (unzip, recognise, type, validate, record):              {min(project_times):.2f} s"
        )
        print(f"ratio {min(project_times) / min(bare_times):.1f}x; target: project <= 3 s -> "
              f"{'met' if min(project_times) <= 3 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
