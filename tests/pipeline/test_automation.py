"""Schedule, sensor and the one-writer guard."""

from __future__ import annotations

import json
import threading
import time

import dagster as dg
import pytest

from pipeline.automation import daily_refresh, folder_changes, source_folder_sensor
from pipeline.definitions import defs
from pipeline.resources import writer_lock


def test_schedule_targets_every_asset_and_check():
    job = defs.resolve_job_def(daily_refresh.job_name)
    graph = defs.resolve_asset_graph()
    assert job.asset_layer.selected_asset_keys == graph.get_all_asset_keys()
    assert len(graph.get_all_asset_keys()) == 20
    assert job.asset_layer.asset_graph.asset_check_keys == graph.asset_check_keys
    assert len(graph.asset_check_keys) > 30
    assert daily_refresh.cron_schedule == "0 5 * * *"


@pytest.fixture
def folders(tmp_path):
    documents, utilization = tmp_path / "documents", tmp_path / "utilization"
    documents.mkdir()
    utilization.mkdir()
    (documents / "a.txt").write_text("CPT 32994: A\n")
    (utilization / "MUP_D23_Geo.csv").write_text("header\n")
    (utilization / "README.md").write_text("not a CMS file, not watched\n")
    return watched_folders_for(documents, utilization)


def watched_folders_for(documents, utilization):
    from pipeline.automation import iter_document_paths, list_utilization_files

    return {
        "documents": (documents, "documents_changed", lambda folder: list(iter_document_paths(folder))),
        "utilization": (utilization, "utilization_changed", list_utilization_files),
    }


def test_one_request_per_new_or_changed_file_none_for_unchanged(folders):
    requests, cursor = folder_changes({}, folders)
    assert sorted((r.job_name, r.tags["cpt/changed_file"]) for r in requests) == [
        ("documents_changed", "documents/a.txt"),
        ("utilization_changed", "utilization/MUP_D23_Geo.csv"),
    ]
    assert folder_changes(cursor, folders)[0] == []

    documents = folders["documents"][0]
    (documents / "a.txt").write_text("CPT 32994: A changed\n")
    (documents / "b.txt").write_text("CPT 32998: B\n")
    requests, cursor = folder_changes(cursor, folders)
    assert sorted(r.tags["cpt/changed_file"] for r in requests) == ["documents/a.txt", "documents/b.txt"]
    assert len({r.run_key for r in requests}) == 2


def test_touch_without_content_change_does_not_fire(folders):
    _, cursor = folder_changes({}, folders)
    path = folders["documents"][0] / "a.txt"
    path.write_text(path.read_text())  # new mtime, same bytes
    requests, cursor = folder_changes(cursor, folders)
    assert requests == []


def test_reverting_content_fires_again_and_removal_fires(folders):
    path = folders["documents"][0] / "a.txt"
    original = path.read_text()
    requests, cursor = folder_changes({}, folders)
    keys = {r.run_key for r in requests}
    path.write_text("CPT 32994: B\n")
    requests, cursor = folder_changes(cursor, folders)
    keys |= {r.run_key for r in requests}
    path.write_text(original)
    requests, cursor = folder_changes(cursor, folders)
    assert len(requests) == 1 and requests[0].run_key not in keys
    path.unlink()
    requests, cursor = folder_changes(cursor, folders)
    assert [r.tags["cpt/change"] for r in requests] == ["removed"]
    assert folder_changes(cursor, folders)[0] == []


def test_sensor_cursor_survives_restarts(folders, monkeypatch):
    monkeypatch.setattr("pipeline.automation.watched_folders", lambda: folders)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        first = source_folder_sensor(context)
        assert len(first) == 2
        cursor = context.cursor
        # A restarted daemon evaluates with the stored cursor: nothing new, no request.
        restarted = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        assert isinstance(source_folder_sensor(restarted), dg.SkipReason)
        (folders["utilization"][0] / "MUP_D23_Geo.csv").write_text("header\nrow\n")
        again = dg.build_sensor_context(instance=instance, cursor=restarted.cursor, definitions=defs)
        requests = source_folder_sensor(again)
        assert [r.tags["cpt/changed_file"] for r in requests] == ["utilization/MUP_D23_Geo.csv"]
        assert json.loads(again.cursor)["utilization/MUP_D23_Geo.csv"]["version"] == 2


def test_sensor_and_schedule_are_registered():
    assert defs.resolve_sensor_def("source_folder_sensor") is not None
    assert defs.resolve_schedule_def("daily_refresh") is not None


def test_second_writer_waits_instead_of_failing(tmp_path):
    warehouse = tmp_path / "cpt.duckdb"
    order = []

    def second():
        with writer_lock(warehouse, timeout_seconds=30):
            order.append("second")

    with writer_lock(warehouse, timeout_seconds=30):
        thread = threading.Thread(target=second)
        # flock is per open file description, so a thread in this process contends like another process would.
        thread.start()
        time.sleep(1.0)
        order.append("first done")
    thread.join(timeout=30)
    assert order == ["first done", "second"]


def test_writer_lock_times_out_with_a_clear_error(tmp_path):
    warehouse = tmp_path / "cpt.duckdb"
    with writer_lock(warehouse, timeout_seconds=30):
        errors = []

        def blocked():
            try:
                with writer_lock(warehouse, timeout_seconds=0.5):
                    pass
            except TimeoutError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=blocked)
        thread.start()
        thread.join(timeout=30)
    assert errors and "another pipeline run" in errors[0]


def test_instance_config_limits_writer_runs_to_one():
    import yaml

    from pipeline.settings import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / "warehouse" / "dagster_home" / "dagster.yaml").read_text())
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "cpt/warehouse", "value": "writer", "limit": 1} in limits
    for job in ("materialize_everything", "documents_changed", "utilization_changed"):
        assert defs.resolve_job_def(job).tags.get("cpt/warehouse") == "writer"
