"""Only the work a change needs: jobs touch their own tables, marts rebuild only when an input changed."""

from __future__ import annotations

import hashlib

import duckdb

from pipeline.definitions import defs
from pipeline.defs.asset_specs import table_asset_key
from pipeline.defs.assets.lake import LAKE_KEY
from pipeline.defs.assets.serving import SERVING_KEY
from pipeline.warehouse.change_log import latest_versions
from tests.conftest import run_pipeline

DOCUMENTS_JOB = "group:core or group:marts or group:marts_lists or group:serving"
UTILIZATION_JOB = "group:utilization or group:marts or group:marts_lists or group:serving"


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


# --- data versions follow content ------------------------------------------------------------------------


def data_versions(result) -> dict[str, str]:
    """Asset key -> the data version its materialization in ``result`` carries."""
    return {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.tags["dagster/data_version"]
        for event in result.get_asset_materialization_events()
    }


# Not tables: the serving file's version is its content digest, the lake's its snapshot ("off" without a lake).
PUBLISH_TARGETS = {SERVING_KEY.to_user_string(), LAKE_KEY.to_user_string()}


def serving_file_state(env) -> tuple[str, int, int]:
    stat = env.serving_path.stat()
    return hashlib.sha256(env.serving_path.read_bytes()).hexdigest(), stat.st_mtime_ns, stat.st_ino


def serving_metadata(result) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "serving"]
    return {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}


def test_a_run_that_changes_nothing_changes_no_data_version_and_not_the_serving_file(pipeline_env):
    first = run_pipeline(pipeline_env)
    published = serving_file_state(pipeline_env)
    second = run_pipeline(pipeline_env)
    every_asset = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    sources = {k for k in every_asset if k.startswith("sources/")}
    assert set(data_versions(first)) == every_asset - sources  # every asset the run writes has a data version
    assert data_versions(second) == data_versions(first)
    # A table's data version is its version in the change log, which moves only when its rows are rewritten.
    logged = versions(pipeline_env)
    tables = {key: version for key, version in data_versions(second).items() if key not in PUBLISH_TARGETS}
    assert tables == {
        table_asset_key(table).to_user_string(): str(version)
        for table, version in logged.items()
        if table_asset_key(table).to_user_string() in every_asset
    }
    assert serving_file_state(pipeline_env) == published  # same bytes, same mtime, same inode: not republished
    metadata = serving_metadata(second)
    assert (metadata["publish_mode"], metadata["tables_written"]) == ("unchanged", [])


def test_an_edited_document_changes_the_data_version_of_the_affected_assets_only(pipeline_env):
    first = run_pipeline(pipeline_env)
    before, published = versions(pipeline_env), serving_file_state(pipeline_env)
    path = pipeline_env.documents_dir / "50592_kidney_rfa.txt"
    path.write_text(path.read_text().replace("Medicare, Aetna, and Cigna Health", "Medicare and Humana"))
    second = run_pipeline(pipeline_env)
    after = versions(pipeline_env)
    old, new = data_versions(first), data_versions(second)
    moved = {key for key in old if new[key] != old[key]}
    changed_tables = {table for table in after if after[table] != before.get(table)}
    # No lake configured: nothing was written there, so its version stays although the serving file's moved.
    assert moved == {table_asset_key(t).to_user_string() for t in changed_tables} | {SERVING_KEY.to_user_string()}
    assert {"core/code_payers", "core/documents", "marts/code_payers"} <= moved
    assert not {key for key in moved if key.startswith("utilization/")}
    assert "marts/relationships" not in moved
    assert serving_file_state(pipeline_env)[0] != published[0]


def test_a_table_without_a_version_gets_one_instead_of_being_republished_every_run(pipeline_env):
    """A warehouse from before every writer logged its tables: a table with no version counted as changed on
    every publish (utilization.physician_provider_service, empty without a provider file)."""
    run_pipeline(pipeline_env)
    table = "utilization.physician_provider_service"
    con = duckdb.connect(str(pipeline_env.warehouse_path))
    try:
        con.execute("DELETE FROM internal.table_change_log WHERE table_name = ?", [table])
    finally:
        con.close()
    run_pipeline(pipeline_env)  # gives it a version (published once, with that version)
    assert table in versions(pipeline_env)
    published = serving_file_state(pipeline_env)
    assert serving_metadata(run_pipeline(pipeline_env))["publish_mode"] == "unchanged"
    assert serving_file_state(pipeline_env) == published
