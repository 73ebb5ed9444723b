"""The README's main command, and the headless Dagster CLI, from a subprocess as an operator runs them; the
summary the main command prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from pipeline.defs.cli import print_summary
from tests.bad_documents import write_bad_corpus
from tests.conftest import REPO_ROOT

REAL_2022_FILE = "MUP_PHY_R24_P04_V10_D22_Geo.csv"


def run_command(pipeline_env, command: list[str]) -> str:
    """Run as an operator would: env vars point at tmp_path, no DAGSTER_HOME; returns stdout."""
    env = {**os.environ, **pipeline_env.env_vars}
    env.pop("DAGSTER_HOME", None)
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


SITES_AND_PAYERS = "care sites Ambulatory surgery center, Hospital outpatient department, 5 payers"


@pytest.mark.slow
def test_main_command_builds_the_warehouse_and_prints_a_summary(pipeline_env):
    # A real CMS extract for 2022 next to the synthetic 2023 sample: the summary keeps the years and labels apart.
    shutil.copy2(REPO_ROOT / "tests" / "fixtures" / "utilization" / REAL_2022_FILE, pipeline_env.utilization_dir)
    out = run_command(pipeline_env, [sys.executable, "-m", "pipeline.defs.cli", "build"])
    assert "Documents: 8 (8 parsed)" in out
    assert "MUP_PHY_R25_P05_V20_D23_Geo.csv: loaded" in out and f"{REAL_2022_FILE}: loaded" in out
    assert "marts.code_utilization" in out and "core.codes" in out
    assert "marts.code_utilization for 32994 (documents joined to CMS utilization), by year:" in out
    lines = out.splitlines()
    assert f"  2022 National F: 1 row(s), 1,372 services, max avg allowed $416.95, {SITES_AND_PAYERS} (CMS)" in lines
    assert (
        f"  2023 National F: 1 row(s), 1,428 services, max avg allowed $425.43, {SITES_AND_PAYERS} (synthetic sample)"
        in lines
    )
    assert not [line for line in lines if line.startswith("  2022 ") and "synthetic" in line]
    con = duckdb.connect(str(pipeline_env.serving_path), read_only=True)
    levels = {r[0] for r in con.execute("SELECT geo_level FROM marts.code_utilization WHERE code = '32994'").fetchall()}
    con.close()
    assert levels == {"National", "State"}


def test_summary_reports_each_year_apart_and_labels_only_synthetic_rows(tmp_path, capsys):
    """Two years of one code, one of them synthetic: one line per year, never a sum across years."""
    serving = tmp_path / "serving.duckdb"
    con = duckdb.connect(str(serving))
    con.execute("CREATE SCHEMA core; CREATE SCHEMA utilization; CREATE SCHEMA marts")
    con.execute("CREATE TABLE core.documents AS SELECT 'a.txt' AS document_id, 'parsed' AS status, '' AS problems")
    con.execute(
        "CREATE TABLE utilization.source_files (file_name VARCHAR, status VARCHAR, error VARCHAR, "
        "rows_loaded BIGINT, rows_quarantined BIGINT)"
    )
    con.execute(
        "CREATE TABLE marts.code_utilization AS SELECT * FROM (VALUES "
        "('32994', 'F', 'National', 2022, 100.0, 400.0, 'Office', 5, true, false), "
        "('32994', 'F', 'National', 2023, 10.0, 450.0, 'Office', 5, true, true)) AS t(code, place_of_service, "
        "geo_level, data_year, total_services, avg_allowed_amount, care_sites_text, payer_count, has_utilization, "
        "is_synthetic)"
    )
    con.close()
    print_summary(serving)
    lines = capsys.readouterr().out.splitlines()
    assert (
        "  2022 National F: 1 row(s), 100 services, max avg allowed $400.00, care sites Office, 5 payers (CMS)" in lines
    )
    assert (
        "  2023 National F: 1 row(s), 10 services, max avg allowed $450.00, care sites Office, 5 payers "
        "(synthetic sample)" in lines
    )


@pytest.mark.slow
def test_headless_dagster_cli_with_bad_documents_exits_zero(pipeline_env):
    good = len(list(pipeline_env.documents_dir.iterdir()))
    expected = write_bad_corpus(pipeline_env.documents_dir)
    dagster = shutil.which("dagster", path=os.path.dirname(sys.executable))
    run_command(pipeline_env, [dagster, "asset", "materialize", "-m", "pipeline.definitions", "--select", "*"])
    loaded = sum(1 for status, _ in expected.values() if status in ("parsed", "partial"))
    not_parsed = sum(1 for status, _ in expected.values() if status != "parsed")
    assert pipeline_env.query("SELECT count(*) FROM core.codes", serving=True) == [(good + loaded,)]
    assert pipeline_env.query("SELECT count(*) FROM core.documents WHERE status <> 'parsed'", serving=True) == [
        (not_parsed,)
    ]


@pytest.mark.slow
def test_two_runs_at_once_both_succeed_one_waits(pipeline_env):
    """Two pipeline processes against one warehouse: the second waits for the writer lock instead of
    failing with DuckDB's "Could not set lock on file"."""
    env = {**os.environ, **pipeline_env.env_vars, "CPT_LOG_LEVEL": "INFO"}
    env.pop("DAGSTER_HOME", None)
    command = [sys.executable, "-m", "pipeline.defs.cli", "build"]
    first = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [err[-2000:] for _, err in outputs]
    logs = "".join(err for _, err in outputs)
    assert "waiting for the warehouse writer lock held by:" in logs
    assert "Could not set lock" not in logs
    assert pipeline_env.query("SELECT count(*) FROM core.codes", serving=True) == [(8,)]
