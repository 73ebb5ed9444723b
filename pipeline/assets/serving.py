"""Publish the serving snapshot that BI tools read, after every upstream blocking check has passed."""

from pathlib import Path

import dagster as dg

from pipeline.assets.contract_metadata import asset_key
from pipeline.contracts import ALL_CONTRACTS
from pipeline.resources import WarehouseResource
from pipeline.serving_snapshot import PUBLISHED_SCHEMAS, publish_snapshot

PUBLISHED = [c for c in ALL_CONTRACTS if c.schema_name in PUBLISHED_SCHEMAS]


@dg.asset(
    key=["serving", "cpt_analytics"],
    group_name="serving",
    deps=[asset_key(c) for c in PUBLISHED],
    kinds={"duckdb"},
    description=(
        "Read-only DuckDB file for BI tools (CPT_SERVING_PATH): core, utilization and marts, with column comments. "
        "Replaced atomically; runs only when every upstream blocking check passed."
    ),
)
def serving_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        result = publish_snapshot(con, Path(warehouse.serving_path), PUBLISHED)
    context.log.info(f"published {result.path} ({result.bytes_written / 1e6:.1f} MB)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "size_mb": round(result.bytes_written / 1e6, 2),
            "tables": dg.MetadataValue.json(result.tables),
        }
    )
