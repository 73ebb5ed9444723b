"""Documents folder → the ``core`` tables, in one batched asset.

All documents are handled in one step (not one run or partition per document):
files are hashed, only files whose content hash is not in the parse cache are
parsed, the corpus rules run once, and every core table is replaced in a single
transaction, so a reader of the working file never sees half a load and a
removed document disappears from every table.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.contract_metadata import asset_key, asset_spec, contract_checks
from pipeline.contract_gate import GateResult, gate_frame
from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.core import document_parser, text_decoding
from pipeline.core.corpus import DocumentFile, build_core_rows
from pipeline.core.document_parser import PARSED, PARTIAL, from_json_dict, parse_document, reject_oversize, to_json_dict
from pipeline.core.reference_data import load_reference_data
from pipeline.document_folder import iter_document_paths, read_document
from pipeline.resources import SourcesResource, WarehouseResource
from pipeline.settings import env_int
from pipeline.warehouse_tables import ensure_schemas, frame_for, replace_table

GROUP = "core"
CONTRACTS = {c.table: c for c in CORE_CONTRACTS}
# Dimensions before the bridges that reference them, documents last so it can absorb every gate problem.
GATE_ORDER = [
    "core.place_of_service",
    "core.payers",
    "core.payer_aliases",
    "core.care_sites",
    "core.care_site_aliases",
    "core.modifiers",
    "core.codes",
    "core.code_modifiers",
    "core.code_payers",
    "core.code_care_sites",
    "core.document_sections",
    "core.documents",
]
PARSER_VERSION = hashlib.sha256(
    b"".join(Path(module.__file__).read_bytes() for module in (document_parser, text_decoding))
).hexdigest()[:16]


def max_document_bytes() -> int:
    return env_int("CPT_MAX_DOCUMENT_BYTES", text_decoding.DEFAULT_MAX_DOCUMENT_BYTES)


@dg.multi_asset(
    name="core_tables",
    specs=[asset_spec(CONTRACTS[name], group=GROUP, kinds=("duckdb", "pandera")) for name in CONTRACTS],
    can_subset=False,
    description="Parse the documents folder and rebuild every core table in one transaction.",
)
def core_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource):
    reference = load_reference_data(Path(sources.reference_dir))
    documents_dir = Path(sources.documents_dir)
    limit = max_document_bytes()
    with warehouse.connect() as con:
        ensure_schemas(con, "core", "internal")
        cached = _load_parse_cache(con)
        files, fresh = [], {}
        # One file's bytes in memory at a time; only the parsed result is kept.
        for path in iter_document_paths(documents_dir):
            source = read_document(path, documents_dir, limit)
            parsed = fresh.get(source.sha256)
            if parsed is None and source.sha256 in cached:
                parsed = from_json_dict(json.loads(cached[source.sha256]))
            if parsed is None:
                if source.data is None:
                    parsed = reject_oversize(source.size_bytes, limit)
                else:
                    parsed = parse_document(source.data, max_bytes=limit)
                fresh[source.sha256] = parsed
            files.append(
                DocumentFile(
                    document_id=source.document_id,
                    source_path=str(source.path),
                    sha256=source.sha256,
                    size_bytes=source.size_bytes,
                    modified_at=source.modified_at,
                    parsed=parsed,
                )
            )
        parsed_count = sum(1 for f in files if f.sha256 in fresh)
        context.log.info(f"{len(files)} documents: {parsed_count} parsed, {len(files) - parsed_count} from cache")

        rows = build_core_rows(files, reference, parsed_at=datetime.now(UTC).replace(tzinfo=None))
        gate = _gate(rows.tables)
        written = {}
        con.execute("BEGIN TRANSACTION")
        try:
            for table, frame in gate.frames.items():
                written[table] = replace_table(con, CONTRACTS[table], frame)
            _save_parse_cache(con, fresh, {f.sha256 for f in files})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    documents_metadata = {
        "documents_by_status": gate.frames["core.documents"]["status"].value_counts().to_dict(),
        "documents_parsed": parsed_count,
        "documents_from_cache": len(files) - parsed_count,
    }
    for table, count in written.items():
        extra = documents_metadata if table == "core.documents" else {}
        yield dg.MaterializeResult(
            asset_key=asset_key(CONTRACTS[table]), metadata={"dagster/row_count": count, **extra}
        )


def _gate(tables: dict[str, list[dict]]) -> GateResult:
    result = GateResult()
    for table in GATE_ORDER:
        contract = CONTRACTS[table]
        frame = frame_for(contract, tables[table.split(".")[1]])
        if table == "core.documents":
            frame = _absorb_gate_problems(frame, result.problems_by_document)
        gate_frame(contract, frame, result)
    result.frames["core.rejected_rows"] = frame_for(CONTRACTS["core.rejected_rows"], result.rejected)
    return result


def _absorb_gate_problems(frame, problems_by_document: dict[str, list[str]]):
    """Rows dropped by the gate make their document partial, with the reason in its problems."""
    for index, document_id in frame["document_id"].items():
        extra = problems_by_document.get(document_id)
        if not extra:
            continue
        problems = [*frame.at[index, "problems_list"], *extra]
        frame.at[index, "problems_list"] = problems
        frame.at[index, "problems"] = "; ".join(problems)
        frame.at[index, "problem_count"] = len(problems)
        if frame.at[index, "status"] == PARSED:
            frame.at[index, "status"] = PARTIAL
    return frame


def _load_parse_cache(con) -> dict[str, str]:
    """sha256 -> cached parse (JSON, decoded only when a file with that hash is present)."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS internal.parse_cache (sha256 VARCHAR PRIMARY KEY, parser_version VARCHAR, payload VARCHAR)"
    )
    return dict(
        con.execute(
            "SELECT sha256, payload FROM internal.parse_cache WHERE parser_version = ?", [PARSER_VERSION]
        ).fetchall()
    )


def _save_parse_cache(con, fresh: dict, current_hashes: set[str]) -> None:
    """Keep exactly one cached parse per current file content."""
    payloads = pd.DataFrame(
        {
            "sha256": list(fresh),
            "parser_version": [PARSER_VERSION] * len(fresh),
            "payload": [json.dumps(to_json_dict(doc)) for doc in fresh.values()],
        },
        dtype=object,
    )
    current = pd.DataFrame({"sha256": sorted(current_hashes)}, dtype=object)
    con.register("_fresh_payloads", payloads)
    con.register("_current_hashes", current)
    try:
        con.execute(
            "DELETE FROM internal.parse_cache WHERE parser_version <> ? "
            "OR sha256 NOT IN (SELECT sha256 FROM _current_hashes) "
            "OR sha256 IN (SELECT sha256 FROM _fresh_payloads)",
            [PARSER_VERSION],
        )
        con.execute("INSERT INTO internal.parse_cache SELECT sha256, parser_version, payload FROM _fresh_payloads")
    finally:
        con.unregister("_fresh_payloads")
        con.unregister("_current_hashes")


CORE_CHECKS = [contract_checks(CORE_CONTRACTS, name="core_table_checks")]
