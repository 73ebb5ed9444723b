"""Documents folder → the ``core`` tables, in one transaction.

The steps, as the README describes them:
1. read the folder: every entry, one file's bytes at a time (skipped and unreadable
   entries are recorded, never dropped);
2. parse what the parse cache does not already hold for that content;
3. apply the corpus rules (``core.corpus.build_core_rows``);
4. write every core table and gate it against its contract (``reject_rows.gate_table``),
   referenced tables first; rejected rows go to ``core.rejected_rows`` and make their
   document partial (``core.corpus.absorb_rejections``);
5. log which tables changed, and how many rows left with documents removed on purpose.
An exception inside the transaction is an infrastructure failure: everything rolls back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.contracts.table_contract import TableContract
from pipeline.core.corpus import DocumentFile, absorb_rejections, build_core_rows
from pipeline.core.document_parser import ParsedDocument, parser_fingerprint, reject_oversize
from pipeline.core.domains import LOADED_DOCUMENT_STATUSES, PARSED, PARTIAL, REJECTED, SKIPPED
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import ReferenceData
from pipeline.documents.folder import DocumentSource, iter_documents
from pipeline.documents.formats import formats_fingerprint, parse_any_document
from pipeline.documents.modifier_descriptions import describe_modifiers, official_modifier_descriptions
from pipeline.documents.parse_cache import ParseCache, cache_key
from pipeline.failures import infrastructure_failure
from pipeline.settings import ALLOW_SHRINK_HINT
from pipeline.validation.reject_rows import gate_table
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import ensure_schemas, frame_for, replace_table, table_exists, transaction

CONTRACTS = {c.table: c for c in CORE_CONTRACTS}
DOCUMENTS = "core.documents"
REJECTED_ROWS = "core.rejected_rows"
PREVIOUS_DOCUMENTS = "previous_documents"  # temporary: the rows before this run, for parsed_at


class EmptySourceFolder(RuntimeError):
    """The folder has nothing in it while the warehouse holds its data: most likely a missing mount."""


@dataclass
class DocumentsLoad:
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    parsed: int = 0
    from_cache: int = 0
    attention: list[tuple[str, str, str]] = field(default_factory=list)  # (document_id, status, problems)
    removed: list[str] = field(default_factory=list)
    changed_tables: list[str] = field(default_factory=list)


def load_documents(
    con,
    directory: Path,
    reference: ReferenceData,
    max_bytes: int,
    warehouse_path: Path | None = None,
    *,
    allow_shrink: bool = False,
) -> DocumentsLoad:
    known = KnownNames.from_reference(reference)
    ensure_schemas(con, "core", "internal")
    cache = ParseCache(con, cache_key(parser_fingerprint() + formats_fingerprint(), known.digest, max_bytes))
    previous = _previous_documents(con)
    previous_ids = set(previous)
    # Taken before anything is read: the sensor re-hashes files whose change time is at or after it, so an
    # edit made while this run reads (even one that keeps size and modification time) is never missed.
    read_started_at = datetime.now(UTC).replace(tzinfo=None)
    files = [
        _parsed_file(source, cache, known, max_bytes, previous.get(source.document_id), con)
        for source in iter_documents(directory, max_bytes)
    ]
    removed = sorted(previous_ids - {f.document_id for f in files})
    if not allow_shrink:
        _refuse_empty_folder(directory, files, previous)
    rows = build_core_rows(files, reference, parsed_at=read_started_at)
    describe_modifiers(rows.tables["modifiers"], official_modifier_descriptions(con))
    load = DocumentsLoad(parsed=len(cache.fresh), from_cache=sum(1 for f in files if f.sha256) - len(cache.fresh))
    load.removed = removed

    try:
        with transaction(con):
            load.changed_tables = _write_and_gate(con, rows.tables, removed)
            cache.save(con, {f.sha256 for f in files if f.sha256})
    except Exception as exc:
        what = f"loading the documents folder {directory} into the warehouse (rolled back; nothing was deleted)"
        raise infrastructure_failure(what, exc, path=warehouse_path) from exc
    _summarize(con, load)
    return load


@dataclass(frozen=True)
class PreviousVersion:
    """A document as the warehouse holds it from the last run."""

    sha256: str | None
    size_bytes: int
    modified_at: datetime
    status: str


def _parsed_file(
    source: DocumentSource,
    cache: ParseCache,
    known: KnownNames,
    max_bytes: int,
    previous: PreviousVersion | None = None,
    con=None,
) -> DocumentFile:
    if source.in_motion is not None:
        kept = _keep_previous_version(source, previous, cache, max_bytes, con)
        if kept is not None:
            return kept
    parsed = _parse(source, cache, known, max_bytes)
    return DocumentFile(
        document_id=source.document_id,
        source_path=str(source.path),
        sha256=source.sha256,
        size_bytes=source.size_bytes,
        modified_at=source.modified_at,
        parsed=parsed,
    )


def _keep_previous_version(
    source: DocumentSource, previous: PreviousVersion | None, cache: ParseCache, max_bytes: int, con
) -> DocumentFile | None:
    """A document that changed while it was read keeps the facts of the version the warehouse holds, with
    that version's hash, size and time, and is marked partial; None when there is no such version to keep."""
    if previous is None or previous.sha256 is None or previous.status == SKIPPED:
        return None
    parsed = cache.get(previous.sha256) or (cache.get_any_version(con, previous.sha256) if con else None)
    if parsed is None and previous.size_bytes > max_bytes:
        parsed = reject_oversize(previous.size_bytes, max_bytes)
    if parsed is None:
        return None
    problem = (
        f"{source.in_motion}; the previous version (sha256 {previous.sha256[:12]}…) is kept until the file is still"
    )
    status = PARTIAL if parsed.status == PARSED else parsed.status
    return DocumentFile(
        document_id=source.document_id,
        source_path=str(source.path),
        sha256=previous.sha256,
        size_bytes=previous.size_bytes,
        modified_at=previous.modified_at,
        parsed=replace(parsed, status=status, problems=[*parsed.problems, problem]),
    )


def _parse(source: DocumentSource, cache: ParseCache, known: KnownNames, max_bytes: int) -> ParsedDocument:
    if source.in_motion is not None:  # a new document, or one whose previous facts are gone: not read this run
        return ParsedDocument(status=SKIPPED, problems=[f"{source.in_motion}; it is read once it is still"])
    if source.skipped_reason is not None:
        return ParsedDocument(status=SKIPPED, problems=[source.skipped_reason])
    if source.read_error is not None:
        return ParsedDocument(status=REJECTED, problems=[source.read_error])
    if source.data is None:  # over the size limit: never cached, so raising the limit takes effect
        return reject_oversize(source.size_bytes, max_bytes)
    parsed = cache.get(source.sha256)
    if parsed is None:
        parsed = parse_any_document(source.data, max_bytes=max_bytes, known_names=known)
        cache.put(source.sha256, parsed)
    return parsed


def _previous_documents(con) -> dict[str, PreviousVersion]:
    if not table_exists(con, DOCUMENTS):
        return {}
    rows = con.execute(
        f"SELECT document_id, sha256, file_size_bytes, file_modified_at, status FROM {DOCUMENTS}"
    ).fetchall()
    return {document_id: PreviousVersion(*rest) for document_id, *rest in rows}


def _refuse_empty_folder(directory: Path, files: list[DocumentFile], previous: dict[str, PreviousVersion]) -> None:
    """A folder with no document that loads (empty, or only placeholders, skipped and rejected entries)
    while the warehouse holds loaded documents from it looks like a mount that did not mount: refuse it."""
    loaded_before = sum(1 for p in previous.values() if p.status in LOADED_DOCUMENT_STATUSES)
    if not previous or any(f.parsed.contributes for f in files):
        return
    if files and not loaded_before:
        return  # nothing loaded before either: there is nothing to lose
    if not files:
        what = "is empty"
    else:
        statuses = Counter(f.parsed.status for f in files)
        listed = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        what = f"holds no document that loads (only {listed}: {_examples(files)})"
    raise EmptySourceFolder(
        f"documents folder {directory} {what} but the warehouse holds {loaded_before or len(previous)} documents "
        f"from it; is a mount missing? Nothing was changed; the last published data is still served. "
        f"Set {ALLOW_SHRINK_HINT} to remove them on purpose."
    )


def _examples(files: list[DocumentFile], limit: int = 3) -> str:
    shown = [f"{f.document_id} ({f.parsed.problems[0] if f.parsed.problems else f.parsed.status})" for f in files]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return "; ".join(shown[:limit]) + more


def gate_order(contracts: list[TableContract]) -> list[TableContract]:
    """Referenced tables before the tables that reference them (from the contracts' foreign keys)."""
    by_table = {c.table: c for c in contracts}
    ordered: list[TableContract] = []
    visiting: set[str] = set()

    def visit(contract: TableContract) -> None:
        if contract in ordered or contract.table in visiting:
            return
        visiting.add(contract.table)
        for fk in contract.foreign_keys:
            if fk.ref_table in by_table and fk.ref_table != contract.table:
                visit(by_table[fk.ref_table])
        ordered.append(contract)

    for contract in contracts:
        visit(contract)
    return ordered


def _write_and_gate(con, tables: dict[str, list[dict]], removed: list[str]) -> list[str]:
    before = {table: _fingerprint(con, table) for table in CONTRACTS}
    if before[DOCUMENTS] is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {PREVIOUS_DOCUMENTS} AS SELECT * FROM {DOCUMENTS}")
    leaving = _rows_of_removed_documents(con, removed, before)
    replace_table(con, CONTRACTS[REJECTED_ROWS], frame_for(CONTRACTS[REJECTED_ROWS], []))
    problems: dict[str, list[str]] = {}
    gated = [c for c in gate_order(list(CONTRACTS.values())) if c.table != REJECTED_ROWS]
    for contract in gated:
        replace_table(con, contract, frame_for(contract, tables[contract.table_name]))
        if contract.table == DOCUMENTS:
            continue  # gated last, once the rejections of every other table are absorbed
        for rejection in gate_table(con, contract, source_column=_source_column(contract), reject_table=REJECTED_ROWS):
            if rejection.source is not None:
                problems.setdefault(rejection.source, []).append(
                    f"a {contract.table} row was not loaded: {rejection.reasons}"
                )
    documents = absorb_rejections(tables["documents"], problems)
    replace_table(con, CONTRACTS[DOCUMENTS], frame_for(CONTRACTS[DOCUMENTS], documents))
    if before[DOCUMENTS] is not None:
        _keep_parsed_at_of_unchanged_rows(con)
    gate_table(con, CONTRACTS[DOCUMENTS], source_column="document_id", reject_table=REJECTED_ROWS)
    _copy_legacy_reject_columns(con)
    return _log_changes(con, before, leaving, removed)


def _keep_parsed_at_of_unchanged_rows(con) -> None:
    """A document row identical to the previous run's but for ``parsed_at`` keeps that run's ``parsed_at``: the
    row records when the run that read this version of the document started, so a run that changes nothing
    leaves core.documents (its change-log version, and the serving snapshot) as it was.  The sensor then
    compares change times with an earlier read time: a file is re-hashed more readily, never less."""
    same = " AND ".join(
        f"d.{column} IS NOT DISTINCT FROM p.{column}"
        for column in CONTRACTS[DOCUMENTS].column_names
        if column != "parsed_at"
    )
    con.execute(f"UPDATE {DOCUMENTS} AS d SET parsed_at = p.parsed_at FROM {PREVIOUS_DOCUMENTS} AS p WHERE {same}")
    con.execute(f"DROP TABLE {PREVIOUS_DOCUMENTS}")


def _source_column(contract: TableContract) -> str | None:
    return "document_id" if "document_id" in contract.column_names else None


def _copy_legacy_reject_columns(con) -> None:
    con.execute(
        f"UPDATE {REJECTED_ROWS} SET document_id = source_file, row_json = row_data, reason = reasons "
        "WHERE row_json IS NULL"
    )


def _fingerprint(con, table: str) -> tuple | None:
    if not table_exists(con, table):
        return None
    return con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {table} t").fetchone()


def _rows_of_removed_documents(con, removed: list[str], before: dict) -> dict[str, int]:
    """Rows each table holds for documents that left the folder: the shrink their removal explains."""
    if not removed:
        return {}
    counts = {}
    for table, contract in CONTRACTS.items():
        if before[table] is not None and "document_id" in contract.column_names:
            counts[table] = con.execute(
                f"SELECT count(*) FROM {table} WHERE list_contains(?, document_id)", [removed]
            ).fetchone()[0]
    return counts


def _log_changes(con, before: dict, leaving: dict[str, int], removed: list[str]) -> list[str]:
    changed = []
    for table in CONTRACTS:
        if before[table] is not None and _fingerprint(con, table) == before[table]:
            continue
        removed_rows = leaving.get(table, 0)
        record_change(con, table, removed_rows=removed_rows, removed_sources=removed if removed_rows else ())
        changed.append(table)
    return changed


def _summarize(con, load: DocumentsLoad) -> None:
    for contract in CORE_CONTRACTS:
        load.counts[contract.table] = con.execute(f"SELECT count(*) FROM {contract.table}").fetchone()[0]
    load.statuses = dict(con.execute(f"SELECT status, count(*) FROM {DOCUMENTS} GROUP BY 1 ORDER BY 1").fetchall())
    load.attention = con.execute(
        f"SELECT document_id, status, problems FROM {DOCUMENTS} WHERE status <> 'parsed' ORDER BY status, document_id"
    ).fetchall()
