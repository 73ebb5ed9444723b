"""The documents load on every core: worker processes parse documents and turn batches of parsed documents into
core rows, while the run's own process lists and reads the folder, keeps the spool and writes DuckDB.

Parsing is pure Python, so one process uses one core whatever the machine has; at 100,000 documents the parse and
the corpus rules are most of the load.  Work goes out in chunks and comes back in the order it was sent, with a few
chunks outstanding per worker, so memory holds those chunks, never the corpus.

- Workers start as fresh interpreters (multiprocessing's ``spawn``), never forked from the run's own process,
  whose DuckDB and Dagster threads a fork would copy in the middle of their work; and nothing of them outlives
  the load (a ``forkserver`` would stay, holding its imports, until the process ends).
- They start only once a load has more than a few hundred documents to parse: a small folder, and every test that
  does not ask for them, parses in the run's process as before, with no process start to pay.  A folder whose
  listing already says it holds thousands of files starts them before it is read (``start_early``).
- A worker that raises or dies fails the load like any other error in it (an infrastructure failure: the load
  rolls back, nothing is deleted or published).
- Both paths call the same functions (``parse_for_spool``, ``batch_tables``), so they give the same rows; a test
  loads one folder both ways and compares every table.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.core.corpus import DocumentFile, build_core_rows
from pipeline.core.document_parser import ParsedDocument
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import ReferenceData
from pipeline.documents import parse_json
from pipeline.documents.formats import parse_any_document
from pipeline.documents.modifier_descriptions import describe_modifiers
from pipeline.warehouse.tables import wired_frame_for

CONTRACTS = {c.table: c for c in CORE_CONTRACTS}
DOCUMENTS = "core.documents"
REJECTED_ROWS = "core.rejected_rows"
# Tables whose rows come from documents (appended batch by batch); the others are dimensions and reference
# tables every batch returns in full (merged by key, the first batch's row kept, as one corpus would).
PER_DOCUMENT = {
    table
    for table, contract in CONTRACTS.items()
    if "document_id" in contract.column_names and table != REJECTED_ROWS  # rejected_rows: written by the gates
}
PARSE_CHUNK = 48  # documents per parse task: big enough that sending it costs little next to parsing it
# Tasks outstanding per worker: each finds its next one waiting, and a pause of the run's process (a commit)
# does not leave them idle; memory holds only these (a few hundred documents' bytes and parses).
TASKS_PER_WORKER = 8
START_AFTER = 400  # documents to parse before workers start: below this a process start costs more than it saves
# Documents in the folder before workers (not yet started by the parse) build the rows: building is cheaper than
# parsing (about a third), so it takes more of them to pay for starting the processes.
ROWS_START_AFTER = 10_000
# A folder whose own listing is at least this big, as the file system reports its size (ext4: about 32 bytes an
# entry), holds a few thousand files or more: its workers start before it is read (``start_early``).
LARGE_FOLDER_BYTES = 64 << 10

# What a worker process holds for its whole life (set once by ``_start_worker``).
_worker: dict[str, Any] = {}


def worker_count(setting: int) -> int:
    """Worker processes for a ``CPT_DOCUMENT_WORKERS`` setting: 0 means one per CPU this process may use; 1 means
    none (everything in the run's own process)."""
    if setting > 0:
        return setting
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def looks_large(directory: Path) -> bool:
    """Whether the folder's own listing says it holds thousands of files (known before a single entry is read)."""
    try:
        return os.stat(directory).st_size >= LARGE_FOLDER_BYTES
    except OSError:
        return False


def loadable_codes(parsed: ParsedDocument) -> tuple[str, ...] | None:
    """Every code the document may load, in document order; None when it loads nothing."""
    return tuple(block.code for block in parsed.code_blocks()) if parsed.contributes else None


def parse_for_spool(
    data: bytes, known: KnownNames, max_bytes: int
) -> tuple[ParsedDocument, str, tuple[str, ...] | None, bytes]:
    """One document parsed: the parse, its status, the codes it may load and the JSON the spool and cache keep."""
    parsed = parse_any_document(data, max_bytes=max_bytes, known_names=known)
    return parsed, parsed.status, loadable_codes(parsed), parse_json.encode_parse(parsed)


def document_file(record: bytes, parse: bytes) -> DocumentFile:
    """A document as spooled: its record (id, path, hash, size, time) and its parse, both JSON."""
    document_id, source_path, sha256, size_bytes, modified_at, *_ = parse_json.loads(record)
    return DocumentFile(
        document_id=document_id,
        source_path=source_path,
        sha256=sha256,
        size_bytes=size_bytes,
        modified_at=datetime.fromisoformat(modified_at),
        parsed=parse_json.decode_parse(parse),
    )


@dataclass(frozen=True)
class WiredRows:
    """A table's rows as a frame already in the dtypes DuckDB takes (``wire_frame``): appended as they are."""

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def batch_tables(
    files: list[DocumentFile],
    reference: ReferenceData,
    parsed_at: datetime,
    modifier_descriptions: dict[str, str],
) -> dict[str, list[dict] | WiredRows]:
    """One batch's core rows by table name: the per-document tables ready to append (``WiredRows``), the
    dimensions as rows (merged across batches by the writer).  Modifiers take the official (HCPCS Level II)
    description."""
    tables = build_core_rows(files, reference, parsed_at=parsed_at).tables
    describe_modifiers(tables["modifiers"], modifier_descriptions)
    return {
        contract.table_name: WiredRows(wired_frame_for(contract, tables[contract.table_name]))
        if contract.table in PER_DOCUMENT
        else tables[contract.table_name]
        for contract in CORE_CONTRACTS
        if contract.table_name in tables
    }


# --- in the worker processes -----------------------------------------------------------------------------


def _start_worker(
    known: KnownNames, max_bytes: int, reference: ReferenceData, parsed_at: datetime, descriptions: dict
) -> None:
    _worker.update(
        known=known, max_bytes=max_bytes, reference=reference, parsed_at=parsed_at, descriptions=descriptions
    )
    # What the worker holds for its life (imports, reference, known names) is never garbage: out of the cyclic
    # collector's sight, each full collection walks only the batch at hand (a fifth of the rows' CPU otherwise).
    gc.freeze()


def _ready() -> None:
    """A task that only makes a process start (``start_early``)."""


def _parse_chunk(items: list[bytes]) -> list[tuple[str, tuple[str, ...] | None, bytes]]:
    return [parse_for_spool(data, _worker["known"], _worker["max_bytes"])[1:] for data in items]


def _batch_chunk(spool_path: str, entries: list[tuple[int, int, int, int]]) -> dict[str, list[dict] | WiredRows]:
    fd = _spool_fd(spool_path)
    files = [
        document_file(os.pread(fd, length, offset), os.pread(fd, parse_length, parse_offset))
        for offset, length, parse_offset, parse_length in entries
    ]
    return batch_tables(files, _worker["reference"], _worker["parsed_at"], _worker["descriptions"])


def _spool_fd(path: str) -> int:
    """The load's spool, opened once per worker (read only)."""
    if _worker.get("spool_path") != path:
        if "spool_fd" in _worker:
            os.close(_worker.pop("spool_fd"))
        _worker.update(spool_fd=os.open(path, os.O_RDONLY | os.O_CLOEXEC), spool_path=path)
    return _worker["spool_fd"]


# --- in the run's process ----------------------------------------------------------------------------------


class DocumentWorkers:
    """A pool of worker processes, started on first use; ``close`` (or the ``with`` block) stops it."""

    def __init__(
        self,
        processes: int,
        *,
        known: KnownNames,
        max_bytes: int,
        reference: ReferenceData,
        parsed_at: datetime,
        modifier_descriptions: dict[str, str],
        start_after: int = START_AFTER,
        rows_start_after: int = ROWS_START_AFTER,
    ):
        self.processes = processes
        self.start_after, self.rows_start_after = start_after, rows_start_after
        self._init_args = (known, max_bytes, reference, parsed_at, modifier_descriptions)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def in_flight(self) -> int:
        return self.processes * TASKS_PER_WORKER

    def wanted(self, documents: int, *, rows: bool = False) -> bool:
        """Whether ``documents`` documents to parse (or, with ``rows``, to build rows of) are enough to use (and,
        the first time, start) the workers."""
        threshold = self.rows_start_after if rows else self.start_after
        return self.processes > 1 and (self._pool is not None or documents >= threshold)

    def start_early(self) -> None:
        """Start the processes now, before the folder is read: each spends about 0.7 CPU-s importing, which then
        runs while this process lists the folder (and, warm, reads the parse cache) with the other core idle,
        instead of in the middle of the parse, where every core is busy."""
        if self.processes > 1 and self._pool is None:
            executor = self._executor()
            for _ in range(self.processes):  # one process each: a task finds no idle worker and spawns one
                executor.submit(_ready)

    def parse(self, items: list[bytes]) -> Future:
        """(status, loadable codes, spool JSON) of each document, in order."""
        return self._executor().submit(_parse_chunk, items)

    def batch(self, spool_path: str, entries: list[tuple[int, int, int, int]]) -> Future:
        """``batch_tables`` of spooled documents, each given by where its record and its parse lie in the spool
        file at ``spool_path`` (offset, length, parse offset, parse length): the worker reads them itself, so the
        run's process neither reads nor sends them (at 100,000 documents some 300 MB, in its busiest step)."""
        return self._executor().submit(_batch_chunk, spool_path, entries)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=context, initializer=_start_worker, initargs=self._init_args
            )
        return self._pool

    def close(self, *, failed: bool = False) -> None:
        if self._pool is not None:
            # After a failure the load's error is what matters: queued work is dropped, not waited for.
            self._pool.shutdown(wait=not failed, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> DocumentWorkers:
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(failed=kind is not None)


def in_order(work: Iterable[Any], submit: Callable[[Any], Future], window: int) -> Iterator[tuple[Any, Any]]:
    """(work item, its result) in the order of ``work``, with at most ``window`` items submitted and unfinished."""
    pending: deque[tuple[Any, Future]] = deque()
    for item in work:
        pending.append((item, submit(item)))
        if len(pending) >= window:
            first, future = pending.popleft()
            yield first, future.result()
    while pending:
        first, future = pending.popleft()
        yield first, future.result()
