"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipeline.definitions import defs
from pipeline.defs import automation
from pipeline.defs.resources import resources_from
from pipeline.settings import Settings


@pytest.fixture
def hashed(monkeypatch) -> list[Path]:
    """Every file the sensor reads to hash it."""
    seen: list[Path] = []
    real = automation.sha256_file

    def counting(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(automation, "sha256_file", counting)
    return seen


@pytest.fixture
def sensor_folders(tmp_path, monkeypatch) -> dict[str, Path]:
    """Empty documents and utilization folders and a serving path under tmp_path, set in the environment the
    sensor reads; the sensor's hash cache starts empty."""
    paths = {
        "documents": tmp_path / "documents",
        "utilization": tmp_path / "utilization",
        "medicare_policy": tmp_path / "medicare_policy",
        "serving": tmp_path / "serving" / "cpt.duckdb",
    }
    paths["documents"].mkdir()
    paths["utilization"].mkdir()
    paths["medicare_policy"].mkdir()
    monkeypatch.setenv("CPT_MEDICARE_POLICY_DIR", str(paths["medicare_policy"]))
    monkeypatch.setenv("CPT_DOCUMENTS_DIR", str(paths["documents"]))
    monkeypatch.setenv("CPT_UTILIZATION_DIR", str(paths["utilization"]))
    monkeypatch.setenv("CPT_SERVING_PATH", str(paths["serving"]))
    monkeypatch.setenv("CPT_WAREHOUSE_PATH", str(tmp_path / "wh" / "cpt.duckdb"))
    automation._sha256_or_error.cache_clear()
    return paths


def run_sensor(cursor: str | None = None) -> dg.SensorResult:
    """One tick, with the resources a deployment builds from the environment (as the fixtures set it)."""
    resources = resources_from(Settings.from_env())
    with dg.build_sensor_context(cursor=cursor, definitions=defs, resources=resources) as context:
        return automation.source_folder_sensor(context)
