"""Documents folder → the ``core`` tables, in one transaction, in batches: memory does not follow the corpus.

The steps, as the README describes them:
1. read the folder: every entry, one file's bytes at a time (skipped and unreadable
   entries are recorded, never dropped), and parse what the parse cache does not already
   hold for that content.  Each parse goes to a scratch file (the spool, beside the
   warehouse) as soon as it is made; memory keeps a few numbers per document;
2. apply the corpus rules (``core.corpus.build_core_rows``) a batch of documents at a
   time.  The only rule that spans documents, one document per code, needs every
   document of a code in the same batch, so batches are cut between codes, in code order
   (the order in which the dimensions meet new modifiers, payers and care sites);
3. append each batch's rows to the core tables, then gate every table against its
   contract (``reject_rows.gate_table``), referenced tables first; rejected rows go to
   ``core.rejected_rows`` and make their document partial (``core.corpus.absorb_rejections``);
4. log which tables changed, and how many rows left with documents removed on purpose.
An exception inside the transaction is an infrastructure failure: everything rolls back.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.contracts.table_contract import TableContract
from pipeline.core.corpus import DocumentFile, absorb_rejections
from pipeline.core.document_parser import ParsedDocument, parser_fingerprint, reject_oversize
from pipeline.core.domains import LOADED_DOCUMENT_STATUSES, PARSED, PARTIAL, REJECTED, SKIPPED
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import ReferenceData
from pipeline.documents import parse_json
from pipeline.documents.folder import DocumentSource, iter_documents
from pipeline.documents.formats import formats_fingerprint
from pipeline.documents.modifier_descriptions import official_modifier_descriptions
from pipeline.documents.parse_cache import ParseCache, Spool, cache_key
from pipeline.documents.workers import (
    CONTRACTS,
    DOCUMENTS,
    PARSE_CHUNK,
    PER_DOCUMENT,
    REJECTED_ROWS,
    DocumentWorkers,
    WiredRows,
    batch_tables,
    document_file,
    in_order,
    loadable_codes,
    looks_large,
    parse_for_spool,
    worker_count,
)
from pipeline.failures import infrastructure_failure
from pipeline.settings import ALLOW_SHRINK_HINT
from pipeline.validation.reject_rows import gate_table
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import (
    add_primary_key,
    create_table,
    ensure_schemas,
    frame_for,
    insert_frame,
    replace_table,
    table_exists,
    transaction,
)

# The rows before this run, kept (renamed, not copied) until parsed_at is carried over; gone at commit.
PREVIOUS_DOCUMENTS = "core.previous_documents"
STAGING_SUFFIX = "__loading"  # core.<table>__loading: the table being built, renamed into place at the swap
BATCH_DOCUMENTS = 2_000  # documents turned into rows and written at a time
COMMIT_DOCUMENTS = 10_000  # documents whose rows are committed together while the new tables are built
LOAD_CHECKPOINT_THRESHOLD = "64MiB"  # WAL size at which a commit of the load checkpoints (DuckDB's default: 16 MiB)
ATTENTION_ROWS = 200  # documents needing attention listed on the load (all of them are in core.documents)
EXAMPLES = 3  # documents named when an empty-looking folder is refused

# Sources held in memory while the parses before them are still with the workers, by count and by bytes (a
# folder of big PDFs must not hold thousands of them); a chunk goes out early once it holds PARSE_CHUNK_BYTES.
QUEUED_SOURCES = 1_024
QUEUED_BYTES = 128 << 20
PARSE_CHUNK_BYTES = 16 << 20


class EmptySourceFolder(RuntimeError):
    """The folder has nothing in it while the warehouse holds its data: most likely a missing mount."""


@dataclass
class DocumentsLoad:
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    parsed: int = 0
    from_cache: int = 0
    attention: list[tuple[str, str, str]] = field(default_factory=list)  # (document_id, status, problems), first few
    attention_total: int = 0  # documents whose status is not parsed
    removed: list[str] = field(default_factory=list)
    changed_tables: list[str] = field(default_factory=list)


@dataclass
class FolderRead:
    """What reading the folder leaves in memory: per document its code (when it may load) and where its record
    lies in the spool; the rest are counts."""

    # (every code the document may load, or None; where its record, then its parse, lie in the spool)
    entries: list[tuple[tuple[str, ...] | None, int, int, int, int]] = field(default_factory=list)
    document_ids: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    hashed: int = 0  # documents with a content hash (read, or kept from the previous version)
    contributes: bool = False  # some document may load


def load_documents(
    con,
    directory: Path,
    reference: ReferenceData,
    max_bytes: int,
    warehouse_path: Path | None = None,
    *,
    allow_shrink: bool = False,
    batch_documents: int = BATCH_DOCUMENTS,
    workers: int = 0,
    workers_start_after: int | None = None,
) -> DocumentsLoad:
    """Load the folder into the core tables.  ``workers``: processes that parse and build rows (0: one per CPU, 1:
    none, all in this process); they start once ``workers_start_after`` documents are to be parsed (default
    ``workers.START_AFTER``; and, for building the rows alone, ``ROWS_START_AFTER``)."""
    known = KnownNames.from_reference(reference)
    ensure_schemas(con, "core", "internal")

    def failure(exc: Exception) -> Exception:
        _drop_staging(con)
        what = f"loading the documents folder {directory} into the warehouse (rolled back; nothing was deleted)"
        return infrastructure_failure(what, exc, path=warehouse_path)

    # Taken before anything is read: the sensor re-hashes files whose change time is at or after it, so an
    # edit made while this run reads (even one that keeps size and modification time) is never missed.
    read_started_at = datetime.now(UTC).replace(tzinfo=None)
    descriptions = official_modifier_descriptions(con)
    pool = DocumentWorkers(
        worker_count(workers),
        known=known,
        max_bytes=max_bytes,
        reference=reference,
        parsed_at=read_started_at,
        modifier_descriptions=descriptions,
        **({} if workers_start_after is None else {"start_after": workers_start_after, "rows_start_after": 0}),
    )
    with _spool(warehouse_path) as spool, pool, _fewer_checkpoints(con):
        if looks_large(directory):
            pool.start_early()
        cache = ParseCache(con, cache_key(parser_fingerprint() + formats_fingerprint(), known.digest, max_bytes), spool)
        folder = read_folder(con, directory, cache, known, max_bytes, spool, failure=failure, workers=pool)
        removed = sorted(_previous_ids(con) - folder.document_ids)
        if not allow_shrink:
            _refuse_empty_folder(con, directory, folder, spool)
        load = DocumentsLoad(parsed=len(cache.fresh), from_cache=folder.hashed - len(cache.fresh))
        load.removed = removed

        def save_cache() -> None:  # once every document row is in: their hashes are the current contents
            cache.save(con, current_hashes_sql=f"SELECT sha256 FROM {DOCUMENTS} WHERE sha256 IS NOT NULL")

        try:
            # The new tables are built beside the old ones, a committed batch at a time (DuckDB keeps what one
            # transaction writes in memory until it commits); the run's transaction then swaps them in.
            _drop_staging(con)
            batches = row_batches(folder, spool, reference, read_started_at, batch_documents, descriptions, pool)
            write_staging(con, batches, commit=True)
            with transaction(con):
                load.changed_tables = _swap_and_gate(con, removed, rows_written=save_cache)
        except Exception as exc:
            raise failure(exc) from exc
    _summarize(con, load)
    return load


def _spool(warehouse_path: Path | None) -> Spool:
    """The load's spool: beside the warehouse, named so that the document workers can read it.  A load that was
    killed leaves its spool behind; the next load of the same warehouse (the only one: it holds the warehouse's
    lock) removes it."""
    if warehouse_path is None:
        return Spool(named=True)
    prefix = f".{warehouse_path.name}.spool-"
    for stale in warehouse_path.parent.glob(f"{prefix}*"):
        with suppress(OSError):
            stale.unlink()
    return Spool(warehouse_path.parent, named=True, name_prefix=prefix)


@contextmanager
def _fewer_checkpoints(con) -> Iterator[None]:
    """The load commits every ``COMMIT_DOCUMENTS`` documents; at DuckDB's default 16 MB of WAL nearly every commit
    checkpointed (9 of the 42 s of a 100,000-document load, before the parse cache was stored zstd).  A larger
    threshold for the load alone: at 64 MB the 100,000-document build took 2-3 s less with the same peak memory;
    at 128 MB a warm run's peak (with the workers) passed 1 GB.  The marts, which commit one by one to bound
    memory, keep the default."""
    (previous,) = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    con.execute(f"SET checkpoint_threshold = '{LOAD_CHECKPOINT_THRESHOLD}'")
    try:
        yield
    finally:
        with suppress(Exception):  # a connection the load's failure left unusable: the error raised matters
            con.execute(f"SET checkpoint_threshold = '{previous}'")


@dataclass(frozen=True)
class PreviousVersion:
    """A document as the warehouse holds it from the last run."""

    sha256: str | None
    size_bytes: int
    modified_at: datetime
    status: str


def read_folder(
    con,
    directory: Path,
    cache: ParseCache,
    known: KnownNames,
    max_bytes: int,
    spool: Spool,
    *,
    failure: Callable[[Exception], Exception] | None = None,
    workers: DocumentWorkers | None = None,
) -> FolderRead:
    """Read and parse every entry of the folder into the spool, in folder order; fresh parses reach the cache
    table a batch at a time.  Documents to parse go to ``workers`` in chunks once there are enough of them; every
    other entry (cached, skipped, unreadable, in motion) is settled here, after the chunks before it."""
    folder = FolderRead()
    # In folder order: a source to settle here, or [sources, their parse's future] (None while the chunk fills).
    queue: deque[DocumentSource | list] = deque()
    open_chunk: list | None = None
    submitted = 0  # chunks with the workers, not yet settled
    dispatched: set[str] = set()  # contents sent to the workers: a second copy waits for the cache instead
    to_parse = 0
    held = 0  # bytes of the sources in the queue
    chunk_bytes = 0  # of them, in the open chunk

    def flush() -> None:
        try:
            with transaction(con):
                cache.flush(con)
        except Exception as exc:
            if failure is None:
                raise
            raise failure(exc) from exc

    def settled(document: _SpooledFile) -> None:
        if cache.pending >= COMMIT_DOCUMENTS:
            flush()
        folder.document_ids.add(document.document_id)
        folder.statuses[document.status] += 1
        folder.hashed += document.sha256 is not None
        folder.contributes = folder.contributes or document.codes is not None
        record = [
            document.document_id,
            document.source_path,
            document.sha256,
            document.size_bytes,
            document.modified_at.isoformat(),
            *document.parse,
        ]
        folder.entries.append((document.codes, *spool.append(parse_json.dumps(record)), *document.parse))

    def submit_open_chunk() -> None:
        nonlocal open_chunk, submitted, chunk_bytes
        if open_chunk is not None:
            open_chunk[1] = workers.parse([source.data for source in open_chunk[0]])
            open_chunk, submitted, chunk_bytes = None, submitted + 1, 0

    def settle(everything: bool = False) -> None:
        """Settle from the front of the queue: sources at once, a chunk when it is done, or must be waited for
        (too many chunks out, too many sources held, or the end of the folder)."""
        nonlocal submitted, held
        while queue:
            front = queue[0]
            if isinstance(front, DocumentSource):
                queue.popleft()
                held -= _size(front)
                settled(_parsed_file(front, cache, known, max_bytes, con))
                continue
            sources, future = front
            if future is None:
                return  # still filling
            crowded = submitted > workers.in_flight or len(queue) > QUEUED_SOURCES or held > QUEUED_BYTES
            if not (everything or crowded or future.done()):
                return
            queue.popleft()
            submitted -= 1
            held -= sum(map(_size, sources))
            try:
                parses = future.result()
            except Exception as exc:  # a worker died (killed, out of memory) or a bug raised in it
                if failure is None:
                    raise
                raise failure(exc) from exc
            for source, (status, codes, payload) in zip(sources, parses, strict=True):
                settled(_parsed_elsewhere(source, status, codes, payload, cache))

    for source in iter_documents(directory, max_bytes):
        fresh = _to_parse(source, cache, dispatched)
        to_parse += fresh
        held += _size(source)
        if fresh and workers is not None and workers.wanted(to_parse):
            dispatched.add(source.sha256)
            if open_chunk is None:
                open_chunk = [[], None]
                queue.append(open_chunk)
            open_chunk[0].append(source)
            chunk_bytes += _size(source)
            if len(open_chunk[0]) >= PARSE_CHUNK or chunk_bytes >= PARSE_CHUNK_BYTES:
                submit_open_chunk()
        else:
            submit_open_chunk()  # this source comes after that chunk
            queue.append(source)
        settle()
    submit_open_chunk()
    settle(everything=True)
    flush()
    return folder


def _size(source: DocumentSource) -> int:
    return len(source.data) if source.data is not None else 0


def _to_parse(source: DocumentSource, cache: ParseCache, dispatched: set[str]) -> bool:
    """Whether the source is a document to parse now: readable, still, not too big, its content not yet parsed."""
    return (
        source.data is not None
        and source.in_motion is None
        and source.skipped_reason is None
        and source.read_error is None
        and cache.payload(source.sha256) is None
        and source.sha256 not in dispatched
    )


def _parsed_elsewhere(
    source: DocumentSource, status: str, codes: tuple[str, ...] | None, payload: bytes, cache: ParseCache
) -> _SpooledFile:
    where = cache.put_encoded(source.sha256, payload)
    return _SpooledFile(
        source.document_id, str(source.path), source.sha256, source.size_bytes, source.modified_at,
        status, codes, where,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _SpooledFile:
    """A ``DocumentFile`` whose parse waits in the spool; ``codes`` (all of them) only when the document may load."""

    document_id: str
    source_path: str
    sha256: str | None
    size_bytes: int
    modified_at: datetime
    status: str
    codes: tuple[str, ...] | None
    parse: tuple[int, int]


def _parsed_file(
    source: DocumentSource, cache: ParseCache, known: KnownNames, max_bytes: int, con=None
) -> _SpooledFile:
    if source.in_motion is not None:
        kept = _keep_previous_version(source, _previous_version(con, source.document_id), cache, max_bytes, con)
        if kept is not None:
            return _spooled(kept, cache.put(kept.sha256, kept.parsed, cacheable=False))
    return _parse(source, cache, known, max_bytes)


def _spooled(f: DocumentFile, parse: tuple[int, int]) -> _SpooledFile:
    return _SpooledFile(
        f.document_id, f.source_path, f.sha256, f.size_bytes, f.modified_at, f.parsed.status,
        loadable_codes(f.parsed), parse,
    )  # fmt: skip


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


def _parse(source: DocumentSource, cache: ParseCache, known: KnownNames, max_bytes: int) -> _SpooledFile:
    def spooled(parsed: ParsedDocument, where: tuple[int, int]) -> _SpooledFile:
        return _SpooledFile(
            source.document_id, str(source.path), source.sha256, source.size_bytes, source.modified_at,
            parsed.status, loadable_codes(parsed), where,
        )  # fmt: skip

    def uncached(parsed: ParsedDocument) -> _SpooledFile:
        return spooled(parsed, cache.put(source.sha256 or "", parsed, cacheable=False))

    if source.in_motion is not None:  # a new document, or one whose previous facts are gone: not read this run
        return uncached(ParsedDocument(status=SKIPPED, problems=[f"{source.in_motion}; it is read once it is still"]))
    if source.skipped_reason is not None:
        return uncached(ParsedDocument(status=SKIPPED, problems=[source.skipped_reason]))
    if source.read_error is not None:
        return uncached(ParsedDocument(status=REJECTED, problems=[source.read_error]))
    if source.data is None:  # over the size limit: never cached, so raising the limit takes effect
        return uncached(reject_oversize(source.size_bytes, max_bytes))
    where = cache.payload(source.sha256)
    if where is None:
        parsed, _, _, payload = parse_for_spool(source.data, known, max_bytes)
        return spooled(parsed, cache.put_encoded(source.sha256, payload))
    known_status = cache.status_and_codes(source.sha256)
    if known_status is None:  # parsed earlier in this run (the same content twice)
        return spooled(cache.get(source.sha256), where)
    status, codes = known_status
    contributes = status != REJECTED and bool(codes)  # ParsedDocument.contributes, from the cached row
    return _SpooledFile(
        source.document_id, str(source.path), source.sha256, source.size_bytes, source.modified_at,
        status, codes if contributes else None, where,
    )  # fmt: skip


def _previous_version(con, document_id: str) -> PreviousVersion | None:
    if con is None or not table_exists(con, DOCUMENTS):
        return None
    row = con.execute(
        f"SELECT sha256, file_size_bytes, file_modified_at, status FROM {DOCUMENTS} WHERE document_id = ?",
        [document_id],
    ).fetchone()
    return PreviousVersion(*row) if row is not None else None


def _previous_ids(con) -> set[str]:
    if not table_exists(con, DOCUMENTS):
        return set()
    return {document_id for (document_id,) in con.execute(f"SELECT document_id FROM {DOCUMENTS}").fetchall()}


def spooled_record(spool: Spool, entry: tuple) -> tuple[bytes, bytes]:
    """A spooled document's record and its parse (a ``FolderRead`` entry), as the JSON they were spooled as."""
    _, offset, length, parse_offset, parse_length = entry
    return spool.read(offset, length), spool.read(parse_offset, parse_length)


def spooled_document(spool: Spool, entry: tuple) -> DocumentFile:
    return document_file(*spooled_record(spool, entry))


def row_batches(
    folder: FolderRead,
    spool: Spool,
    reference: ReferenceData,
    parsed_at: datetime,
    batch_documents: int,
    modifier_descriptions: dict | None = None,
    workers: DocumentWorkers | None = None,
) -> Iterator[dict[str, list[dict] | WiredRows]]:
    """The core rows (``batch_tables``), a batch of documents at a time: every document of one code in the same
    batch (the newest wins), batches in code order, then the documents that load nothing.  Built by ``workers``
    when the folder is big enough for them, in the same order."""
    descriptions = modifier_descriptions or {}
    if not folder.entries:  # still the dimensions and reference tables
        yield batch_tables([], reference, parsed_at, descriptions)
    batches = _code_batches(folder.entries, batch_documents)
    if workers is not None and workers.wanted(len(folder.entries), rows=True) and spool.path is not None:
        spool.flush()  # every record written through to the file the workers read
        where = ([entry[1:] for entry in batch] for batch in batches)
        for _, tables in in_order(where, partial(workers.batch, spool.path), window=2 * workers.processes):
            yield tables
        # Every batch is built: the processes go now, not when the load ends, so their memory (about 100 MB each)
        # is back before the tables are keyed and swapped, the load's own peak.
        workers.close()
        return
    for batch in batches:
        files = [spooled_document(spool, entry) for entry in batch]
        yield batch_tables(files, reference, parsed_at, descriptions)


def _code_batches(entries: list[tuple], size: int) -> Iterator[list]:
    """Batches of about ``size`` documents in which every document that shares a code with another (directly,
    or through a document with several codes) meets it: the newest per code can only be picked among all."""
    parent: dict[str, str] = {}

    def root(code: str) -> str:
        while parent.setdefault(code, code) != code:
            parent[code] = parent[parent[code]]
            code = parent[code]
        return code

    for codes, *_ in entries:
        for code in codes or ():
            parent[root(code)] = root(codes[0])
    by_group = sorted(((root(e[0][0]), e) for e in entries if e[0] is not None), key=lambda pair: pair[0])
    batch: list = []
    group = None
    for entry_group, entry in by_group:
        if len(batch) >= size and entry_group != group:
            yield batch
            batch = []
        batch.append(entry)
        group = entry_group
    if batch:
        yield batch
    others = [entry for entry in entries if entry[0] is None]
    for start in range(0, len(others), size):
        yield others[start : start + size]


def _refuse_empty_folder(con, directory: Path, folder: FolderRead, spool: Spool) -> None:
    """A folder with no document that loads (empty, or only placeholders, skipped and rejected entries)
    while the warehouse holds loaded documents from it looks like a mount that did not mount: refuse it."""
    if folder.contributes or not table_exists(con, DOCUMENTS):
        return
    previous, loaded_before = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE list_contains(?, status)) FROM {DOCUMENTS}",
        [list(LOADED_DOCUMENT_STATUSES)],
    ).fetchone()
    if not previous:
        return
    if folder.entries and not loaded_before:
        return  # nothing loaded before either: there is nothing to lose
    if not folder.entries:
        what = "is empty"
    else:
        listed = ", ".join(f"{n} {status}" for status, n in sorted(folder.statuses.items()))
        what = f"holds no document that loads (only {listed}: {_examples(folder, spool)})"
    raise EmptySourceFolder(
        f"documents folder {directory} {what} but the warehouse holds {loaded_before or previous} documents "
        f"from it; is a mount missing? Nothing was changed; the last published data is still served. "
        f"Set {ALLOW_SHRINK_HINT} to remove them on purpose."
    )


def _examples(folder: FolderRead, spool: Spool, limit: int = EXAMPLES) -> str:
    shown = []
    for entry in folder.entries[:limit]:
        f = spooled_document(spool, entry)
        shown.append(f"{f.document_id} ({f.parsed.problems[0] if f.parsed.problems else f.parsed.status})")
    total = len(folder.entries)
    more = f" and {total - limit} more" if total > limit else ""
    return "; ".join(shown) + more


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


def _staging(table: str) -> str:
    return f"{table}{STAGING_SUFFIX}"


def _drop_staging(con) -> None:
    """Drop what a failed or killed load left beside the tables (never the tables themselves)."""
    with suppress(Exception):  # after a failure the database may refuse even this; the next load drops them
        for table in CONTRACTS:
            con.execute(f"DROP TABLE IF EXISTS {_staging(table)}")


def _write_and_gate(
    con,
    batches: Iterable[dict[str, list[dict]]],
    removed: list[str],
    rows_written: Callable[[], None] | None = None,
) -> list[str]:
    """Rebuild every core table from ``batches`` (rows by table name, as ``build_core_rows`` gives them), then
    gate each against its contract, all in the caller's transaction."""
    write_staging(con, batches, commit=False)
    return _swap_and_gate(con, removed, rows_written=rows_written)


def write_staging(con, batches: Iterable[dict[str, list[dict]]], *, commit: bool) -> None:
    """Build each core table beside the one it replaces (``core.<table>__loading``, from its contract): the
    per-document rows of each batch are appended as it comes (and committed, with ``commit``).  The other tables
    are written once every batch is in: the first batch's rows as they are, then each later batch's rows of keys
    not seen yet (the first row per key is kept, as one pass over the whole corpus keeps it)."""
    writable = [c for c in gate_order(list(CONTRACTS.values())) if c.table != REJECTED_ROWS]
    for contract in writable:
        # Committed batches: keyed once full (below).  In the caller's one transaction: keyed from the start, since
        # DuckDB's WAL replay of a key added in the transaction that then deletes rows (the gates do) keeps the
        # deleted keys in the index.
        create_table(con, contract, _staging(contract.table), primary_key=not commit)
    dimensions: dict[str, tuple[list[dict], set[tuple]]] = {}
    batches = iter(batches)
    while True:
        with transaction(con) if commit else nullcontext():
            written = 0  # documents in this transaction: a commit every COMMIT_DOCUMENTS (each one costs a sync)
            for tables in batches:
                for contract in writable:
                    rows = tables[contract.table_name]
                    if contract.table in PER_DOCUMENT:
                        if isinstance(rows, WiredRows):
                            insert_frame(con, contract, rows.frame, _staging(contract.table), wired=True)
                        else:
                            insert_frame(con, contract, frame_for(contract, rows), _staging(contract.table))
                    else:
                        _merge_dimension(dimensions, contract, rows)
                written += len(tables[CONTRACTS[DOCUMENTS].table_name])
                if written >= COMMIT_DOCUMENTS:
                    break
            else:
                break
    for table, (rows, _) in dimensions.items():
        insert_frame(con, CONTRACTS[table], frame_for(CONTRACTS[table], rows), _staging(table))
    if commit:
        with transaction(con):  # its own commit, before the swap's transaction deletes rows from these tables
            for contract in writable:
                add_primary_key(con, contract, _staging(contract.table))


def _merge_dimension(dimensions: dict[str, tuple[list[dict], set[tuple]]], contract: TableContract, rows) -> None:
    key = contract.primary_key
    if contract.table not in dimensions:
        dimensions[contract.table] = (list(rows), {tuple(row[column] for column in key) for row in rows})
        return
    kept, seen = dimensions[contract.table]
    for row in rows:
        if (values := tuple(row[column] for column in key)) not in seen:
            seen.add(values)
            kept.append(row)


def _swap_and_gate(con, removed: list[str], rows_written: Callable[[], None] | None = None) -> list[str]:
    """In the caller's transaction: put the staged tables in place of the old ones (renamed, nothing copied),
    then gate each against its contract; ``rows_written`` runs once they are in place, before any is gated."""
    before = {table: _fingerprint(con, table) for table in CONTRACTS}
    leaving = _rows_of_removed_documents(con, removed, before)
    for table in CONTRACTS:
        if table == REJECTED_ROWS or before[table] is None:
            continue
        if table == DOCUMENTS:  # kept until parsed_at is carried over
            con.execute(f"ALTER TABLE {DOCUMENTS} RENAME TO {PREVIOUS_DOCUMENTS.split('.')[1]}")
        else:
            con.execute(f"DROP TABLE {table}")
    for table in CONTRACTS:
        if table != REJECTED_ROWS:
            con.execute(f"ALTER TABLE {_staging(table)} RENAME TO {table.split('.')[1]}")
    replace_table(con, CONTRACTS[REJECTED_ROWS], frame_for(CONTRACTS[REJECTED_ROWS], []))
    if rows_written is not None:
        rows_written()
    problems: dict[str, list[str]] = {}
    for contract in gate_order(list(CONTRACTS.values())):
        if contract.table in (DOCUMENTS, REJECTED_ROWS):
            continue  # documents: gated last, once the rejections of every other table are absorbed
        for rejection in gate_table(con, contract, source_column=_source_column(contract), reject_table=REJECTED_ROWS):
            if rejection.source is not None:
                problems.setdefault(rejection.source, []).append(
                    f"a {contract.table} row was not loaded: {rejection.reasons}"
                )
    _absorb_rejections(con, problems)
    if before[DOCUMENTS] is not None:
        _keep_parsed_at_of_unchanged_rows(con)
    gate_table(con, CONTRACTS[DOCUMENTS], source_column="document_id", reject_table=REJECTED_ROWS)
    _copy_legacy_reject_columns(con)
    return _log_changes(con, before, leaving, removed)


def _absorb_rejections(con, problems: dict[str, list[str]]) -> None:
    """Documents whose rows the contracts kept out of other tables become partial (``absorb_rejections``):
    only those rows are read back and rewritten."""
    if not problems:
        return
    contract = CONTRACTS[DOCUMENTS]
    ids = sorted(problems)
    rows = con.execute(
        f"SELECT {', '.join(contract.column_names)} FROM {DOCUMENTS} WHERE list_contains(?, document_id)", [ids]
    ).fetchall()
    absorbed = absorb_rejections([dict(zip(contract.column_names, row, strict=True)) for row in rows], problems)
    con.execute(f"DELETE FROM {DOCUMENTS} WHERE list_contains(?, document_id)", [ids])
    insert_frame(con, contract, frame_for(contract, absorbed))


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
    load.attention_total = sum(n for status, n in load.statuses.items() if status != PARSED)
    load.attention = con.execute(
        f"SELECT document_id, status, problems FROM {DOCUMENTS} WHERE status <> 'parsed' "
        f"ORDER BY status, document_id LIMIT {ATTENTION_ROWS}"
    ).fetchall()
