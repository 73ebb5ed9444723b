"""The run-config override reaches every stage ``CPT_ALLOW_SHRINK=1`` reaches: the CMS loader, the documents load
and the publish guard all take it from the one ``overrides`` resource."""

from __future__ import annotations

import dagster as dg
import pytest

from pipeline.settings import ALLOW_SHRINK_ENV
from tests.conftest import run_pipeline
from tests.pipeline.test_utilization import GEO_2023, national_row
from tests.synthetic.cms import GEO_HEADER, write_csv

RUN_CONFIG = {"resources": {"overrides": {"config": {"allow_shrink": True}}}}
GEO_ROWS = "SELECT count(*) FROM utilization.physician_geo_service WHERE data_year = 2023"


def run_with(env, how: str, monkeypatch, selection: str | None = None):
    from pipeline.definitions import ASSETS, CHECKS

    monkeypatch.delenv(ALLOW_SHRINK_ENV, raising=False)
    if how == "environment":
        monkeypatch.setenv(ALLOW_SHRINK_ENV, "1")
    return dg.materialize(
        [*ASSETS, *CHECKS],
        resources=env.resources,
        selection=selection,
        run_config=RUN_CONFIG if how == "run config" else None,
        raise_on_error=False,
    )


def status_of(env, file_name: str) -> str:
    return env.query("SELECT status FROM utilization.source_files WHERE file_name = ?", [file_name])[0][0]


@pytest.mark.parametrize("how", ["environment", "run config"])
def test_a_shrunken_cms_replacement_is_accepted_by_either_override(pipeline_env, monkeypatch, how):
    assert run_pipeline(pipeline_env, "group:utilization").success
    before = pipeline_env.query(GEO_ROWS)[0][0]
    assert before > 1
    write_csv(pipeline_env.utilization_dir / GEO_2023, GEO_HEADER, [national_row()])  # most rows gone
    assert run_with(pipeline_env, "neither", monkeypatch, "group:utilization").success
    assert status_of(pipeline_env, GEO_2023) == "rejected"  # without an override: refused, rows kept
    assert pipeline_env.query(GEO_ROWS) == [(before,)]
    (pipeline_env.utilization_dir / GEO_2023).touch()  # a new version to judge again
    assert run_with(pipeline_env, how, monkeypatch, "group:utilization").success
    assert status_of(pipeline_env, GEO_2023) == "loaded"
    assert pipeline_env.query(GEO_ROWS) == [(1,)]


@pytest.mark.slow  # a build, then the guard inside two more whole runs
@pytest.mark.parametrize("how", ["environment", "run config"])
def test_an_emptied_documents_folder_is_published_with_either_override(pipeline_env, monkeypatch, how):
    assert run_pipeline(pipeline_env).success
    for path in pipeline_env.documents_dir.rglob("*"):
        if path.is_file():
            path.unlink()
    assert not run_with(pipeline_env, "neither", monkeypatch).success  # the documents load refuses it
    result = run_with(pipeline_env, how, monkeypatch)
    assert result.success
    assert pipeline_env.query("SELECT count(*) FROM core.documents", serving=True) == [(0,)]


@pytest.mark.parametrize("previous_rows, new_rows", [(100, 0), (100, 10)], ids=["emptied", "shrunk"])
def test_a_shrink_refusal_names_both_ways_to_override_it(previous_rows, new_rows):
    """The run-config override reaches the same stages as the variable, so every refusal it lifts names both."""
    from pipeline.utilization.completeness import shrink_verdict

    reason = shrink_verdict(previous_rows, new_rows, max_shrink=0.5, allow_shrink=False)
    assert "CPT_ALLOW_SHRINK=1" in reason and "resources.overrides.config.allow_shrink: true" in reason
    assert shrink_verdict(previous_rows, new_rows, max_shrink=0.5, allow_shrink=True) is None
