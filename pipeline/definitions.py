"""The Dagster code location: ``dagster dev`` (via workspace.yaml) and ``dagster asset materialize -m pipeline.definitions``."""

import dagster as dg

from pipeline.defs.asset_specs import SOURCE_ASSETS
from pipeline.defs.assets.core_documents import CORE_CHECKS, core_tables
from pipeline.defs.assets.lake import lake_snapshot
from pipeline.defs.assets.marts import MART_CHECKS, mart_tables
from pipeline.defs.assets.medicare_policy import MEDICARE_CHECKS, medicare_policy_tables
from pipeline.defs.assets.serving import serving_freshness, serving_snapshot
from pipeline.defs.assets.utilization import UTILIZATION_CHECKS, utilization_tables
from pipeline.defs.automation import (
    daily_refresh,
    documents_changed,
    materialize_everything,
    medicare_policy_changed,
    source_folder_sensor,
    utilization_changed,
)
from pipeline.defs.resources import resources_from
from pipeline.settings import Settings

ASSETS = [
    *SOURCE_ASSETS,
    core_tables,
    utilization_tables,
    medicare_policy_tables,
    mart_tables,
    serving_snapshot,
    lake_snapshot,
]
CHECKS = [*CORE_CHECKS, *UTILIZATION_CHECKS, *MEDICARE_CHECKS, *MART_CHECKS]
JOBS = [materialize_everything, documents_changed, utilization_changed, medicare_policy_changed]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The code location, its resources built from ``settings`` (default: the environment, read once now)."""
    settings = settings or Settings.from_env()
    freshness_checks, freshness_sensor = serving_freshness(settings.serving_max_age_hours)
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=[*CHECKS, *freshness_checks],
        jobs=JOBS,
        schedules=[daily_refresh],
        sensors=[source_folder_sensor, freshness_sensor],
        resources=resources_from(settings),
        # One process per run: DuckDB allows a single writer process, and per-step processes would fight for it.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
