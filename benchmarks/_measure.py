"""Run a benchmark step in a child process: wall time, and the peak RSS the child reports about itself."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

last_tree_peak_mb = float("nan")
last_descendants_cpu = float("nan")


class TreeMemory(threading.Thread):
    """Samples, every 0.2 s, the memory of a process and all its descendants (worker processes included): the sum
    of their proportional set sizes (PSS: a page shared by several processes counts once in all), in MB; and the
    CPU seconds of the descendants, as last seen before each exited (``descendants_cpu``; a child that waits for
    its workers also counts them in its own children's usage, so this is a share of that, not an addition)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self._done = pid, 0.0, threading.Event()
        self._cpu: dict[int, float] = {}

    def run(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._done.wait(0.2):
            pids = _descendants(self.pid)
            self.peak_mb = max(self.peak_mb, sum(_pss_mb(pid) for pid in pids))
            for pid in pids[1:]:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    self._cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
                except (OSError, IndexError, ValueError):
                    continue

    @property
    def descendants_cpu(self) -> float:
        return sum(self._cpu.values())

    def stop(self) -> None:
        self._done.set()
        self.join()


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_measured(cmd: list[str], *, env: dict | None = None, cwd=None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the child, stdout). Raises if the command fails.  ``last_tree_peak_mb``
    then holds the peak memory of the child with every process it started (its document workers)."""
    global last_tree_peak_mb, last_descendants_cpu
    start = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = TreeMemory(process.pid)
    watcher.start()
    out, err = process.communicate()
    wall = time.perf_counter() - start
    watcher.stop()
    last_tree_peak_mb, last_descendants_cpu = watcher.peak_mb, watcher.descendants_cpu
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
