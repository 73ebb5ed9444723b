"""Documents folder → the ``core`` tables, in one batched asset (the work is in ``pipeline.documents.load``)."""

import sys

import dagster as dg

from pipeline.contracts.coding_edit_tables import HCPCS_LEVEL2_CONTRACT
from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.core import corpus
from pipeline.core.document_parser import parser_fingerprint
from pipeline.core.reference_data import load_reference_data
from pipeline.defs.asset_specs import asset_key, asset_spec, module_file, source_digest, source_key, table_data_version
from pipeline.defs.checks import contract_checks
from pipeline.defs.resources import (
    WAREHOUSE_POOL,
    LimitsResource,
    OverridesResource,
    SourcesResource,
    WarehouseResource,
)
from pipeline.documents import load as documents_load
from pipeline.documents import modifier_descriptions
from pipeline.documents.load import DOCUMENTS, DocumentsLoad, load_documents
from pipeline.warehouse.change_log import latest_versions

GROUP = "core"
CONTRACTS = {c.table: c for c in CORE_CONTRACTS}
ATTENTION_LIST_LIMIT = 200


PYTHON_FILES = (
    module_file(documents_load),
    module_file(corpus),
    module_file(modifier_descriptions),
    module_file(sys.modules[__name__]),
)
# The parser modules, and the code that turns parsed documents into rows.
CODE_VERSION = (
    f"{parser_fingerprint()}:"
    f"{source_digest(module_file(documents_load), module_file(corpus), module_file(modifier_descriptions))}"
)
# core.modifiers takes the official modifier texts of the HCPCS Level II file (pipeline/documents/modifier_descriptions.py).
MODIFIERS = "core.modifiers"


@dg.multi_asset(
    name="core_tables",
    specs=[
        asset_spec(
            c,
            group=GROUP,
            kinds=("duckdb", "pandera"),
            deps=[source_key("documents"), source_key("reference")]
            + ([asset_key(HCPCS_LEVEL2_CONTRACT)] if c.table == MODIFIERS else []),
            code_version=CODE_VERSION,
            code_files=PYTHON_FILES,
        )
        for c in CORE_CONTRACTS
    ],
    can_subset=False,
    pool=WAREHOUSE_POOL,
    description="Parse the documents folder and rebuild every core table in one transaction.",
)
def core_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: SourcesResource,
    limits: LimitsResource,
    overrides: OverridesResource,
):
    reference = load_reference_data(sources.reference)
    with warehouse.connect() as con:
        load = load_documents(
            con,
            sources.documents,
            reference,
            limits.max_document_bytes,
            warehouse_path=warehouse.working_file,
            allow_shrink=overrides.allow_shrink,
            workers=limits.document_workers,
        )
        versions = latest_versions(con)
    context.log.info(
        f"{sum(load.statuses.values())} documents: {load.parsed} parsed, {load.from_cache} from the parse cache; "
        f"tables changed: {', '.join(load.changed_tables) or 'none'}"
    )
    for table, count in load.counts.items():
        metadata = {"dagster/row_count": count, "changed_in_this_run": table in load.changed_tables}
        if table == DOCUMENTS:
            metadata.update(_documents_metadata(load))
        yield dg.MaterializeResult(
            asset_key=asset_key(CONTRACTS[table]), data_version=table_data_version(versions, table), metadata=metadata
        )


def _documents_metadata(load: DocumentsLoad) -> dict:
    lines = ["| document | status | problems |", "|---|---|---|"]
    listed = load.attention[:ATTENTION_LIST_LIMIT]
    for document_id, status, problems in listed:
        lines.append(f"| `{document_id}` | {status} | {problems.replace('|', '/')[:300]} |")
    if load.attention_total > len(listed):
        lines.append(f"| … | | {load.attention_total - len(listed)} more: query core.documents |")
    return {
        "documents_by_status": load.statuses,
        "documents_parsed": load.parsed,
        "documents_from_cache": load.from_cache,
        "documents_removed": dg.MetadataValue.json(load.removed),
        "needs_attention": dg.MetadataValue.md("\n".join(lines) if load.attention else "Every document parsed."),
    }


CORE_CHECKS = [contract_checks(CORE_CONTRACTS, name="core_table_checks")]
