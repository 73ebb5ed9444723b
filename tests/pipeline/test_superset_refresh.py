"""The optional post-publish Superset refresh: off by default, and a Superset that cannot be reached is a warning
in the run's metadata that never fails the publish. (Against a real Superset: tests/test_superset_dashboard.py.)"""

from __future__ import annotations

import socket

import pytest

from pipeline.defs.assets.serving import SERVING_KEY
from pipeline.defs.resources import SupersetResource
from tests.conftest import run_pipeline

pytestmark = pytest.mark.xdist_group("superset_refresh")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving_metadata(result) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == SERVING_KEY]
    assert len(events) == 1
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def test_off_by_default(pipeline_env):
    result = run_pipeline(pipeline_env)
    assert result.success
    assert _serving_metadata(result)["superset_cache"].startswith("off")


def test_an_unreachable_superset_is_a_warning_and_the_publish_stands(pipeline_env):
    import dagster as dg

    from pipeline.definitions import ASSETS, CHECKS

    url = f"http://127.0.0.1:{_closed_port()}"
    resources = pipeline_env.resources | {"superset": SupersetResource(url=url, username="u", password="p")}
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources)
    assert result.success
    note = _serving_metadata(result)["superset_cache"]
    assert note.startswith("warning: Superset cache not refreshed") and url in note
    assert pipeline_env.serving_path.exists()
