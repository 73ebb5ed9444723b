"""The sensor takes its folders and serving file from the resources the assets use, not from the environment."""

from __future__ import annotations

import dagster as dg

from pipeline.defs.automation import source_folder_sensor
from pipeline.defs.resources import SourcesResource, WarehouseResource, resources_from, writer_lock
from pipeline.settings import REPO_ROOT, Settings
from tests.pipeline.conftest import run_sensor


def test_the_sensor_watches_the_folders_of_the_resource_not_the_environment(sensor_folders, tmp_path, monkeypatch):
    """The environment names one documents folder, the resource another: the sensor follows the resource, as the
    assets do."""
    theirs = tmp_path / "resource_documents"
    theirs.mkdir()
    (theirs / "only_here.txt").write_text("CPT 12345: a document only the resource's folder holds\n")
    resources = resources_from(Settings.from_env())
    resources["sources"] = SourcesResource(
        documents_dir=str(theirs),
        utilization_dir=str(sensor_folders["utilization"]),
        reference_dir=str(REPO_ROOT / "sources" / "reference"),
    )
    resources["warehouse"] = WarehouseResource(
        database=str(tmp_path / "wh" / "cpt.duckdb"), serving_path=str(sensor_folders["serving"])
    )
    with dg.build_sensor_context(cursor=None, resources=resources) as context:
        result = source_folder_sensor(context)
    [request] = result.run_requests  # the environment's documents folder is empty: nothing there to request
    assert request.tags["cpt/added"] == "1", request.tags


def test_the_sensor_reads_the_serving_file_of_the_resource(sensor_folders, tmp_path):
    """A serving path set only on the resource, inside its documents folder, is refused as such."""
    resources = resources_from(Settings.from_env())
    resources["warehouse"] = WarehouseResource(
        database=str(tmp_path / "wh" / "cpt.duckdb"), serving_path=str(sensor_folders["documents"] / "bi.duckdb")
    )
    with dg.build_sensor_context(cursor=None, resources=resources) as context:
        result = source_folder_sensor(context)
    assert result.run_requests == []
    assert "inside the source folder CPT_DOCUMENTS_DIR" in result.skip_reason.skip_message


def test_a_tick_does_not_wait_for_the_writer_lock_a_run_holds(sensor_folders, tmp_path, monkeypatch):
    """The sensor reads the warehouse resource's paths while a run holds the working file: it must not queue
    behind that run (resource setup takes the lock only for a run)."""
    monkeypatch.setenv("CPT_WRITER_LOCK_TIMEOUT_SECONDS", "1")  # a tick that waited would fail at once
    (sensor_folders["documents"] / "new.txt").write_text("CPT 12345: a new document\n")
    with writer_lock(tmp_path / "wh" / "cpt.duckdb", timeout_seconds=1):
        result = run_sensor()
    assert len(result.run_requests) == 1
