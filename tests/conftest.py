from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.defs.resources import (
    LakeResource,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    SupersetResource,
    WarehouseResource,
)
from pipeline.settings import REPO_ROOT

SAMPLE_DOCUMENTS = REPO_ROOT / "sources" / "documents"
SAMPLE_UTILIZATION = REPO_ROOT / "sources" / "utilization"
SAMPLE_MEDICARE_POLICY = REPO_ROOT / "sources" / "medicare_policy"
REFERENCE = REPO_ROOT / "sources" / "reference"
SEED = SAMPLE_DOCUMENTS  # holds an unmodified copy of ../shared/seed/000_39b65fcce32c74e2.txt

# The inner loop, `pytest -m "not slow"`, runs the property tests with a tenth of their examples; every other
# run (the full suite, CI) runs them all. Set when pytest starts, before the test modules are collected.
_INNER_LOOP = False


def pytest_configure(config):
    global _INNER_LOOP
    _INNER_LOOP = (config.getoption("markexpr", "") or "").replace(" ", "") == "notslow"


def property_examples(full: int) -> int:
    """``max_examples`` for a property test: ``full`` in the full suite, a tenth (at least 5) in the inner loop."""
    return max(full // 10, 5) if _INNER_LOOP else full


@dataclass
class PipelineEnv:
    root: Path
    documents_dir: Path
    utilization_dir: Path
    warehouse_path: Path
    serving_path: Path
    medicare_policy_dir: Path | None = None

    @property
    def resources(self) -> dict:
        return {
            "warehouse": WarehouseResource(
                database=str(self.warehouse_path), serving_path=str(self.serving_path), lock_timeout_seconds=60
            ),
            "sources": SourcesResource(
                documents_dir=str(self.documents_dir),
                utilization_dir=str(self.utilization_dir),
                reference_dir=str(REFERENCE),
                medicare_policy_dir=str(self.medicare_policy_dir) if self.medicare_policy_dir else None,
            ),
            # Read from the environment when a test runs the pipeline, as a deployment reads it at load.
            "limits": LimitsResource.from_env(),
            "overrides": OverridesResource.from_env(),
            "superset": SupersetResource.from_env(),
            # Off, whatever the environment says: a test never publishes to a developer's lake.
            "lake": LakeResource(),
        }

    @property
    def env_vars(self) -> dict[str, str]:
        return {
            "CPT_DOCUMENTS_DIR": str(self.documents_dir),
            "CPT_UTILIZATION_DIR": str(self.utilization_dir),
            "CPT_WAREHOUSE_PATH": str(self.warehouse_path),
            "CPT_SERVING_PATH": str(self.serving_path),
        } | ({"CPT_MEDICARE_POLICY_DIR": str(self.medicare_policy_dir)} if self.medicare_policy_dir else {})

    def query(self, sql: str, params=None, *, serving: bool = False) -> list[tuple]:
        con = duckdb.connect(str(self.serving_path if serving else self.warehouse_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def make_pipeline_env(root: Path) -> PipelineEnv:
    """Sample documents and utilization copied under ``root``; warehouse and serving files there too."""
    documents = root / "documents"
    utilization = root / "utilization"
    shutil.copytree(SAMPLE_DOCUMENTS, documents)
    utilization.mkdir()
    for csv_file in SAMPLE_UTILIZATION.glob("*.csv"):
        shutil.copy2(csv_file, utilization / csv_file.name)
    medicare_policy = root / "medicare_policy"
    shutil.copytree(SAMPLE_MEDICARE_POLICY, medicare_policy)
    return PipelineEnv(
        root, documents, utilization, root / "wh" / "cpt.duckdb", root / "serving" / "cpt.duckdb", medicare_policy
    )


@pytest.fixture
def pipeline_env(tmp_path: Path) -> PipelineEnv:
    return make_pipeline_env(tmp_path)


def run_pipeline(env: PipelineEnv, selection: str | None = None, *, raise_on_error: bool = True):
    from pipeline.definitions import ASSETS, CHECKS

    return dg.materialize(
        [*ASSETS, *CHECKS], resources=env.resources, selection=selection, raise_on_error=raise_on_error
    )


def kill_when_marker_appears(args: list[str], *, env: dict, marker: Path, timeout: float, stage: str, before_kill=None):
    """Run ``args`` in its own process group; SIGKILL the group once it creates ``marker`` (it reached ``stage``).

    ``before_kill`` runs while the child is paused there. Returns the child's return code (always -SIGKILL)."""
    process = subprocess.Popen(
        args, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            assert process.poll() is None, f"the run ended before it reached {stage}"
            assert time.monotonic() < deadline, f"the run never reached {stage}"
            time.sleep(0.05)
        if before_kill is not None:
            before_kill()
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    return process.returncode
