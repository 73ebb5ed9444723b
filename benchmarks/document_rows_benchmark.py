"""Document rows benchmark: the CPU a document worker spends on each document besides parsing it.

    uv run python benchmarks/document_rows_benchmark.py [--n 10000] [--rounds 3] [--baseline OTHER_CHECKOUT]

Generates N documents (``tests.synthetic.documents``), then measures this checkout and, with ``--baseline``,
another one (e.g. ``main`` exported with ``git archive``), each round in a fresh child process, the checkouts
alternating so both see the same machine at the same time.  The child runs the worker's own functions, without
the pool (whose process start and pipes are the same for both): ``_start_worker``; the parse alone; phase 1,
``_parse_chunk`` on chunks of 48 (parse, ``to_json_dict``, JSON encode); phase 2, ``_batch_chunk`` on batches
of 2,000 spooled documents (JSON decode, ``from_json_dict``, core rows, wired frames).  Figures are the child's
CPU time per document, medians over the rounds.
Target: phase 1 without the parse, plus phase 2, <= 120 us per document (225 us before orjson, the resolved-name
memo, the wired frames and the frozen worker heap).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._measure import finish  # noqa: E402
from tests.synthetic.documents import documents  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET_US = 120
CHILD = """
import json, sys, time
from datetime import datetime
from pathlib import Path
checkout, docs_dir = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, checkout)
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import load_reference_data
from pipeline.documents import workers
from pipeline.documents.formats import parse_any_document

reference = load_reference_data(Path(checkout) / "sources" / "reference")
known = KnownNames.from_reference(reference)
paths = sorted(docs_dir.iterdir())
datas = [path.read_bytes() for path in paths]
workers._start_worker(known, 2_000_000, reference, datetime(2024, 1, 1), {})
cpu = time.process_time
start = cpu()
for data in datas:
    parse_any_document(data, max_bytes=2_000_000, known_names=known)
parse = cpu() - start
start = cpu()
spooled = [item for i in range(0, len(datas), 48) for item in workers._parse_chunk(datas[i : i + 48])]
phase1 = cpu() - start
records = [
    (json.dumps([path.name, str(path), "0" * 64, len(data), "2024-01-01T00:00:00", 0, 0]).encode(), payload)
    for path, data, (_, _, payload) in zip(paths, datas, spooled)
]
start = cpu()
for i in range(0, len(records), 2000):
    workers._batch_chunk(records[i : i + 2000])
phase2 = cpu() - start
print(json.dumps({"parse": parse, "phase1": phase1, "phase2": phase2, "n": len(datas)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="number of documents (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3, help="child processes per checkout (default 3)")
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alternating with this one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cpt_rows_bench_"))
    docs_dir = work / "documents"
    docs_dir.mkdir()
    for name, data in documents(args.n):
        (docs_dir / name).write_bytes(data)
    checkouts = [("this checkout", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    runs: dict[str, list[dict]] = {label: [] for label, _ in checkouts}
    for _ in range(args.rounds):
        for label, checkout in checkouts:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(checkout), str(docs_dir)], capture_output=True, text=True, check=True
            )
            runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{args.n:,} documents, CPU us per document (median of {args.rounds}):")
    print(f"{'':16}{'parse':>8}{'phase 1':>9}{'1 - parse':>11}{'phase 2':>9}{'not parse':>11}")
    besides_parse = {}
    for label, results in runs.items():

        def us(key: str, results: list[dict] = results) -> float:
            return statistics.median(r[key] * 1e6 / r["n"] for r in results)

        besides_parse[label] = statistics.median(
            (r["phase1"] - r["parse"] + r["phase2"]) * 1e6 / r["n"] for r in results
        )
        phase1_rest = us("phase1") - us("parse")
        print(
            f"{label:16}{us('parse'):8.0f}{us('phase1'):9.0f}{phase1_rest:11.0f}{us('phase2'):9.0f}"
            f"{besides_parse[label]:11.0f}"
        )
    mine = besides_parse["this checkout"]
    print(f"target (not parse <= {TARGET_US} us per document): {'MET' if mine <= TARGET_US else 'MISSED'}")
    return finish(work, args.keep)


if __name__ == "__main__":
    sys.exit(main())
