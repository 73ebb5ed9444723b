"""Jobs, schedule, and the one-writer rule: the instance's concurrency pool and the file lock."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster_graphql.test.utils import execute_dagster_graphql, infer_job_selector

from pipeline.definitions import ASSETS, CHECKS, defs
from pipeline.defs.assets.core_documents import core_tables
from pipeline.defs.assets.medicare_policy import medicare_policy_tables
from pipeline.defs.assets.utilization import utilization_tables
from pipeline.defs.automation import (
    daily_refresh,
    documents_changed,
    medicare_policy_changed,
    source_folder_sensor,
    utilization_changed,
)
from pipeline.defs.resources import WAREHOUSE_POOL, writer_lock
from pipeline.settings import REPO_ROOT

INSTANCE_CONFIG = REPO_ROOT / "warehouse" / "dagster_home" / "dagster.yaml"
# What the code location materializes (the source folders are declared as external specs: nothing to run).
MATERIALIZABLE = [asset for asset in ASSETS if isinstance(asset, dg.AssetsDefinition) and asset.is_executable]
ALL_ASSET_KEYS = {key for asset in MATERIALIZABLE for key in asset.keys}
# The serving snapshot's freshness check (built from the settings with the code location) reads only the
# Dagster instance: it runs in every job that publishes, outside the warehouse pool.
FRESHNESS_CHECK_KEYS = {key for check in defs.asset_checks for key in check.check_keys if key.name == "freshness_check"}
ALL_CHECK_KEYS = (
    {key for check in CHECKS for key in check.check_keys}
    | {key for asset in MATERIALIZABLE for key in asset.check_keys}
    | FRESHNESS_CHECK_KEYS
)


def selected(job_name: str) -> tuple[set, set]:
    job = defs.resolve_job_def(job_name)
    return set(job.asset_layer.selected_asset_keys), set(job.asset_layer.asset_graph.asset_check_keys)


def test_schedule_runs_every_asset_and_check_daily():
    assets, checks = selected(daily_refresh.job_name)
    assert assets == ALL_ASSET_KEYS
    assert checks == ALL_CHECK_KEYS
    assert daily_refresh.cron_schedule == "0 5 * * *" and daily_refresh.execution_timezone == "UTC"


FOLDER_TABLES = {"documents": core_tables, "utilization": utilization_tables, "medicare": medicare_policy_tables}
# core.modifiers takes its descriptions from HCPCS Level II (medicare.hcpcs_level2), and the core asset cannot run
# for only some of its tables: the medicare job reruns the documents' tables too (from the parse cache).
FOLDERS_ALSO_RERUN = {"medicare": {"documents"}}


@pytest.mark.parametrize(
    ("job", "folder"),
    [(documents_changed, "documents"), (utilization_changed, "utilization"), (medicare_policy_changed, "medicare")],
    ids=["documents_changed", "utilization_changed", "medicare_policy_changed"],
)
def test_folder_jobs_leave_out_the_other_folders_only(job, folder):
    """A folder's job loads that folder and rebuilds everything downstream (marts, serving, lake): every other
    folder's tables stay as they are (but for tables fed by this folder too, FOLDERS_ALSO_RERUN)."""
    assets, checks = selected(job.name)
    rerun = {folder, *FOLDERS_ALSO_RERUN.get(folder, ())}
    other_folders = {key for name, tables in FOLDER_TABLES.items() if name not in rerun for key in tables.keys}
    assert assets == ALL_ASSET_KEYS - other_folders
    assert checks == {key for key in ALL_CHECK_KEYS if key.asset_key in assets}


def test_sensor_targets_the_folder_jobs_and_the_first_full_build():
    """One job per watched folder (one run per changed folder's batch), and everything for the first build."""
    sensor = defs.resolve_sensor_def(source_folder_sensor.name)
    assert {job.name for job in sensor.jobs} == {
        documents_changed.name,
        utilization_changed.name,
        medicare_policy_changed.name,
        daily_refresh.job_name,
    }
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_every_step_that_opens_the_warehouse_is_in_the_pool():
    """Assets and checks alike: a run of any selection needs the warehouse pool's slot."""
    job = defs.resolve_implicit_global_asset_job_def()
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    freshness = {name for name in pools if name.startswith("freshness_check")}
    assert FRESHNESS_CHECK_KEYS and len(freshness) == 1  # the one step that never opens the warehouse
    pools = {name: pool for name, pool in pools.items() if name not in freshness}
    assert pools and pools == dict.fromkeys(pools, WAREHOUSE_POOL)


# --- The pool queues runs that carry no tags ("Materialize all" in the UI) --------------------------------------

LAUNCH_RUN = """
mutation($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId tags { key value } } }
    ... on PythonError { message }
  }
}"""


def project_instance_config(without_pools: bool = False) -> dict:
    config = yaml.safe_load(INSTANCE_CONFIG.read_text())
    if without_pools:
        config["concurrency"].pop("pools")
    # Launched runs are recorded, not executed: the test is about what the queue lets through.
    return {**config, "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}}


def launch_from_ui(workspace: WorkspaceProcessContext, job_name: str, asset_keys=None) -> tuple[str, dict]:
    """The GraphQL mutation the UI's "Materialize" buttons call, with no tags of our own."""
    context = workspace.create_request_context()
    selection = [{"path": key.path} for key in asset_keys] if asset_keys else None
    selector = infer_job_selector(context, job_name, asset_selection=selection)
    result = execute_dagster_graphql(
        context, LAUNCH_RUN, {"executionParams": {"selector": selector, "mode": "default"}}
    )
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"], {tag["key"]: tag["value"] for tag in launched["run"]["tags"]}


def report(instance: dg.DagsterInstance, run_id: str, event_type: str) -> None:
    run = instance.get_run_by_id(run_id)
    instance.report_dagster_event(dg.DagsterEvent(event_type_value=event_type, job_name=run.job_name), run_id=run_id)


@contextmanager
def project_queue(tmp_path: Path, without_pools: bool = False):
    """An instance with the project's dagster.yaml, the code location loaded in process, and the run queue."""
    code = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="pipeline.definitions", attribute="defs", working_directory=str(REPO_ROOT))
    )
    with (
        dg.instance_for_test(overrides=project_instance_config(without_pools), temp_dir=str(tmp_path)) as instance,
        WorkspaceProcessContext(instance, InProcessTestWorkspaceLoadTarget(code)) as workspace,
    ):
        queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
        yield instance, workspace, lambda: list(queue.run_iteration(workspace))


@pytest.mark.slow  # a Dagster workspace, GraphQL launches and the run-queue daemon
@pytest.mark.parametrize("without_pools", [False, True], ids=["project config", "same config without pools"])
def test_ui_run_without_tags_queues_behind_a_running_one(tmp_path, without_pools):
    with project_queue(tmp_path, without_pools) as (instance, workspace, dequeue):
        first, _ = launch_from_ui(workspace, documents_changed.name)
        dequeue()
        report(instance, first, "PIPELINE_START")  # the run worker has started: the first run is running
        assert instance.get_run_by_id(first).status == dg.DagsterRunStatus.STARTED

        materialize_all, tags = launch_from_ui(workspace, "__ASSET_JOB", ALL_ASSET_KEYS)
        assert not any(key.startswith("cpt/") for key in tags)
        dequeue()
        launched_at_once = instance.run_launcher.did_run_launch(materialize_all)

        report(instance, first, "PIPELINE_SUCCESS")
        dequeue()
        assert instance.run_launcher.did_run_launch(materialize_all)

    # Only the pool holds the untagged run back: the cpt/warehouse tag limit cannot see it.
    assert launched_at_once == without_pools


@pytest.mark.slow  # a Dagster workspace and the run-queue daemon
def test_the_queue_also_waits_for_a_run_started_outside_it(tmp_path):
    """A run started by `dagster asset materialize` or `cpt-warehouse build` in the same DAGSTER_HOME.

    Dagster creates the pool's limit (from default_limit) the first time the queue sees a run that needs
    it; that first run goes through to initialize it, so the test starts with one.
    """
    with project_queue(tmp_path) as (instance, workspace, dequeue):
        earlier, _ = launch_from_ui(workspace, "__ASSET_JOB", ALL_ASSET_KEYS)
        dequeue()
        report(instance, earlier, "PIPELINE_SUCCESS")

        outside = instance.create_run_for_job(
            defs.resolve_implicit_global_asset_job_def(),
            asset_selection=ALL_ASSET_KEYS,
            status=dg.DagsterRunStatus.STARTED,
        )
        queued, _ = launch_from_ui(workspace, "__ASSET_JOB", ALL_ASSET_KEYS)
        dequeue()
        assert not instance.run_launcher.did_run_launch(queued)
        report(instance, outside.run_id, "PIPELINE_SUCCESS")
        dequeue()
        assert instance.run_launcher.did_run_launch(queued)


def test_instance_config_as_dagster_loads_it(tmp_path):
    (tmp_path / "dagster.yaml").write_text(INSTANCE_CONFIG.read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "run"
        assert {"key": "cpt/warehouse", "value": "writer", "limit": 1} in config.run_queue_config.tag_concurrency_limits
        for job in (
            daily_refresh.job_name,
            documents_changed.name,
            utilization_changed.name,
            medicare_policy_changed.name,
        ):
            assert defs.resolve_job_def(job).tags.get("cpt/warehouse") == "writer"


# --- The file lock: the backstop for runs started outside the daemon -------------------------------------------


class WaitingLog:
    """Stands in for the run's logger; the lock logs once when it starts waiting."""

    def __init__(self):
        self.waiting = threading.Event()
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)
        self.waiting.set()


def test_second_writer_waits_instead_of_failing(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.defs.resources.LOCK_POLL_SECONDS", 0.01)
    warehouse = tmp_path / "cpt.duckdb"
    order: list[str] = []
    log = WaitingLog()

    def second():
        with writer_lock(warehouse, timeout_seconds=30, log=log):
            order.append("second")

    with writer_lock(warehouse, timeout_seconds=30):
        # flock is per open file description, so a thread in this process contends like another process would.
        thread = threading.Thread(target=second)
        thread.start()
        assert log.waiting.wait(timeout=30), "the second writer never reported waiting"
        order.append("first done")
    thread.join(timeout=30)
    assert order == ["first done", "second"]
    assert f"pid {os.getpid()}" in log.messages[0]


def test_writer_lock_times_out_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.defs.resources.LOCK_POLL_SECONDS", 0.01)
    warehouse = tmp_path / "cpt.duckdb"
    errors: list[str] = []

    def blocked():
        try:
            with writer_lock(warehouse, timeout_seconds=0.05):
                pass
        except TimeoutError as exc:
            errors.append(str(exc))

    with writer_lock(warehouse, timeout_seconds=30):
        thread = threading.Thread(target=blocked)
        thread.start()
        thread.join(timeout=30)
    assert errors and "another pipeline run" in errors[0] and str(warehouse) in errors[0]
