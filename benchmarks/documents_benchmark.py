"""Documents benchmark: parser throughput and the full headless materialization from cold.

    uv run python benchmarks/documents_benchmark.py [--n 10000] [--parser-only]

Generates N varied documents with distinct codes, then in one run:
1. parses them all in-process with the pure parser and the reference's known names (documents per second);
2. parses N/5 saved web pages (HTML, converted with selectolax/Lexbor) the same way (pages per second);
3. parses each 1 MB adversarial document (runs of spaces, separators, tabs, unclosed tags, one giant line …);
4. runs ``dagster asset materialize -m pipeline.definitions --select '*'`` into a fresh warehouse (cold: no
   parse cache, new DuckDB file), as a child process, and reports its wall time and peak RSS;
5. runs it a second time unchanged (warm: everything comes from the parse cache).
Steps 4 and 5 are skipped with ``--parser-only``.  Parser figures are wall time and, in brackets, CPU time
of this process (the CPU figure is steadier on a busy machine).
Targets (2 cores): parser >= 5,000 docs/s; HTML >= 1,000 pages/s; each 1 MB adversarial document < 1 s;
10,000 documents -> warehouse in <= 30 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._measure import finish, pipeline_env, run_measured  # noqa: E402
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
    args = parser.parse_args()
    known = KnownNames.from_reference(load_reference_data(REPO / "sources" / "reference"))

    work = Path(tempfile.mkdtemp(prefix="cpt_docs_bench_"))
    docs_dir, util_dir = work / "documents", work / "utilization"
    docs_dir.mkdir()
    util_dir.mkdir()
    start = time.perf_counter()
    corpus = list(documents(args.n))
    for name, data in corpus:
        (docs_dir / name).write_bytes(data)
    print(
        f"generated {args.n:,} documents ({sum(len(d) for _, d in corpus) / 1e6:.1f} MB) "
        f"in {time.perf_counter() - start:.1f}s"
    )

    parse_seconds = _parse_rate("parser alone:       ", [data for _, data in corpus], known, "documents")
    pages = [data for _, data in html_pages(max(args.n // 5, 200))]
    html_seconds = _parse_rate("HTML pages:         ", pages, known, "pages")
    worst = _adversarial(known)
    if args.parser_only:
        met = args.n / parse_seconds >= 5_000 and len(pages) / html_seconds >= 1_000 and worst < 1
        print(f"parser targets (>= 5,000 docs/s; >= 1,000 pages/s; 1 MB < 1 s): {'MET' if met else 'MISSED'}")
        return finish(work, args.keep)
    env = pipeline_env(REPO, work, docs_dir, util_dir)
    cold_wall, cold_rss, _ = run_measured([sys.executable, "-c", CHILD], env=env, cwd=REPO)
    print(
        f"materialize (cold):  {cold_wall:.1f}s end to end, {args.n / cold_wall:,.0f} documents/s, "
        f"peak RSS {cold_rss:,.0f} MB"
    )
    warm_wall, warm_rss, _ = run_measured([sys.executable, "-c", CHILD], env=env, cwd=REPO)
    print(f"materialize (warm):  {warm_wall:.1f}s end to end (parse cache), peak RSS {warm_rss:,.0f} MB")
    if args.n >= 10_000:
        met = cold_wall <= 30 and args.n / parse_seconds >= 5_000
        print(f"targets at N=10,000 (parser >= 5,000 docs/s; warehouse <= 30 s): {'MET' if met else 'MISSED'}")
    else:
        print("targets are defined at N=10,000; run without --n to check them")
    return finish(work, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
