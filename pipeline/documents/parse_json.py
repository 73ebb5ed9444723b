"""A parse as the spool, the parse cache and the worker processes carry it: ``to_json_dict`` as JSON bytes.

orjson encodes and decodes it in a fraction of the time the standard ``json`` takes, which at 100,000 documents
is seconds of the load's CPU.  Its output differs from ``json.dumps``'s only in spelling (no spaces, UTF-8 rather
than ``\\u`` escapes): every reader, DuckDB's ``json_extract`` included, sees the same values.  Text orjson
refuses (a lone surrogate, which ``json`` escapes) goes through ``json``, and so do payloads of that kind written
by an older version, which wrote everything with ``json.dumps``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from pipeline.core.document_parser import ParsedDocument, from_json_dict, to_json_dict


def encode_parse(parsed: ParsedDocument) -> bytes:
    return dumps(to_json_dict(parsed))


def decode_parse(payload: bytes | str) -> ParsedDocument:
    return from_json_dict(loads(payload))


def dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:  # a lone surrogate: json escapes it as '\udc80'
        return json.dumps(data).encode()


def loads(payload: bytes | str) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:  # an escaped lone surrogate, which orjson refuses to decode
        return json.loads(payload)
