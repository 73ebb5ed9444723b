"""Parse results cached by content, so an unchanged document is never parsed twice.

The key is the file's SHA-256 plus everything else that changes a parse result: the
parser's own source (``parser_fingerprint``), the known payer and care-site names
the list splitter protects (the reference CSVs), and the size limit. Changing any of
them re-parses every document. A document rejected only for its size is never
cached: raising ``CPT_MAX_DOCUMENT_BYTES`` must let it through on the next run.

Memory does not follow the corpus: the parses (cached and fresh) wait in a scratch
file, the ``Spool``, and the process holds only where each one is.  The cached parses
of the current key are copied there once per run, in one sequential read of the cache
table, because fetching them from DuckDB a batch at a time would scan the whole table
for every batch.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pandas as pd

from pipeline.contracts.bookkeeping_tables import PARSE_CACHE_CONTRACT
from pipeline.core.document_parser import ParsedDocument
from pipeline.documents.parse_json import decode_parse, encode_parse
from pipeline.warehouse.tables import create_missing_table, registered

CACHE_TABLE = PARSE_CACHE_CONTRACT.table
FETCH_ROWS = 2_048  # cached parses read from DuckDB per round trip
WRITE_ROWS = 2_000  # fresh parses written to the cache per INSERT: one small frame at a time


def cache_key(parser_fingerprint: str, known_names_digest: str, max_bytes: int) -> str:
    text = f"{parser_fingerprint}|{known_names_digest}|{max_bytes}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Spool:
    """An append-only scratch file of byte records, read back by (offset, length); deleted when closed.  Kept
    beside the warehouse when a directory is given: a temporary folder may be a RAM disk, which would put the
    corpus back in memory.

    Unnamed by default (unlinked at once, so not even a killed process leaves it behind).  ``named``: the file
    keeps a name (``path``) the document workers open to read the records they turn into rows themselves, instead
    of the run's process reading each record and sending it to them; it is ``name_prefix`` followed by random
    letters, which a later run may look for to remove what a killed run left."""

    def __init__(
        self, directory: Path | None = None, *, named: bool = False, name_prefix: str = "cpt_documents_spool_"
    ):
        self.path: str | None = None
        if named:
            fd, self.path = tempfile.mkstemp(prefix=name_prefix, dir=directory)
            self._file = os.fdopen(fd, "w+b")
        else:
            self._file = tempfile.TemporaryFile(prefix=name_prefix, dir=directory)  # noqa: SIM115 (close())
        self._end = 0
        self._dirty = False

    def append(self, data: bytes) -> tuple[int, int]:
        offset = self._end
        self._file.write(data)
        self._end += len(data)
        self._dirty = True
        return offset, len(data)

    def flush(self) -> None:
        """Make every record appended so far readable through the file itself (``read``, another process)."""
        if self._dirty:
            self._file.flush()
            self._dirty = False

    def read(self, offset: int, length: int) -> bytes:
        self.flush()
        return os.pread(self._file.fileno(), length, offset)

    @property
    def size_bytes(self) -> int:
        return self._end

    def close(self) -> None:
        self._file.close()
        if self.path is not None:
            with suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ParseCache:
    """sha256 -> parse for one cache key; read once per run into a spool; fresh parses written between batches,
    stale ones deleted in the run's transaction.

    ``status_and_codes`` answers from memory (what the corpus rules need of every document before any parse is
    read back); ``payload`` and ``get`` read the parse itself from the spool."""

    def __init__(self, con, key: str, spool: Spool | None = None):
        self.key = key
        self._owns_spool = spool is None
        self._spool = spool if spool is not None else Spool()
        create_missing_table(con, PARSE_CACHE_CONTRACT)
        # sha256 -> (offset, length) in the spool; status and codes -> one shared tuple per distinct pair.
        self._cached: dict[str, tuple[int, int, tuple[str, tuple[str, ...]]]] = {}
        self.fresh: dict[str, tuple[int, int]] = {}
        self._pending: list[str] = []  # fresh parses not yet written to the cache table
        shared: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
        # Every code of the document, not only the first: the load batches documents that share any code together.
        result = con.execute(
            f"SELECT sha256, payload, json_extract_string(payload, '$.status'), json_extract_string(payload, '$.code'), "
            f"json_extract_string(payload, '$.codes[*].code'), json_extract(payload, '$.codes_from') = 1 "
            f"FROM {CACHE_TABLE} WHERE parser_version = ? AND payload IS NOT NULL",
            [key],
        )
        while rows := result.fetchmany(FETCH_ROWS):
            for sha256, payload, status, code, codes, first_is_top in rows:
                offset, length = self._spool.append(payload.encode())
                codes = ([code] if first_is_top else []) + (codes or [])  # to_json_dict writes the first once
                known = (status, tuple(codes) if codes else (code,) if code is not None else ())
                self._cached[sha256] = (offset, length, shared.setdefault(known, known))

    def __contains__(self, sha256: str) -> bool:
        return sha256 in self.fresh or sha256 in self._cached

    def payload(self, sha256: str) -> tuple[int, int] | None:
        """Where the parse of ``sha256`` lies in the spool; None when it is neither cached nor parsed this run."""
        if sha256 in self.fresh:
            return self.fresh[sha256]
        cached = self._cached.get(sha256)
        return cached[:2] if cached is not None else None

    def status_and_codes(self, sha256: str) -> tuple[str, tuple[str, ...]] | None:
        """The cached parse's status and every code it describes, in document order (empty when none)."""
        cached = self._cached.get(sha256)
        return cached[2] if cached is not None else None

    def get(self, sha256: str) -> ParsedDocument | None:
        where = self.payload(sha256)
        return decode_parse(self._spool.read(*where)) if where is not None else None

    def get_any_version(self, con, sha256: str) -> ParsedDocument | None:
        """The parse of ``sha256`` under any cache key: the facts the warehouse holds for that content even
        after the parser changed (used to keep a document's previous version while its file is rewritten)."""
        row = con.execute(
            f"SELECT payload FROM {CACHE_TABLE} WHERE sha256 = ? ORDER BY parser_version = ? DESC LIMIT 1",
            [sha256, self.key],
        ).fetchone()
        if row is None:
            return None
        try:
            return decode_parse(row[0])
        except (KeyError, TypeError, ValueError):  # a payload of an older layout: nothing to keep from it
            return None

    def put(self, sha256: str, parsed: ParsedDocument, *, cacheable: bool = True) -> tuple[int, int]:
        """Spool a parse; returns where it lies.  A ``cacheable`` one waits for ``flush`` (or ``save``) to reach
        the cache table."""
        return self.put_encoded(sha256, encode_parse(parsed), cacheable=cacheable)

    def put_encoded(self, sha256: str, payload: bytes, *, cacheable: bool = True) -> tuple[int, int]:
        """``put`` of a parse already encoded as its JSON (by ``workers.parse_for_spool``)."""
        where = self._spool.append(payload)
        if cacheable:
            self.fresh[sha256] = where
            self._pending.append(sha256)
        return where

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self, con) -> None:
        """Write the fresh parses not yet in the cache table, a small frame at a time.  Called between batches
        outside the run's transaction, so the parses of a big folder never sit in one transaction's memory:
        a run that fails afterwards leaves them cached, which is right (each is the parse of its content under
        this key).  A fresh parse replaces the row its content had under another key (sha256 is the key)."""
        for chunk in _chunks(self._pending, WRITE_ROWS):
            payloads = pd.DataFrame(
                {
                    "sha256": chunk,
                    "parser_version": [self.key] * len(chunk),
                    "payload": [self._spool.read(*self.fresh[sha256]).decode() for sha256 in chunk],
                },
                dtype="string",  # typed text: DuckDB never guesses a column's type from sampled rows
            )
            with registered(con, "_fresh_payloads", payloads):
                con.execute(f"DELETE FROM {CACHE_TABLE} WHERE sha256 IN (SELECT sha256 FROM _fresh_payloads)")
                con.execute(
                    f"INSERT INTO {CACHE_TABLE} BY NAME SELECT CAST(sha256 AS VARCHAR) AS sha256, "
                    "CAST(parser_version AS VARCHAR) AS parser_version, CAST(payload AS VARCHAR) AS payload "
                    "FROM _fresh_payloads"
                )
        self._pending.clear()

    def save(self, con, current_hashes: set[str] | None = None, *, current_hashes_sql: str | None = None) -> None:
        """Keep exactly one cached parse per current file content, under the current key.

        The current contents come as a set, or as a query over the warehouse (``current_hashes_sql``, one
        ``sha256`` column) so that a big folder's hashes never have to be held in memory."""
        self.flush(con)
        if current_hashes_sql is not None:
            self._delete_stale(con, current_hashes_sql)
            return
        current = pd.DataFrame({"sha256": sorted(current_hashes or ())}, dtype="string")
        with registered(con, "_current_hashes", current):
            self._delete_stale(con, "SELECT sha256 FROM _current_hashes")

    def _delete_stale(self, con, current_hashes_sql: str) -> None:
        con.execute(
            f"DELETE FROM {CACHE_TABLE} WHERE parser_version <> ? OR sha256 NOT IN ({current_hashes_sql})",
            [self.key],
        )

    def close(self) -> None:
        if self._owns_spool:
            self._spool.close()


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
