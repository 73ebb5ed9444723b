"""The DuckDB version decision (docs/lake.md): the project's figures on its pinned DuckDB and on the DuckDB whose
extensions install offline (1.5.5), alternating, in the same run.

    uv run python benchmarks/duckdb_version_compare.py [--repeat 2]

For each version (the project's lock, and ``uv run --with duckdb==1.5.5`` over it), alternating --repeat times:
  build        `cpt-warehouse build` on the sample, fresh warehouse, end to end incl. process start (README command 1)
  rebuild      the same command again on that warehouse (nothing changed: the daily run's cost)
  load         a 2M-row provider table written and checkpointed by the version (DuckDB alone, in-process)
Then checks that each version's serving file opens in DuckDB 1.4 and 1.5 clients, read-only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = "project (2.0.1)"
VERSIONS = {PROJECT: [], "1.5.5": ["--with", "duckdb==1.5.5"]}
READERS = ["1.4.4", "1.5.5"]


LOAD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], config={"memory_limit": "2GB", "preserve_insertion_order": False,
                                          "storage_compatibility_version": "v1.4.0"})
start = time.perf_counter()
con.execute("CREATE TABLE provider AS SELECT (1000000000 + i // 50)::VARCHAR AS npi, lpad((i % 9000)::VARCHAR, 5, '0') "
            "AS hcpcs_code, (i % 97)::BIGINT AS total_beneficiaries, (i % 1013)::DOUBLE AS total_services, "
            "'Springfield' AS city FROM range(2000000) r(i)")
con.execute("SELECT hcpcs_code, sum(total_services) FROM provider GROUP BY ALL").fetchall()
con.execute("CHECKPOINT")
print(duckdb.__version__, round(time.perf_counter() - start, 3))
"""


def uv_run(extra: list[str], args: list[str], env: dict, timeout: float = 3600) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        ["uv", "run", "--quiet", *extra, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{args}: {done.stderr[-2000:]}")
    return seconds, done.stdout


def build_env(folder: Path) -> dict:
    return {
        **os.environ,
        "CPT_WAREHOUSE_PATH": str(folder / "cpt.duckdb"),
        "CPT_SERVING_PATH": str(folder / "serving" / "cpt.duckdb"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cpt-duckdb-versions-"))
    figures: dict[str, dict[str, list[float]]] = {v: {"build": [], "rebuild": [], "load": []} for v in VERSIONS}
    serving_files: dict[str, Path] = {}
    try:
        for attempt in range(args.repeat):
            for name, extra in VERSIONS.items():
                folder = work / f"{name.split()[0]}_{attempt}"
                env = build_env(folder)
                seconds, _ = uv_run(extra, ["cpt-warehouse", "build"], env)
                figures[name]["build"].append(seconds)
                seconds, _ = uv_run(extra, ["cpt-warehouse", "build"], env)
                figures[name]["rebuild"].append(seconds)
                serving_files[name] = folder / "serving" / "cpt.duckdb"
                _, out = uv_run(extra, ["python", "-c", LOAD, str(folder / "load.duckdb")], env)
                figures[name]["load"].append(float(out.split()[-1]))
                print(
                    f"[{attempt + 1}/{args.repeat}] {name}: build {figures[name]['build'][-1]:.1f} s, "
                    f"rebuild {figures[name]['rebuild'][-1]:.1f} s, load {figures[name]['load'][-1:] or '?'} s",
                    flush=True,
                )
        print(f"\nmedians over {args.repeat} alternating runs:")
        for name, values in figures.items():
            line = ", ".join(f"{key} {statistics.median(v):.2f} s" for key, v in values.items() if v)
            print(f"  {name:16} {line}")
        for name, path in serving_files.items():
            for reader in READERS:
                _, out = uv_run(
                    ["--no-project", "--python", sys.executable, "--with", f"duckdb=={reader}"],
                    [
                        "python",
                        "-c",
                        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                        "print(duckdb.__version__, c.execute('SELECT count(*) FROM marts.code_utilization').fetchone()[0])",
                        str(path),
                    ],
                    dict(os.environ),
                )
                print(f"  serving file built on {name} read by DuckDB {out.strip()} rows of marts.code_utilization")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
