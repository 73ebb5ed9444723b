"""Commit the published serving snapshot's changed tables to the DuckLake, when one is configured."""

import sys

import dagster as dg

from pipeline.defs.asset_specs import CODE_REFERENCES, OWNERS, code_references, module_file, source_digest
from pipeline.defs.assets.serving import SERVING_KEY
from pipeline.defs.resources import WAREHOUSE_POOL, LakeResource, WarehouseResource
from pipeline.publishing import lake
from pipeline.publishing.lake import publish_to_lake

LAKE_KEY = dg.AssetKey(["lake", "cpt_analytics"])
LAKE_FILES = (module_file(lake), lake.WORKER, lake.REQUIREMENTS, module_file(sys.modules[__name__]))


@dg.asset(
    key=LAKE_KEY,
    group_name="serving",
    deps=[SERVING_KEY],
    kinds={"ducklake", "postgres"},
    owners=OWNERS,
    # One writer of the lake at a time, like the serving file: the lake publish belongs to the run that published.
    pool=WAREHOUSE_POOL,
    code_version=source_digest(*LAKE_FILES[:2]),
    metadata={CODE_REFERENCES: code_references(*(f for f in LAKE_FILES if f.suffix == ".py"))},
    description=(
        "The DuckLake (CPT_LAKE_CATALOG, CPT_LAKE_DATA_PATH) BI hosts anywhere read: the serving file's tables, "
        "with their comments. Each publish that changed tables commits one lake snapshot holding exactly those "
        "tables (time travel over every publish); runs only after the serving file was published, so after the "
        "same blocking checks and publish guard. Off (nothing written) while CPT_LAKE_CATALOG is unset."
    ),
)
def lake_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource):
    settings = lake.settings
    if not settings.enabled:
        context.log.info("no lake configured (CPT_LAKE_CATALOG unset): nothing to publish")
        return dg.MaterializeResult(metadata={"lake": "not configured (CPT_LAKE_CATALOG unset)"})
    # A LakePublishFailed (an InfrastructureFailure) fails the step; the lake keeps its previous snapshot.
    result = publish_to_lake(warehouse.serving_file, settings)
    context.log.info(
        f"lake snapshot {result.snapshot_id}: {len(result.tables_written)} table(s) written in {result.seconds:.2f}s"
        + (f"; retention expired {result.expired_snapshots} snapshot(s)" if result.expired_snapshots else "")
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(str(result.snapshot_id)),
        metadata={
            "snapshot_id": result.snapshot_id,
            "tables_written": dg.MetadataValue.json(result.tables_written),
            "tables_dropped": dg.MetadataValue.json(result.tables_dropped),
            "rows_written": dg.MetadataValue.json(result.rows),
            "seconds": round(result.seconds, 3),
            "commit_seconds": result.commit_seconds,
            "expired_snapshots": result.expired_snapshots,
            "files_removed": result.files_removed,
            "catalog": settings.catalog.split(" password=")[0],
            "data_path": settings.data_path,
        },
    )
