"""Publish the serving snapshot that BI tools read, after every upstream blocking check has passed."""

import sys
import warnings
from datetime import timedelta

import dagster as dg

from pipeline.defs.asset_specs import CODE_REFERENCES, OWNERS, asset_key, code_references, module_file, source_digest
from pipeline.defs.resources import (
    WAREHOUSE_POOL,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    SupersetResource,
    WarehouseResource,
)
from pipeline.publishing import guard, snapshot
from pipeline.publishing.guard import PublishRefused, guard_publish
from pipeline.publishing.snapshot import PUBLISHED_CONTRACTS, inspect_publish, publish_inspected, snapshot_digest

PUBLISHED = list(PUBLISHED_CONTRACTS)
SERVING_KEY = dg.AssetKey(["serving", "cpt_analytics"])
PUBLISHING_CODE = module_file(snapshot).parent  # snapshot.py, guard.py, block_checksums.py
PYTHON_FILES = (module_file(snapshot), module_file(guard), module_file(sys.modules[__name__]))


@dg.asset(
    key=SERVING_KEY,
    group_name="serving",
    deps=[asset_key(c) for c in PUBLISHED],
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    code_version=source_digest(PUBLISHING_CODE),
    metadata={CODE_REFERENCES: code_references(*PYTHON_FILES)},
    description=(
        "Read-only DuckDB file for BI tools (CPT_SERVING_PATH): every contract table, with column comments. "
        "Replaced atomically; runs only when every upstream blocking check passed. Copies the previous file and "
        "rewrites only changed tables, or rebuilds it in full (see metadata: publish_mode, publish_reason). "
        "Refuses to publish an unexplained shrink (publish guard; override: CPT_ALLOW_SHRINK=1, or the run config resources.overrides.config.allow_shrink: true)."
    ),
)
def serving_snapshot(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: SourcesResource,
    limits: LimitsResource,
    overrides: OverridesResource,
    superset: SupersetResource,
) -> dg.MaterializeResult:
    folders = {"documents": sources.documents, "utilization": sources.utilization}
    if sources.medicare_policy is not None:
        folders["medicare_policy"] = sources.medicare_policy
    with warehouse.connect() as con:
        inputs = inspect_publish(con, warehouse.serving_file, PUBLISHED_CONTRACTS)
        try:
            decision = guard_publish(
                con, inputs, folders, allow_shrink=overrides.allow_shrink, max_shrink=limits.publish_max_shrink
            )
        except PublishRefused as refused:
            raise dg.Failure(
                description=str(refused), metadata={"publish_guard": dg.MetadataValue.md(refused.decision.markdown())}
            ) from refused
        # An InfrastructureFailure (disk full, I/O) propagates as is: the original OS error is its cause.
        result = publish_inspected(con, inputs, limits.publish_settings)
    context.log.info(
        f"published {result.path} ({result.bytes_written / 1e6:.1f} MB): {result.mode} publish, {result.reason}; "
        f"{len(result.tables_written)} table(s) written in {result.seconds:.2f}s; guard {decision.summary()}"
    )
    superset_cache = _refresh_superset(context, superset, published=bool(result.tables_written))
    return dg.MaterializeResult(
        # What the file holds (every table's version and contract): unchanged when nothing was written.
        data_version=dg.DataVersion(snapshot_digest(inputs)),
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "size_mb": round(result.bytes_written / 1e6, 2),
            "publish_mode": result.mode,
            "publish_reason": result.reason,
            "tables_written": dg.MetadataValue.json(list(result.tables_written)),
            "publish_seconds": round(result.seconds, 3),
            "tables": dg.MetadataValue.json(result.tables),
            "publish_guard": dg.MetadataValue.md(decision.markdown()),
            "superset_cache": superset_cache,
        },
    )


def _refresh_superset(context: dg.AssetExecutionContext, superset: SupersetResource, *, published: bool) -> str:
    """The optional post-publish step (CPT_SUPERSET_URL): a Superset that cannot be reached is a warning only."""
    from pipeline.bi.superset_refresh import refresh_dashboard_cache

    if not superset.url:
        return "off (CPT_SUPERSET_URL unset)"
    if not published:
        return "not needed: no table was written"
    try:
        outcome = refresh_dashboard_cache(superset.url, superset.username, superset.password, superset.dashboard)
    except Exception as error:  # noqa: BLE001 - the snapshot is published; nothing here may undo or fail that
        summary = f"warning: Superset cache not refreshed at {superset.url}: {type(error).__name__}: {error}"
        context.log.warning(summary)
        return summary
    (context.log.info if outcome.ok else context.log.warning)(outcome.summary)
    return outcome.summary


def serving_freshness(max_age_hours: float) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """The serving snapshot's ``freshness_check`` (CPT_SERVING_MAX_AGE_HOURS) and the sensor that evaluates it.

    Every successful run materializes the serving asset, also when nothing changed and the file is left as it
    was: the asset's last materialization is when a run last confirmed that the file holds the current
    sources. The check fails when that is older than the threshold (failed or missing runs, a stuck queue, a
    stopped schedule), so the UI shows the BI file as overdue."""
    with warnings.catch_warnings():
        # Superseded by FreshnessPolicy in Dagster 1.11+, but a policy only shows a state in the UI: a check has
        # a pass/fail result with its threshold and last-update time that can be tested and alerted on.
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        checks = dg.build_last_update_freshness_checks(
            assets=[SERVING_KEY],
            lower_bound_delta=timedelta(hours=max_age_hours),
            severity=dg.AssetCheckSeverity.ERROR,
        )
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, name="serving_freshness_sensor", default_status=dg.DefaultSensorStatus.RUNNING
        )
    return list(checks), sensor
