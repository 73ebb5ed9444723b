"""Documents benchmark: parser throughput and the full headless materialization from cold.

    uv run python benchmarks/documents_benchmark.py [--n 10000] [--parser-only | --materialize-only]
        [--baseline OTHER_CHECKOUT] [--rounds K]

Generates N varied documents with distinct codes, then in one run:
1. parses them all in-process with the pure parser and the reference's known names (documents per second);
2. parses N/5 saved web pages (HTML, converted with selectolax/Lexbor) the same way (pages per second);
3. parses each 1 MB adversarial document (runs of spaces, separators, tabs, unclosed tags, one giant line …);
4. runs ``dagster asset materialize -m pipeline.definitions --select '*'`` into a fresh warehouse (cold: no
   parse cache, new DuckDB file), as a child process, and reports its wall time and peak RSS;
5. runs it a second time unchanged (warm: everything comes from the parse cache).
Steps 4 and 5 are skipped with ``--parser-only``, steps 1-3 with ``--materialize-only``.  ``--baseline``
names another checkout of the project (e.g. ``main`` exported with ``git archive``): its cold and warm runs
alternate with this checkout's on the same corpus, so both are measured on the same machine at the same time.
``--rounds K`` makes K cold runs per checkout (alternating, each from nothing) and judges the median of them:
the host's speed varies by a fifth from one minute to the next, which one run cannot tell from the code's.
Parser figures are wall time and, in brackets, CPU time of this process; materialize figures add the child's
CPU time (user + system), steadier than wall time on a busy machine.  Peak RSS is the child's own maximum
resident set (its whole process: Python, Dagster and DuckDB).
Targets (2 cores): parser >= 5,000 docs/s; HTML >= 1,000 pages/s; each 1 MB adversarial document < 1 s;
10,000 documents -> warehouse in <= 30 s; 100,000 documents -> warehouse in <= 40 s; peak RSS <= 1 GB at any
N (memory must not grow with the corpus: run N=10,000 and N=100,000 and compare).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _measure  # noqa: E402
from benchmarks._measure import finish, pipeline_env, run_measured  # noqa: E402

MEMORY_CEILING_MB = 1024
from pipeline.core.document_parser import parse_document  # noqa: E402
from pipeline.core.known_names import KnownNames  # noqa: E402
from pipeline.core.reference_data import load_reference_data  # noqa: E402
from tests.synthetic.documents import adversarial_documents, documents, html_pages  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import sys, time
start = time.perf_counter()
from dagster._cli import main
sys.argv = ["dagster", "asset", "materialize", "-m", "pipeline.definitions", "--select", "*"]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
from benchmarks._measure import print_peak_rss_line
print_peak_rss_line()
"""


def _parse_rate(label: str, items: list[bytes], known: KnownNames, unit: str) -> float:
    statuses: dict[str, int] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    for data in items:
        status = parse_document(data, known_names=known).status
        statuses[status] = statuses.get(status, 0) + 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{label} {len(items) / wall:,.0f} {unit}/s ({wall:.2f}s) [CPU: {len(items) / cpu:,.0f} {unit}/s] "
        f"statuses={statuses}"
    )
    return wall


def _adversarial(known: KnownNames) -> float:
    """Seconds of the slowest 1 MB adversarial document."""
    worst = 0.0
    for kind, data in adversarial_documents(1_000_000).items():
        wall = time.perf_counter()
        status = parse_document(data, known_names=known).status
        wall = time.perf_counter() - wall
        worst = max(worst, wall)
        print(f"1 MB adversarial:    {wall * 1000:7.0f} ms  {kind} ({len(data) / 1e6:.2f} MB, {status})")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="number of documents (default 10,000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--parser-only", action="store_true", help="skip the two materialize runs")
    parser.add_argument("--materialize-only", action="store_true", help="skip the in-process parser figures")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure on the same corpus, alternating")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="cold runs per checkout, alternating with the baseline's; the verdict takes their median (default 1)",
    )
    args = parser.parse_args()
    known = KnownNames.from_reference(load_reference_data(REPO / "sources" / "reference"))

    work = Path(tempfile.mkdtemp(prefix="cpt_docs_bench_"))
    docs_dir, util_dir = work / "documents", work / "utilization"
    docs_dir.mkdir()
    util_dir.mkdir()
    start = time.perf_counter()
    size = 0
    for name, data in documents(args.n):  # written as generated: the corpus never sits in this process
        (docs_dir / name).write_bytes(data)
        size += len(data)
    print(f"generated {args.n:,} documents ({size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f}s")
    # The folder a run reads is at rest: the kernel writes a corpus just generated back to disk (its data and
    # 100,000 inodes) over the next half minute, during the first run measured (always this checkout's cold run)
    # unless it is done here first.
    start = time.perf_counter()
    os.sync()
    print(f"written back to disk in {time.perf_counter() - start:.1f}s (not measured)")

    parse_seconds = None
    if not args.materialize_only:
        parse_seconds = _parse_rate("parser alone:       ", _corpus_bytes(docs_dir), known, "documents")
        pages = [data for _, data in html_pages(max(args.n // 5, 200))]
        html_seconds = _parse_rate("HTML pages:         ", pages, known, "pages")
        worst = _adversarial(known)
        if args.parser_only:
            met = args.n / parse_seconds >= 5_000 and len(pages) / html_seconds >= 1_000 and worst < 1
            print(f"parser targets (>= 5,000 docs/s; >= 1,000 pages/s; 1 MB < 1 s): {'MET' if met else 'MISSED'}")
            return finish(work, args.keep)
    checkouts = [("this checkout", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    cold: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in checkouts}
    rounds = max(1, args.rounds)
    for round_ in range(rounds):  # cold runs alternating, each into a new warehouse; then the warm runs
        for label, checkout in checkouts:
            target = work / label.replace(" ", "_")
            if target.exists():
                shutil.rmtree(target)  # the previous round's warehouse: every cold run starts from nothing
            which = f" {round_ + 1}/{rounds}" if rounds > 1 else ""
            cold[label].append(_materialize(f"{label}: cold{which}", checkout, target, docs_dir, util_dir, args.n))
    for label, checkout in checkouts:
        _materialize(f"{label}: warm", checkout, work / label.replace(" ", "_"), docs_dir, util_dir, args.n)
    if rounds > 1:
        for label, runs in cold.items():
            walls = sorted(w for w, _ in runs)
            print(
                f"{label}: cold median {statistics.median(walls):.1f}s over {rounds} runs "
                f"({walls[0]:.1f}-{walls[-1]:.1f}s), highest peak memory {max(r for _, r in runs):,.0f} MB"
            )
    # Wall time: the median of the cold runs (one slow minute of a shared host is not the code's); memory: the
    # highest peak of them all (the ceiling holds in every run or it does not hold).
    wall = statistics.median(w for w, _ in cold["this checkout"])
    rss = max(r for _, r in cold["this checkout"])
    if args.n >= 100_000:
        met = wall <= 40 and rss <= MEMORY_CEILING_MB
        print(f"targets at N=100,000 (warehouse <= 40 s; peak RSS <= 1 GB): {'MET' if met else 'MISSED'}")
    elif args.n >= 10_000:
        met = wall <= 30 and rss <= MEMORY_CEILING_MB and (parse_seconds is None or args.n / parse_seconds >= 5_000)
        print(
            f"targets at N=10,000 (parser >= 5,000 docs/s; warehouse <= 30 s; peak RSS <= 1 GB): {'MET' if met else 'MISSED'}"
        )
    else:
        print("targets are defined at N=10,000 and N=100,000")
    return finish(work, args.keep)


def _corpus_bytes(docs_dir: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(docs_dir.iterdir())]


def _materialize(label: str, checkout: Path, work: Path, docs_dir: Path, util_dir: Path, n: int) -> tuple[float, float]:
    """One headless materialize of ``checkout`` into ``work`` (a warehouse of its own): (wall seconds, peak MB)."""
    env = pipeline_env(checkout, work, docs_dir, util_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, rss, _ = run_measured([sys.executable, "-c", CHILD], env=env, cwd=checkout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tree, workers_cpu = _measure.last_tree_peak_mb, _measure.last_descendants_cpu
    print(
        f"materialize ({label}): {wall:.1f}s end to end, {n / wall:,.0f} documents/s, CPU {cpu:.1f}s "
        f"(the run and its worker processes; of which the workers {workers_cpu:.1f}s, sampled), "
        f"peak RSS {rss:,.0f} MB; "
        f"with its worker processes {tree:,.0f} MB (PSS, sampled)",
        flush=True,
    )
    return wall, max(rss, tree)


if __name__ == "__main__":
    raise SystemExit(main())
