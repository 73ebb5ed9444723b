"""The parse cache is keyed on everything that changes a parse result, and only on that."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import duckdb
import pytest

from pipeline.core.document_parser import parse_document, parser_fingerprint, to_json_dict
from pipeline.definitions import ASSETS, CHECKS
from pipeline.defs.resources import SourcesResource
from pipeline.documents.parse_cache import CACHE_TABLE, ParseCache, cache_key
from pipeline.documents.parse_json import encode_parse
from tests.bad_documents import good
from tests.conftest import run_pipeline
from tests.table_shape import text_compression


def documents_metadata(result) -> dict:
    [documents] = [
        m for m in result.asset_materializations_for_node("core_tables") if m.asset_key.path == ["core", "documents"]
    ]
    return {key: value.value for key, value in documents.metadata.items()}


def test_key_changes_with_parser_known_names_and_size_limit():
    base = cache_key("parser-a", "names-a", 1000)
    assert base == cache_key("parser-a", "names-a", 1000)
    assert len({base, cache_key("parser-b", "names-a", 1000), cache_key("parser-a", "names-b", 1000)}) == 3
    assert cache_key("parser-a", "names-a", 2000) != base
    assert parser_fingerprint() == parser_fingerprint()


def test_round_trip_and_one_entry_per_current_content(tmp_path):
    con = duckdb.connect(str(tmp_path / "cache.duckdb"))
    parsed = parse_document(good("32994").encode())
    cache = ParseCache(con, "key-1")
    cache.put("a" * 64, parsed)
    cache.save(con, {"a" * 64})
    again = ParseCache(con, "key-1")
    assert again.get("a" * 64) == parsed
    assert ParseCache(con, "key-2").get("a" * 64) is None  # another key never reads it
    ParseCache(con, "key-2").save(con, set())  # a new key and no current files: nothing stale is kept
    assert con.execute(f"SELECT count(*) FROM {CACHE_TABLE}").fetchone()[0] == 0
    con.close()


def test_a_payload_cached_by_json_dumps_reads_as_the_parse_it_was(tmp_path):
    """Caches written before orjson (``json.dumps``: spaces, ASCII escapes) must keep serving their parses."""
    con = duckdb.connect(str(tmp_path / "cache.duckdb"))
    parsed = parse_document(("Händler " + good("32994")).encode())
    ParseCache(con, "key-1").save(con, set())  # creates the table
    old_payload = json.dumps(to_json_dict(parsed))
    assert old_payload.isascii() and old_payload != encode_parse(parsed).decode()  # really the other spelling
    con.execute(
        f"INSERT INTO {CACHE_TABLE} (sha256, parser_version, payload) VALUES (?, ?, ?)",
        ["a" * 64, "key-1", old_payload],
    )
    cache = ParseCache(con, "key-1")
    assert cache.status_and_codes("a" * 64) == (parsed.status, ("32994",))
    assert cache.get("a" * 64) == parsed
    assert cache.get_any_version(con, "a" * 64) == parsed
    con.close()


def test_text_orjson_refuses_still_round_trips(tmp_path):
    """A lone surrogate (text decoded with surrogate escapes) cannot be UTF-8: it goes through json's escape.
    (Only through the spool: DuckDB's JSON reader refuses such an escape in the cache table, as it always has.)"""
    con = duckdb.connect(str(tmp_path / "cache.duckdb"))
    parsed = parse_document(good("32994").encode())
    parsed.title, parsed.problems = "Ablation \udc80", ["line 3: byte \udcff"]
    cache = ParseCache(con, "key-1")
    cache.put("b" * 64, parsed)
    assert cache.get("b" * 64) == parsed
    con.close()


def test_unchanged_documents_come_from_the_cache(pipeline_env):
    run_pipeline(pipeline_env, "group:core")
    second = documents_metadata(run_pipeline(pipeline_env, "group:core"))
    assert (second["documents_parsed"], second["documents_from_cache"]) == (0, 8)


def test_raising_the_size_limit_reparses_an_oversize_document(pipeline_env, monkeypatch):
    big = good("0590T") + "Filler line of a long export.\n" * 400
    (pipeline_env.documents_dir / "long_0590T.txt").write_text(big)
    monkeypatch.setenv("CPT_MAX_DOCUMENT_BYTES", str(len(big) - 1))
    run_pipeline(pipeline_env, "group:core")
    [(status, problems)] = pipeline_env.query(
        "SELECT status, problems FROM core.documents WHERE document_id = 'long_0590T.txt'"
    )
    assert status == "rejected" and "CPT_MAX_DOCUMENT_BYTES" in problems
    monkeypatch.setenv("CPT_MAX_DOCUMENT_BYTES", str(len(big) + 1))  # as the message tells the user to
    metadata = documents_metadata(run_pipeline(pipeline_env, "group:core"))
    assert metadata["documents_parsed"] == 9  # a new limit is a new key: everything is parsed again
    assert pipeline_env.query("SELECT code FROM core.codes WHERE document_id = 'long_0590T.txt'") == [("0590T",)]


@pytest.mark.parametrize("change", ["alias", "payer"])
def test_a_reference_change_reparses(pipeline_env, tmp_path, change):
    reference = tmp_path / "reference"
    shutil.copytree(pipeline_env.resources["sources"].reference_dir, reference)
    run_pipeline(pipeline_env, "group:core")
    with (reference / "payer_aliases.csv").open("a") as handle:
        handle.write("Regional Health Plan of Example County,aetna\n" if change == "alias" else "Example Plan,aetna\n")
    resources = pipeline_env.resources
    resources["sources"] = SourcesResource(
        documents_dir=str(pipeline_env.documents_dir),
        utilization_dir=str(pipeline_env.utilization_dir),
        reference_dir=str(reference),
    )

    result = dg.materialize([*ASSETS, *CHECKS], resources=resources, selection="group:core")
    assert documents_metadata(result)["documents_parsed"] == 8


def test_the_cached_parses_are_stored_zstd_compressed(tmp_path):
    # DuckDB's default string compression made every checkpoint of a big load re-analyse the JSON (1 CPU-s per
    # 50,000 parses) and kept it five times larger; the contract asks for zstd and the table must get it.
    con = duckdb.connect(str(tmp_path / "cache.duckdb"), config={"storage_compatibility_version": "v1.4.0"})
    cache = ParseCache(con, "key-1")
    parsed = parse_document(good("32994").encode())
    hashes = {f"{i:064x}" for i in range(3_000)}
    for sha256 in hashes:
        cache.put(sha256, parsed)
    cache.save(con, hashes)
    con.execute("CHECKPOINT")
    stored = text_compression(con, CACHE_TABLE)
    assert stored["payload"] == "ZSTD", stored
    assert ParseCache(con, "key-1").get(f"{0:064x}") == parsed
