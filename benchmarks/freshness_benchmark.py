"""Freshness benchmark: the cost of keeping the warehouse fresh should follow the change, not the warehouse.

    uv run python benchmarks/freshness_benchmark.py [--rows 10000000] [--csv FILE] [--documents 1000] [--repeat 3] [--keep]

One run, in a fresh temporary folder (never the repo's warehouse), each figure printed with what it includes:

(b) A new provider file of --rows rows (generated with DuckDB COPY by the utilization benchmark's generator,
    which uses the synthetic CMS layout): the ``utilization_changed`` job in process (load, contract rules,
    checks, marts, publish guard and serving publish), against a bare
    ``CREATE TABLE t AS SELECT * FROM read_csv(…)`` of the same file with the same DuckDB settings
    (memory_limit, preserve_insertion_order = false, explicit column types), timed before and after it.
    --repeat pairs (default 3), each from the warehouse as it was before the file arrived; the median ratio
    and the range are printed. Target <= 1.3x.
(a) One changed document on that warehouse: ``dagster job execute -m pipeline.definitions -j
    documents_changed`` as a child process, end to end (process start included; target <= 10 s), and its
    serving step alone (target <= 1 s).  Baseline, same run: a full-copy publish of the same warehouse.
(c) --documents documents dropped at once: the run requests of one tick of ``source_folder_sensor``
    (dagster.build_sensor_context, cursor from the tick before the drop; target: 1) and that run's duration.
(d) ``SELECT * FROM marts.code_utilization WHERE code = '32994'`` on the serving file, including opening the
    read-only connection, as a BI tool does (target <= 100 ms).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._measure import finish, pipeline_env  # noqa: E402
from benchmarks.utilization_benchmark import FILE_NAME, provide_csv  # noqa: E402
from pipeline.settings import DEFAULTS  # noqa: E402
from tests.synthetic.documents import documents as synthetic_documents  # noqa: E402

CHANGED_DOCUMENT = "20982_bone_rfa.txt"
SERVING_STEP = re.compile(r'Finished execution of step "serving__cpt_analytics" in ([0-9.]+)(ms|s)')

BARE = """
import sys, time, json, duckdb
csv, db, memory_limit, types = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
con = duckdb.connect(db, config={"memory_limit": memory_limit, "preserve_insertion_order": False})
start = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, header = true, columns = ?)", [csv, types])
print(f"SECONDS={time.perf_counter() - start:.3f}")
print(f"ROWS={con.execute('SELECT count(*) FROM t').fetchone()[0]}")
"""

PROJECT_JOB = """
import sys, time
import dagster as dg
from pipeline.definitions import defs
job = defs.resolve_job_def(sys.argv[1])
# Both timers start once the engine is set up: the bare side after duckdb.connect, this one after the
# Dagster instance exists (creating it imports SQLAlchemy and Alembic, about 0.7 s, a process-start cost).
instance = dg.DagsterInstance.ephemeral()
start = time.perf_counter()
result = job.execute_in_process(instance=instance)
print(f"SECONDS={time.perf_counter() - start:.3f}")
assert result.success
for event in result.all_events:
    if event.event_type_value == "STEP_SUCCESS":
        print(f"STEP={event.step_key}|{event.event_specific_data.duration_ms / 1000:.2f}")
for event in result.get_asset_materialization_events():
    if event.asset_key.to_user_string() == "serving/cpt_analytics":
        metadata = event.materialization.metadata
        print(f"PUBLISH={metadata['publish_mode'].value}|{metadata['publish_seconds'].value}|"
              f"{metadata['publish_reason'].value}")
"""

FULL_PUBLISH = """
import sys, time
from pathlib import Path
import duckdb
from pipeline.defs.resources import WarehouseResource
from pipeline.publishing.snapshot import PublishSettings, publish_snapshot
resource = WarehouseResource.from_env()
con = duckdb.connect(resource.database, config=resource.connection_config)
start = time.perf_counter()
result = publish_snapshot(con, Path(sys.argv[1]), settings=PublishSettings(compact_every=1))
print(f"SECONDS={time.perf_counter() - start:.3f}")
print(f"PUBLISH={result.mode}|{result.seconds:.3f}|{result.reason}")
"""

# A writer that does not log its changes yet makes its tables count as changed on every publish (the safe
# default). Logging a first version for them once lets the benchmark measure the designed behaviour; tables
# whose writer logs are left alone, so this does nothing once every writer logs.
LOG_UNLOGGED = """
import duckdb
from pipeline.defs.resources import WarehouseResource
from pipeline.publishing.snapshot import PUBLISHED_CONTRACTS
from pipeline.warehouse.change_log import latest_versions, record_change
con = duckdb.connect(WarehouseResource.from_env().database)
logged = latest_versions(con)
missing = [c.table for c in PUBLISHED_CONTRACTS if c.table not in logged]
for table in missing:
    record_change(con, table)
print("UNLOGGED=" + ",".join(missing))
"""

SENSOR = """
import json, sys
import dagster as dg
from pipeline.defs.automation import source_folder_sensor
from pipeline.defs.resources import SourcesResource, WarehouseResource
resources = {"warehouse": WarehouseResource.from_env(), "sources": SourcesResource.from_env()}
with dg.build_sensor_context(
    cursor=sys.argv[1] or None, instance=dg.DagsterInstance.ephemeral(), resources=resources
) as context:
    result = source_folder_sensor(context)
if isinstance(result, dg.SensorResult):
    requests, cursor = list(result.run_requests or []), result.cursor
elif isinstance(result, dg.SkipReason) or result is None:
    requests, cursor = [], context.cursor
else:
    requests, cursor = list(result), context.cursor
print("RESULT=" + json.dumps({"jobs": [r.job_name for r in requests], "tags": [dict(r.tags) for r in requests],
                             "cursor": cursor}))
"""


def value(out: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith(f"{key}="))


def run(cmd: list[str], env: dict) -> tuple[float, str]:
    """Wall seconds (process start included) and combined output; raises if the command fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return wall, done.stdout + done.stderr


def python(code: str, *args: str, env: dict) -> tuple[float, str]:
    return run([sys.executable, "-c", code, *args], env)


def dagster_job(job: str, env: dict) -> tuple[float, str]:
    return run([sys.executable, "-m", "dagster", "job", "execute", "-m", "pipeline.definitions", "-j", job], env)


def serving_step_seconds(output: str) -> float:
    match = SERVING_STEP.findall(output)
    if not match:
        return float("nan")
    number, unit = match[-1]
    return float(number) / (1000 if unit == "ms" else 1)


def published_how(serving: Path) -> str:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        mode, reason, written = con.execute(
            "SELECT mode, reason, tables_written FROM internal.snapshot_publish"
        ).fetchone()
    finally:
        con.close()
    return f"{mode} ({reason}; wrote {', '.join(written) or 'nothing'})"


def provider_column_types(csv_path: Path) -> dict[str, str]:
    """The explicit types the loader reads the provider layout with, for the file's columns in file order."""
    from pipeline.utilization.cms_layouts import LAYOUTS

    layout = next(layout for layout in LAYOUTS if layout.contract.table.endswith("provider_service"))
    types = {header: sql_type for header, _ours, sql_type in layout.cms_columns}
    with open(csv_path, encoding="utf-8") as handle:
        header = [name.strip().strip('"') for name in handle.readline().split(",")]
    return {name: types[name] for name in header}


def setup(work: Path) -> tuple[dict, Path, Path, Path]:
    documents, utilization = work / "documents", work / "utilization"
    shutil.copytree(REPO / "sources" / "documents", documents)
    utilization.mkdir()
    for csv_file in (REPO / "sources" / "utilization").glob("*.csv"):
        shutil.copy2(csv_file, utilization / csv_file.name)
    env = pipeline_env(REPO, work, documents, utilization)
    env["DAGSTER_HOME"] = str(work / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir()
    return env, documents, utilization, work / "serving" / "cpt_analytics.duckdb"


def new_big_file(args, work: Path, utilization: Path, serving: Path, env: dict) -> None:
    """(b) a new provider file, including the publish, against a bare CTAS with the same settings."""
    generated = work / "generated" / FILE_NAME
    generated.parent.mkdir()
    provide_csv(generated, rows=args.rows, existing=args.csv)
    memory_limit = env.get("CPT_DUCKDB_MEMORY_LIMIT", DEFAULTS["duckdb_memory_limit"])
    types = json.dumps(provider_column_types(generated))

    def bare() -> float:
        database = work / "bare.duckdb"
        _, out = python(BARE, str(generated), str(database), memory_limit, types, env=env)
        database.unlink()
        return float(value(out, "SECONDS"))

    # Each pair starts from the warehouse as it was before the file arrived, so every project run loads it new.
    before_file = {path: work / "before_file" / path.name for path in (Path(env["CPT_WAREHOUSE_PATH"]), serving)}
    for path, saved in before_file.items():
        saved.parent.mkdir(exist_ok=True)
        shutil.copy2(path, saved)
    ratios = []
    for attempt in range(args.repeat):
        if attempt:
            for path, saved in before_file.items():
                path.with_name(path.name + ".wal").unlink(missing_ok=True)  # a WAL belongs to the file it came with
                shutil.copy2(saved, path)
            (utilization / FILE_NAME).rename(generated)
        bare_before = bare()
        generated.rename(utilization / FILE_NAME)  # same filesystem: the file appears whole, mtime kept
        _, out = python(PROJECT_JOB, "utilization_changed", env=env)
        project = float(value(out, "SECONDS"))
        mode, publish_seconds, reason = value(out, "PUBLISH").split("|", 2)
        shutil.copyfile(utilization / FILE_NAME, generated)
        bare_after = bare()
        generated.unlink()
        ratios += [project / bare_before, project / bare_after]
        print(
            f"(b) pair {attempt + 1}: bare DuckDB CTAS read_csv (memory_limit {memory_limit}, "
            f"preserve_insertion_order=false, explicit types), in-process time: {bare_before:.1f}s before, "
            f"{bare_after:.1f}s after"
        )
        print(
            f"(b) pair {attempt + 1}: utilization_changed job in process (load + rules + checks + marts + guard + "
            f"publish): {project:.1f}s; its publish {float(publish_seconds):.1f}s, {mode} ({reason})"
        )
        steps = ", ".join(
            f"{name} {seconds}s"
            for name, seconds in (line[5:].split("|") for line in out.splitlines() if line.startswith("STEP="))
        )
        print(f"(b) pair {attempt + 1}: its steps: {steps}")
        print(f"(b) pair {attempt + 1}: ratio project / bare: {ratios[-2]:.2f}x and {ratios[-1]:.2f}x")
    print(
        f"(b) ratio over {len(ratios)} comparisons: median {statistics.median(ratios):.2f}x, range "
        f"{min(ratios):.2f}x-{max(ratios):.2f}x (target <= 1.30x)"
    )


def small_change(work: Path, documents: Path, serving: Path, env: dict) -> None:
    """(a) one changed document on the big warehouse, end to end, and the full-copy publish baseline."""
    walls, steps = [], []
    for attempt in range(3):
        path = documents / CHANGED_DOCUMENT
        path.write_text(path.read_text() + f"\nReviewed in benchmark pass {attempt + 1}.\n")
        wall, out = dagster_job("documents_changed", env)
        walls.append(wall)
        steps.append(serving_step_seconds(out))
        print(
            f"(a) documents_changed, one document changed, end to end incl. process start: {wall:.1f}s; "
            f"serving step {steps[-1]:.2f}s; publish: {published_how(serving)}"
        )
    baseline = work / "baseline" / "cpt_analytics.duckdb"
    _, out = python(FULL_PUBLISH, str(baseline), env=env)
    print(
        f"(a) baseline, same warehouse: full-copy publish into a new file {float(value(out, 'SECONDS')):.1f}s "
        f"({baseline.stat().st_size / 1e6:,.0f} MB)"
    )
    print(
        f"(a) targets: run <= 10 s (median {statistics.median(walls):.1f}s, worst {max(walls):.1f}s), publish step "
        f"<= 1 s (median {statistics.median(steps):.2f}s, worst {max(steps):.2f}s)"
    )


def thousand_documents(args, documents: Path, env: dict) -> None:
    """(c) N documents dropped at once: one sensor tick's requests and the run."""
    _, out = python(SENSOR, "", env=env)
    cursor = json.loads(value(out, "RESULT"))["cursor"] or ""
    drop = documents / "dropped"
    drop.mkdir()
    for name, data in synthetic_documents(args.documents, seed=7):
        (drop / name).write_bytes(data)
    _, out = python(SENSOR, cursor, env=env)
    result = json.loads(value(out, "RESULT"))
    print(
        f"(c) {args.documents:,} documents dropped: the sensor tick requested {len(result['jobs'])} run(s) "
        f"{sorted(set(result['jobs']))} (target 1); tags {result['tags'][:1]}"
    )
    if result["jobs"]:
        wall, out = dagster_job(result["jobs"][0], env)
        print(
            f"(c) that run ({result['jobs'][0]}), end to end incl. process start: {wall:.1f}s; "
            f"serving step {serving_step_seconds(out):.2f}s"
        )


def mart_query(serving: Path) -> None:
    """(d) one code from the mart, opening a read-only connection each time, as a BI tool does."""
    timings = []
    for _ in range(21):
        start = time.perf_counter()
        con = duckdb.connect(str(serving), read_only=True)
        rows = con.execute("SELECT * FROM marts.code_utilization WHERE code = '32994'").fetchall()
        con.close()
        timings.append((time.perf_counter() - start) * 1000)
    print(
        f"(d) mart query, one code ({len(rows)} rows), incl. opening the read-only connection: first "
        f"{timings[0]:.1f} ms, median {statistics.median(timings):.1f} ms (target <= 100 ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--csv", type=Path, help="reuse an existing provider CSV instead of generating one")
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="(b): bare / project pairs, each from the warehouse before the file"
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--no-log-unlogged", action="store_true", help="do not log a first version for tables no writer logs"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cpt_fresh_bench_"))
    env, documents, utilization, serving = setup(work)
    wall, _ = dagster_job("materialize_everything", env)
    print(f"initial build (sample documents and geography file), end to end: {wall:.1f}s")
    if not args.no_log_unlogged:
        _, out = python(LOG_UNLOGGED, env=env)
        unlogged = value(out, "UNLOGGED")
        if unlogged:
            print(f"NOTE: no writer logged a version of {unlogged}; the benchmark logged one for each (once)")
    new_big_file(args, work, utilization, serving, env)
    small_change(work, documents, serving, env)
    mart_query(serving)
    thousand_documents(args, documents, env)
    return finish(work, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
