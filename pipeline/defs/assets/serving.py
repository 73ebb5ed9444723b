"""Publish the serving snapshot that BI tools read, after every upstream blocking check has passed."""

import dagster as dg

from pipeline.defs.checks import OWNERS, asset_key
from pipeline.defs.resources import (
    WAREHOUSE_POOL,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    WarehouseResource,
)
from pipeline.publishing.guard import PublishRefused, guard_publish
from pipeline.publishing.snapshot import PUBLISHED_CONTRACTS, inspect_publish, publish_inspected

PUBLISHED = list(PUBLISHED_CONTRACTS)


@dg.asset(
    key=["serving", "cpt_analytics"],
    group_name="serving",
    deps=[asset_key(c) for c in PUBLISHED],
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
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
) -> dg.MaterializeResult:
    folders = {"documents": sources.documents, "utilization": sources.utilization}
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
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "size_mb": round(result.bytes_written / 1e6, 2),
            "publish_mode": result.mode,
            "publish_reason": result.reason,
            "tables_written": dg.MetadataValue.json(list(result.tables_written)),
            "publish_seconds": round(result.seconds, 3),
            "tables": dg.MetadataValue.json(result.tables),
            "publish_guard": dg.MetadataValue.md(decision.markdown()),
        }
    )
