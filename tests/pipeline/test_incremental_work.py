"""Only the work a change needs: jobs touch their own tables, marts rebuild only when an input changed."""

from __future__ import annotations

import duckdb

from pipeline.warehouse.change_log import latest_versions
from tests.conftest import run_pipeline

DOCUMENTS_JOB = "group:core or group:marts or group:serving"
UTILIZATION_JOB = "group:utilization or group:marts or group:serving"


def versions(env) -> dict[str, int]:
    con = duckdb.connect(str(env.warehouse_path), read_only=True)
    try:
        return latest_versions(con)
    finally:
        con.close()


def rebuilt_marts(result) -> set[str]:
    return {
        "/".join(m.asset_key.path)
        for m in result.asset_materializations_for_node("mart_tables")
        if m.metadata["rebuilt_in_this_run"].value
    }


def test_documents_run_leaves_utilization_alone_and_rebuilds_only_affected_marts(pipeline_env):
    run_pipeline(pipeline_env)
    before = versions(pipeline_env)

    unchanged = run_pipeline(pipeline_env, DOCUMENTS_JOB)
    assert rebuilt_marts(unchanged) == set()  # no input of any mart changed

    path = pipeline_env.documents_dir / "50592_kidney_rfa.txt"
    path.write_text(path.read_text().replace("Medicare, Aetna, and Cigna Health", "Medicare and Humana"))
    changed = run_pipeline(pipeline_env, DOCUMENTS_JOB)
    after = versions(pipeline_env)
    utilization_tables = [t for t in before if t.startswith("utilization.")]
    assert utilization_tables and all(after[t] == before[t] for t in utilization_tables)
    assert after["core.code_payers"] > before["core.code_payers"]
    assert after["core.place_of_service"] == before["core.place_of_service"]  # rewritten, same content
    assert {"marts/code_overview", "marts/code_payers"} <= rebuilt_marts(changed)
    assert "marts/relationships" not in rebuilt_marts(changed)


def test_utilization_run_does_not_reparse_or_rewrite_core(pipeline_env):
    run_pipeline(pipeline_env)
    before = versions(pipeline_env)
    result = run_pipeline(pipeline_env, UTILIZATION_JOB)
    assert result.asset_materializations_for_node("core_tables") == []
    after = versions(pipeline_env)
    assert all(after[t] == before[t] for t in before if t.startswith("core."))
