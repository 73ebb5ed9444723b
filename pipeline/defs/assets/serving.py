"""Publish the serving snapshot that BI tools read, after every upstream blocking check has passed."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from pipeline.defs.checks import OWNERS, asset_key
from pipeline.defs.resources import WAREHOUSE_POOL, SourcesResource, WarehouseResource
from pipeline.publishing.guard import PublishRefused, guard_publish
from pipeline.publishing.snapshot import PUBLISHED_CONTRACTS, inspect_publish, publish_inspected

PUBLISHED = list(PUBLISHED_CONTRACTS)


class ServingConfig(dg.Config):
    allow_shrink: bool = Field(
        default=False,
        description=(
            "Publish even if a table would shrink by more than CPT_PUBLISH_MAX_SHRINK without removed files "
            "explaining it, or a source folder is empty (same as CPT_ALLOW_SHRINK=1)."
        ),
    )


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
        "Refuses to publish an unexplained shrink (publish guard; override: allow_shrink or CPT_ALLOW_SHRINK=1)."
    ),
)
def serving_snapshot(
    context: dg.AssetExecutionContext, config: ServingConfig, warehouse: WarehouseResource, sources: SourcesResource
) -> dg.MaterializeResult:
    folders = {"documents": Path(sources.documents_dir), "utilization": Path(sources.utilization_dir)}
    with warehouse.connect() as con:
        inputs = inspect_publish(con, Path(warehouse.serving_path), PUBLISHED_CONTRACTS)
        try:
            decision = guard_publish(con, inputs, folders, allow_shrink=config.allow_shrink)
        except PublishRefused as refused:
            raise dg.Failure(
                description=str(refused), metadata={"publish_guard": dg.MetadataValue.md(refused.decision.markdown())}
            ) from refused
        # An InfrastructureFailure (disk full, I/O) propagates as is: the original OS error is its cause.
        result = publish_inspected(con, inputs)
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
