"""Utilization benchmark: the project's load + validation against a bare DuckDB load of the same file.

    uv run python benchmarks/utilization_benchmark.py [--rows 10000000] [--repeat 1]

1. Generates a CMS-shaped "by Provider and Service" CSV (28 columns, quoted text fields, skewed code
   popularity, log-normal counts and amounts) with DuckDB's COPY, so generation is fast.
2. In separate child processes (so peak RSS is per process), times
   - bare:    CREATE TABLE t AS SELECT * FROM read_csv(file, explicit column types, no sniffing) with the
              pipeline's settings (memory_limit 2GB, preserve_insertion_order = false), fresh database;
   - project: the utilization_tables asset and its checks via dagster.materialize (explicit types,
              store_rejects, contract rules, grain uniqueness, quarantine, source_files), fresh warehouse.
3. Times the project on the same file as ``.csv.gz`` (DuckDB's gzip reader) and inside a ``.zip``
   (streamed to a scratch file, then read), each alone in a fresh warehouse, printed next to the plain file.
4. Adds the sample documents and the geography sample, materializes core, marts and the serving
   snapshot, and times ``SELECT * FROM marts.code_utilization WHERE code = '32994'`` on the serving file.
Targets (2 cores, 10M rows): project <= 1.3x bare for the plain CSV; peak RSS <= 2 GB; single-code mart
query <= 100 ms.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._measure import finish, pipeline_env, run_measured  # noqa: E402
from pipeline.utilization.cms_layouts import recognize_layout  # noqa: E402
from tests.synthetic.cms import FEE_SCHEDULE, PROVIDER_HEADER, SERVICE_MEASURES  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FILE_NAME = "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv"

BARE = """
import sys, time, duckdb
from pipeline.settings import DEFAULTS
con = duckdb.connect(sys.argv[2], config={"memory_limit": DEFAULTS["duckdb_memory_limit"], "preserve_insertion_order": False})
start = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, header = true, auto_detect = false, delim = ',', "
            "quote = '\\"', escape = '\\"', columns = " + sys.argv[3] + ")", [sys.argv[1]])
print(f"SECONDS={time.perf_counter() - start:.3f}")
print(f"ROWS={con.execute('SELECT count(*) FROM t').fetchone()[0]}")
con.close()
from benchmarks._measure import print_peak_rss_line
print_peak_rss_line()
"""

PROJECT = """
import sys, time
import dagster as dg
from pipeline.defs.assets.utilization import UTILIZATION_CHECKS, utilization_tables
from pipeline.defs.resources import (
    LakeResource,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    SupersetResource,
    WarehouseResource,
)
resources = {
    "warehouse": WarehouseResource.from_env(),
    "sources": SourcesResource.from_env(),
    "limits": LimitsResource.from_env(),
    "overrides": OverridesResource.from_env(),
    "lake": LakeResource(),  # off: a benchmark never publishes to a configured lake
    "superset": SupersetResource(),  # off: no dashboard cache to refresh
}
start = time.perf_counter()
result = dg.materialize([utilization_tables, *UTILIZATION_CHECKS], resources=resources)
print(f"SECONDS={time.perf_counter() - start:.3f}")
assert result.success
import duckdb
con = duckdb.connect(resources["warehouse"].database, read_only=True)
print(f"ROWS={con.execute('SELECT count(*) FROM utilization.physician_provider_service').fetchone()[0]}")
print(f"QUARANTINED={con.execute('SELECT count(*) FROM utilization.quarantine').fetchone()[0]}")
from benchmarks._measure import print_peak_rss_line
print_peak_rss_line()
"""

FULL = """
import dagster as dg
from pipeline.definitions import ASSETS, CHECKS
from pipeline.defs.resources import resources_from
from pipeline.settings import Settings
result = dg.materialize([*ASSETS, *CHECKS], resources=resources_from(Settings.from_env()))
assert result.success
from benchmarks._measure import print_peak_rss_line
print_peak_rss_line()
"""


def generate(path: Path, rows: int) -> None:
    """Write the CSV with DuckDB: one NPI per 9 rows, 9 distinct consecutive codes per NPI (unique grain)."""
    codes = (
        list(FEE_SCHEDULE) + [f"{99202 + i:05d}" for i in range(298)] + [f"{10021 + i * 7:05d}" for i in range(5000)]
    )
    codes += [f"G{i:04d}" for i in range(700)]
    text_columns = [h for h in PROVIDER_HEADER if h not in SERVICE_MEASURES]
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SELECT setseed(0.42)")
    con.execute("CREATE TABLE codes AS SELECT unnest(?) AS code, generate_subscripts(?, 1) - 1 AS idx", [codes, codes])
    n_codes = len(codes)
    quoted = ", ".join(f'"{c}"' for c in text_columns)
    con.execute(f"""
        COPY (
          WITH base AS (
            SELECT i, i // 9 AS p, i % 9 AS k,
                   -- popular codes first: the NPI's starting code index is skewed towards 0
                   (floor(pow(hash(i // 9) % 1000000 / 1000000.0, 3) * ({n_codes} - 9)))::BIGINT AS start,
                   random() AS r1, random() AS r2, random() AS r3
            FROM range({rows}) t(i)
          )
          SELECT
            (1000000000 + p)::VARCHAR AS Rndrng_NPI,
            ['SMITH','NGUYEN','GARCIA','O''BRIEN','PATEL','KIM','ROSSI','COHEN','OKAFOR','LARSEN'][1 + p % 10]
                || CASE WHEN p % 13 = 0 THEN ' RADIOLOGY GROUP, LLC' ELSE '' END AS Rndrng_Prvdr_Last_Org_Name,
            CASE WHEN p % 13 = 0 THEN '' ELSE ['ANA','BEN','CHLOE','DEV','ELENA','FARID','GRACE','HIRO'][1 + p % 8] END
                AS Rndrng_Prvdr_First_Name,
            CASE WHEN p % 4 = 0 THEN 'A' ELSE '' END AS Rndrng_Prvdr_MI,
            CASE WHEN p % 13 = 0 THEN '' ELSE ['M.D.','D.O.','N.P.','P.A.'][1 + p % 4] END AS Rndrng_Prvdr_Crdntls,
            CASE WHEN p % 13 = 0 THEN 'O' ELSE 'I' END AS Rndrng_Prvdr_Ent_Cd,
            (100 + p % 9000)::VARCHAR || ' Main St, Suite ' || (p % 50)::VARCHAR AS Rndrng_Prvdr_St1,
            CASE WHEN p % 6 = 0 THEN 'Floor 2' ELSE '' END AS Rndrng_Prvdr_St2,
            ['Springfield','Riverside','Franklin','Greenville','Madison'][1 + p % 5] AS Rndrng_Prvdr_City,
            ['CA','TX','FL','NY','PA','IL','OH'][1 + p % 7] AS Rndrng_Prvdr_State_Abrvtn,
            ['06','48','12','36','42','17','39'][1 + p % 7] AS Rndrng_Prvdr_State_FIPS,
            lpad(((p * 7919) % 100000)::VARCHAR, 5, '0') AS Rndrng_Prvdr_Zip5,
            CASE WHEN p % 7 = 0 THEN '10.1' ELSE '1' END AS Rndrng_Prvdr_RUCA,
            'Metropolitan area core: primary flow within an urbanized area of 50,000 and greater' AS Rndrng_Prvdr_RUCA_Desc,
            'US' AS Rndrng_Prvdr_Cntry,
            ['Diagnostic Radiology','Interventional Radiology','Internal Medicine','Family Practice','Urology',
             'Nurse Practitioner','Cardiology','Orthopedic Surgery'][1 + p % 8] AS Rndrng_Prvdr_Type,
            CASE WHEN p % 50 = 0 THEN 'N' ELSE 'Y' END AS Rndrng_Prvdr_Mdcr_Prtcptg_Ind,
            c.code AS HCPCS_Cd,
            'Procedure ' || c.code || ', "established" patient' AS HCPCS_Desc,
            CASE WHEN c.code LIKE 'J%' THEN 'Y' ELSE 'N' END AS HCPCS_Drug_Ind,
            CASE WHEN r1 < 0.3 THEN 'F' ELSE 'O' END AS Place_Of_Srvc,
            (11 + floor(exp(2.5 + 1.1 * sqrt(-2 * ln(r2 + 1e-12)) * cos(6.2831853 * r3))))::BIGINT AS Tot_Benes,
            round(11 + exp(3.0 + 1.2 * sqrt(-2 * ln(r2 + 1e-12)) * cos(6.2831853 * r3)), 1) AS Tot_Srvcs,
            round(11 + exp(2.9 + 1.2 * sqrt(-2 * ln(r2 + 1e-12)) * cos(6.2831853 * r3)), 1) AS Tot_Bene_Day_Srvcs,
            round(exp(5.4 + 1.0 * sqrt(-2 * ln(r3 + 1e-12)) * sin(6.2831853 * r2)), 2) AS Avg_Sbmtd_Chrg,
            round(exp(4.3 + 1.0 * sqrt(-2 * ln(r3 + 1e-12)) * sin(6.2831853 * r2)), 2) AS Avg_Mdcr_Alowd_Amt,
            round(0.795 * exp(4.3 + 1.0 * sqrt(-2 * ln(r3 + 1e-12)) * sin(6.2831853 * r2)), 2) AS Avg_Mdcr_Pymt_Amt,
            round(0.99 * exp(4.3 + 1.0 * sqrt(-2 * ln(r3 + 1e-12)) * sin(6.2831853 * r2)), 2) AS Avg_Mdcr_Stdzd_Amt
          FROM base JOIN codes c ON c.idx = base.start + base.k
        ) TO '{path}' (HEADER, DELIMITER ',', QUOTE '"', FORCE_QUOTE ({quoted}))
    """)
    con.close()


def explicit_columns() -> str:
    """The same column types the loader gives read_csv, as a DuckDB struct literal."""
    columns = recognize_layout(PROVIDER_HEADER).columns
    return "{" + ", ".join(f"'{c.header}': '{c.sql_type}'" for c in columns) + "}"


def provide_csv(path: Path, *, rows: int, existing: Path | None) -> None:
    """Put a provider CSV at ``path``: ``existing`` hard-linked (or copied), else ``rows`` generated rows."""
    if existing:
        try:  # the loader never follows symbolic links: a hard link (or a copy) is a regular file
            os.link(existing.resolve(), path)
        except OSError:
            shutil.copy2(existing, path)
        print(f"using {existing} ({path.stat().st_size / 1e9:.2f} GB)")
    else:
        start = time.perf_counter()
        generate(path, rows)
        print(f"generated {rows:,} rows, {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.1f}s")


def compressed_copies(csv_path: Path, work: Path) -> dict[str, Path]:
    """The same file as .csv.gz and inside a .zip (fast compression: the read side is what is measured)."""
    gz = work / "gz" / (csv_path.name + ".gz")
    gz.parent.mkdir()
    with csv_path.open("rb") as source, gzip.open(gz, "wb", compresslevel=1) as sink:
        shutil.copyfileobj(source, sink, 1 << 23)
    zipped = work / "zip" / csv_path.with_suffix(".zip").name
    zipped.parent.mkdir()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.write(csv_path, csv_path.name)
    return {"gz": gz, "zip": zipped}


def time_project(work: Path, documents: Path, utilization_dir: Path) -> tuple[float, float, str]:
    shutil.rmtree(work / "warehouse", ignore_errors=True)
    _, rss, out = run_measured(
        [sys.executable, "-c", PROJECT], cwd=REPO, env=pipeline_env(REPO, work, documents, utilization_dir)
    )
    return float(value(out, "SECONDS")), rss, out


def value(out: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith(f"{key}="))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate bare/project runs this many times, report best"
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--csv", type=Path, help="reuse an existing provider CSV instead of generating one")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cpt_util_bench_"))
    utilization_dir = work / "utilization"
    utilization_dir.mkdir()
    empty_documents = work / "no_documents"
    empty_documents.mkdir()
    csv_path = utilization_dir / FILE_NAME
    provide_csv(csv_path, rows=args.rows, existing=args.csv)

    bare_times, project_times, bare_rss, project_rss = [], [], [], []
    for attempt in range(args.repeat):
        bare_db = work / f"bare_{attempt}.duckdb"
        _, rss, out = run_measured(
            [sys.executable, "-c", BARE, str(csv_path), str(bare_db), explicit_columns()],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        bare_times.append(float(value(out, "SECONDS")))
        bare_rss.append(rss)
        bare_db.unlink()
        seconds, rss, out = time_project(work, empty_documents, utilization_dir)
        project_times.append(seconds)
        project_rss.append(rss)
        print(
            f"  run {attempt + 1}: bare {bare_times[-1]:.1f}s, project {project_times[-1]:.1f}s "
            f"({value(out, 'ROWS')} rows loaded, {value(out, 'QUARANTINED')} quarantined)"
        )

    bare, project = min(bare_times), min(project_times)
    print(f"bare DuckDB CTAS read_csv:         {bare:.1f}s  peak RSS {max(bare_rss):,.0f} MB")
    print(f"project load + validation:         {project:.1f}s  peak RSS {max(project_rss):,.0f} MB")
    pairs = ", ".join(f"{p / b:.2f}x" for p, b in zip(project_times, bare_times, strict=True))
    print(f"ratio project / bare:              {project / bare:.2f}x best of each; per run: {pairs}  (target <= 1.30x)")

    start = time.perf_counter()
    copies = compressed_copies(csv_path, work)
    sizes = ", ".join(f"{kind} {path.stat().st_size / 1e9:.2f} GB" for kind, path in copies.items())
    print(f"compressed copies written in {time.perf_counter() - start:.1f}s ({sizes})")
    for kind, path in copies.items():
        seconds, rss, out = time_project(work, empty_documents, path.parent)
        print(
            f"project, same file as .{kind}:{' ' * (14 - len(kind))}{seconds:.1f}s  peak RSS {rss:,.0f} MB  "
            f"({value(out, 'ROWS')} rows; plain file {project:.1f}s, {seconds / project:.2f}x)"
        )
        path.unlink()

    # Mart query on the serving file: add the sample documents and geography file, publish, query.
    shutil.copy2(REPO / "sources" / "utilization" / "MUP_PHY_R25_P05_V20_D23_Geo.csv", utilization_dir)
    start = time.perf_counter()
    _, full_rss, _ = run_measured(
        [sys.executable, "-c", FULL],
        cwd=REPO,
        env=pipeline_env(REPO, work, REPO / "sources" / "documents", utilization_dir),
    )
    print(f"full pipeline incl. serving publish: {time.perf_counter() - start:.1f}s  peak RSS {full_rss:,.0f} MB")
    serving = work / "serving" / "cpt_analytics.duckdb"
    timings = []
    for _ in range(21):
        con = duckdb.connect(str(serving), read_only=True)
        start = time.perf_counter()
        rows = con.execute("SELECT * FROM marts.code_utilization WHERE code = '32994'").fetchall()
        timings.append((time.perf_counter() - start) * 1000)
        con.close()
    print(
        f"mart query, one code ({len(rows)} rows): first {timings[0]:.1f} ms, median {statistics.median(timings):.1f} ms "
        "(new read-only connection each time; target <= 100 ms)"
    )
    return finish(work, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
