"""What the Dagster UI says about the assets is true: groups and their descriptions, code references, code
versions, and the serving snapshot's freshness check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from pipeline.contracts.mart_tables import MART_CONTRACTS
from pipeline.definitions import build_definitions, defs
from pipeline.defs.asset_specs import CODE_REFERENCES, GROUP_DESCRIPTIONS, asset_key
from pipeline.defs.assets.serving import SERVING_KEY, serving_freshness
from pipeline.defs.automation import DOWNSTREAM, documents_changed, utilization_changed
from pipeline.marts.queries import MART_SQL_DIR
from pipeline.settings import BY_NAME, Settings


def _node(key: dg.AssetKey):
    return defs.resolve_asset_graph().get(key)


def _referenced_files(key: dg.AssetKey) -> list[Path]:
    references = _node(key).metadata[CODE_REFERENCES].code_references
    return [Path(r.file_path) for r in references]


def test_each_mart_links_to_its_sql_file_and_its_python():
    for contract in MART_CONTRACTS:
        files = _referenced_files(asset_key(contract))
        assert MART_SQL_DIR / f"{contract.table_name}.sql" in files, contract.table
        assert all(f.is_file() for f in files), files
        assert Path("pipeline/marts/build.py").resolve() in files


def test_every_asset_the_pipeline_writes_links_to_existing_code_and_has_a_code_version():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] == "sources":
            continue
        files = _referenced_files(key)
        assert files and all(f.is_file() for f in files), key
        assert graph.get(key).code_version, key  # without one, Dagster uses the run id: "new code" every run


def test_list_marts_have_their_own_group_with_a_true_description():
    graph = defs.resolve_asset_graph()
    for contract in MART_CONTRACTS:
        node = graph.get(asset_key(contract))
        has_lists = any(c.sql_type.endswith("[]") for c in contract.columns)
        description = node.metadata["group_description"]
        assert description == GROUP_DESCRIPTIONS[node.group_name]
        if has_lists:
            assert node.group_name == "marts_lists", contract.table
            assert "scalar columns only" not in description
        else:
            assert node.group_name == "marts", contract.table


def test_the_jobs_downstream_of_a_source_still_build_every_mart():
    graph = defs.resolve_asset_graph()
    marts = {asset_key(c) for c in MART_CONTRACTS}
    assert marts <= DOWNSTREAM.resolve(graph)
    for job in (documents_changed, utilization_changed):
        assert marts | {SERVING_KEY} <= job.selection.resolve(graph), job.name


def _freshness_result(age: timedelta, max_age_hours: float) -> dg.AssetCheckEvaluation:
    checks, _sensor = serving_freshness(max_age_hours)
    instance = dg.DagsterInstance.ephemeral()
    with freeze_time(datetime.now(UTC) - age):  # the serving asset was last materialized (published) then
        instance.report_runless_asset_event(dg.AssetMaterialization(SERVING_KEY))
    result = dg.materialize(
        [dg.AssetSpec(SERVING_KEY), *checks], instance=instance, selection=dg.AssetSelection.checks(*checks)
    )
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


@pytest.mark.parametrize(("age_hours", "fresh"), [(2, True), (25.5, True), (27, False), (24 * 7, False)])
def test_serving_freshness_check_fails_when_the_snapshot_is_older_than_the_threshold(age_hours, fresh):
    default = BY_NAME["CPT_SERVING_MAX_AGE_HOURS"].default
    evaluation = _freshness_result(timedelta(hours=age_hours), default)
    assert evaluation.passed is fresh
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR


def test_serving_freshness_threshold_comes_from_the_setting():
    assert Settings.defaults().serving_max_age_hours == 26
    assert not _freshness_result(timedelta(hours=3), 2).passed
    location = build_definitions(Settings.from_env({"CPT_SERVING_MAX_AGE_HOURS": "2"}))
    graph = location.resolve_asset_graph()
    assert dg.AssetCheckKey(SERVING_KEY, "freshness_check") in graph.asset_check_keys
    [spec] = [s for c in location.asset_checks for s in c.check_specs if s.key.asset_key == SERVING_KEY]
    assert spec.metadata["dagster/freshness_params"].value["lower_bound_delta_seconds"] == 2 * 3600
    assert any(s.name == "serving_freshness_sensor" for s in location.sensors)
