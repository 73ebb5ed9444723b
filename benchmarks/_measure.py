"""Run a benchmark step in a child process: wall time, and the peak RSS the child reports about itself."""

from __future__ import annotations

import os
import subprocess
import time


def run_measured(cmd: list[str], *, env: dict | None = None, cwd=None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the child, stdout). Raises if the command fails."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    wall = time.perf_counter() - start
    # RUSAGE_CHILDREN would give the maximum over all children so far, so each child prints its own peak.
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({process.returncode}):\n{err[-4000:]}")
    return wall, _peak_rss_mb(out), out


def _peak_rss_mb(out: str) -> float:
    for line in reversed(out.splitlines()):
        if line.startswith("PEAK_RSS_MB="):
            return float(line.split("=", 1)[1])
    return float("nan")


def self_peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_peak_rss_line() -> None:
    """Children call this last so the parent can read their own peak RSS."""
    print(f"PEAK_RSS_MB={self_peak_rss_mb():.1f}", flush=True)


def pipeline_env(repo, work, documents_dir, utilization_dir) -> dict:
    """Environment for a child pipeline process writing into ``work`` (never the repo's warehouse)."""
    env = {
        **os.environ,
        "CPT_DOCUMENTS_DIR": str(documents_dir),
        "CPT_UTILIZATION_DIR": str(utilization_dir),
        "CPT_WAREHOUSE_PATH": str(work / "warehouse" / "cpt.duckdb"),
        "CPT_SERVING_PATH": str(work / "serving" / "cpt_analytics.duckdb"),
        "PYTHONPATH": str(repo),
    }
    env.pop("DAGSTER_HOME", None)
    return env


def finish(work, keep: bool) -> int:
    if keep:
        print(f"kept {work}")
    else:
        import shutil

        shutil.rmtree(work)
    return 0
