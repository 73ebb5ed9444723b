"""Parse results cached by content, so an unchanged document is never parsed twice.

The key is the file's SHA-256 plus everything else that changes a parse result: the
parser's own source (``parser_fingerprint``), the known payer and care-site names
the list splitter protects (the reference CSVs), and the size limit. Changing any of
them re-parses every document. A document rejected only for its size is never
cached: raising ``CPT_MAX_DOCUMENT_BYTES`` must let it through on the next run.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from pipeline.contracts.bookkeeping_tables import PARSE_CACHE_CONTRACT
from pipeline.core.document_parser import ParsedDocument, from_json_dict, to_json_dict
from pipeline.warehouse.tables import create_missing_table, registered

CACHE_TABLE = PARSE_CACHE_CONTRACT.table


def cache_key(parser_fingerprint: str, known_names_digest: str, max_bytes: int) -> str:
    text = f"{parser_fingerprint}|{known_names_digest}|{max_bytes}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ParseCache:
    """sha256 -> parse for one cache key; loaded once per run, written in the run's transaction."""

    def __init__(self, con, key: str):
        self.key = key
        create_missing_table(con, PARSE_CACHE_CONTRACT)
        self._payloads = dict(
            con.execute(f"SELECT sha256, payload FROM {CACHE_TABLE} WHERE parser_version = ?", [key]).fetchall()
        )
        self.fresh: dict[str, ParsedDocument] = {}

    def get(self, sha256: str) -> ParsedDocument | None:
        if sha256 in self.fresh:
            return self.fresh[sha256]
        payload = self._payloads.get(sha256)
        return from_json_dict(json.loads(payload)) if payload is not None else None

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
            return from_json_dict(json.loads(row[0]))
        except (KeyError, TypeError, ValueError):  # a payload of an older layout: nothing to keep from it
            return None

    def put(self, sha256: str, parsed: ParsedDocument, *, cacheable: bool = True) -> None:
        if cacheable:
            self.fresh[sha256] = parsed

    def save(self, con, current_hashes: set[str]) -> None:
        """Keep exactly one cached parse per current file content, under the current key."""
        payloads = pd.DataFrame(
            {
                "sha256": list(self.fresh),
                "parser_version": [self.key] * len(self.fresh),
                "payload": [json.dumps(to_json_dict(doc)) for doc in self.fresh.values()],
            },
            dtype="string",  # typed text: DuckDB never guesses a column's type from sampled rows
        )
        current = pd.DataFrame({"sha256": sorted(current_hashes)}, dtype="string")
        with registered(con, "_fresh_payloads", payloads), registered(con, "_current_hashes", current):
            con.execute(
                f"DELETE FROM {CACHE_TABLE} WHERE parser_version <> ? "
                "OR sha256 NOT IN (SELECT sha256 FROM _current_hashes) "
                "OR sha256 IN (SELECT sha256 FROM _fresh_payloads)",
                [self.key],
            )
            con.execute(
                f"INSERT INTO {CACHE_TABLE} BY NAME SELECT CAST(sha256 AS VARCHAR) AS sha256, "
                "CAST(parser_version AS VARCHAR) AS parser_version, CAST(payload AS VARCHAR) AS payload "
                "FROM _fresh_payloads"
            )
