"""Batches change nothing: a folder loaded a few documents at a time gives exactly the tables of one pass.

The corpus rules that span documents are the ones batches could break: one document per code (the newest
wins, so every document of a code must meet in one batch), and the dimensions, where the first document in
code order to name an unknown modifier, payer or care site gives its row."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import duckdb
import pytest

from pipeline.core.reference_data import load_reference_data
from pipeline.documents import load as documents_load
from pipeline.documents.load import CONTRACTS, DOCUMENTS, load_documents
from pipeline.documents.workers import DocumentWorkers
from pipeline.failures import InfrastructureFailure
from tests.bad_documents import good
from tests.table_shape import table_shape, text_compression

REFERENCE = load_reference_data(Path(__file__).resolve().parents[2] / "sources" / "reference")
MAX_BYTES = 1_000_000
DAY = 86_400


def _write_corpus(folder: Path) -> None:
    folder.mkdir()
    codes = ["10005", "10001", "10004", "10002", "10003", "10006"]
    for i, code in enumerate(codes):
        text = good(code).replace(
            "| 50 | Bilateral procedure | Both sides treated. |",
            f"| 50 | Bilateral procedure | Both sides treated. |\n| Q7 | Seen first in {code} | Rarely. |",
        )
        text = text.replace(
            "Aetna, Cigna, and Medicare", f"Aetna, Plan Of Code {code}, Regional Plan Nine, and Medicare"
        )
        path = folder / f"{i:02d}_{code}.txt"
        path.write_text(text)
        os.utime(path, (1_700_000_000 + i * DAY, 1_700_000_000 + i * DAY))
    # The same codes again: newer for 10001 and 10003 (these win), older for 10006 (this one loses). File
    # names sort after every first version, so folder order and code order never agree.
    for code, age in (("10001", 10), ("10003", 10), ("10006", -10)):
        path = folder / f"zz_again_{code}.txt"
        path.write_text(good(code).replace("Aetna, Cigna", "Humana, Cigna"))
        os.utime(path, (1_700_000_000 + age * DAY, 1_700_000_000 + age * DAY))
    # One document with two codes, newest for both: it links 10002 and 10006, so a batch that holds one of them
    # without the other would pick a second winner (or a stale one) for a code.
    both = folder / "zz_two_codes_10002_10006.txt"
    both.write_text(good("10002") + "\n" + good("10006").replace("Aetna, Cigna", "Kaiser, Cigna"))
    os.utime(both, (1_700_000_000 + 20 * DAY, 1_700_000_000 + 20 * DAY))
    # A byte-identical copy (parsed once: the copy waits for the first parse) that wins its code by the tie rule.
    (folder / "zz_copy_of_00_10005.txt").write_bytes((folder / "00_10005.txt").read_bytes())
    os.utime(folder / "zz_copy_of_00_10005.txt", (1_700_000_000, 1_700_000_000))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))


def _tables(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            table: con.execute(
                f"SELECT *{' EXCLUDE (parsed_at)' if table == DOCUMENTS else ''} FROM {table} ORDER BY ALL"
            ).fetchall()
            for table in CONTRACTS
        }
    finally:
        con.close()


def _load(folder: Path, warehouse: Path, batch: int, workers: int = 1):
    con = duckdb.connect(str(warehouse))
    try:
        return load_documents(
            con, folder, REFERENCE, MAX_BYTES, warehouse, batch_documents=batch, workers=workers, workers_start_after=0
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory) -> tuple[Path, dict[str, list[tuple]]]:
    root = tmp_path_factory.mktemp("one_pass")
    _write_corpus(root / "documents")
    _load(root / "documents", root / "warehouse.duckdb", batch=10_000)
    return root / "documents", _tables(root / "warehouse.duckdb")


def test_the_one_pass_corpus_exercises_every_cross_document_rule(one_pass):
    _, tables = one_pass
    statuses = {row[0]: row[5] for row in tables[DOCUMENTS]}
    assert statuses["zz_again_10001.txt"] == statuses["zz_again_10003.txt"] == "parsed"
    assert statuses["01_10001.txt"] == statuses["04_10003.txt"] == statuses["zz_again_10006.txt"] == "rejected"
    assert statuses["zz_two_codes_10002_10006.txt"] == "parsed"
    assert (statuses["zz_copy_of_00_10005.txt"], statuses["00_10005.txt"]) == ("parsed", "rejected")
    assert statuses["03_10002.txt"] == statuses["05_10006.txt"] == "rejected"  # both codes lost to the two-code file
    assert [row for row in tables["core.document_codes"] if row[0].startswith("zz_two")] == [
        ("zz_two_codes_10002_10006.txt", "10002", 0),
        ("zz_two_codes_10002_10006.txt", "10006", 1),
    ]
    [q7] = [row for row in tables["core.modifiers"] if row[0] == "Q7"]
    assert q7[1] == "Seen first in 10004"  # the documents of 10001 and 10002 that had Q7 lost to newer ones


def test_columns_their_contract_compresses_are_stored_so(one_pass, tmp_path):
    """A contract column with ``compression`` metadata (the sections' text: DuckDB's default left it nearly as it
    is, ten times the blocks and a third more CPU at each build) is stored that way in the table the load builds."""
    folder, _ = one_pass
    warehouse = tmp_path / "warehouse.duckdb"
    _load(folder, warehouse, batch=10_000)
    asked = {
        (c.table, col.name): col.compression.upper() for c in CONTRACTS.values() for col in c.columns if col.compression
    }
    assert asked == {("core.document_sections", "body"): "ZSTD"}
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CHECKPOINT")
        for (table, column), compression in asked.items():
            stored = text_compression(con, table).get(column)
            assert stored == compression, (table, column, stored)
    finally:
        con.close()


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_small_batches_give_the_tables_of_one_pass(one_pass, tmp_path, batch):
    folder, expected = one_pass
    load = _load(folder, tmp_path / "warehouse.duckdb", batch)
    assert load.parsed == 11  # every file read, once (the image is skipped unread)
    assert _tables(tmp_path / "warehouse.duckdb") == expected


def test_a_second_batched_run_reads_the_cache_and_changes_nothing(one_pass, tmp_path):
    folder, expected = one_pass
    _load(folder, tmp_path / "warehouse.duckdb", batch=2)
    again = _load(folder, tmp_path / "warehouse.duckdb", batch=2)
    assert (again.parsed, again.changed_tables) == (0, [])
    assert _tables(tmp_path / "warehouse.duckdb") == expected
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    leftovers = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%loading%'").fetchall()
    con.close()
    assert leftovers == []


@pytest.mark.parametrize("batch", [2, 10_000])
def test_worker_processes_give_the_tables_of_one_pass(one_pass, tmp_path, monkeypatch, batch):
    """Two worker processes parse chunks of two documents and build the rows: the same tables, every file parsed
    once (the identical copy waits for its twin's parse instead of being sent again)."""
    monkeypatch.setattr(documents_load, "PARSE_CHUNK", 2)
    folder, expected = one_pass
    load = _load(folder, tmp_path / "warehouse.duckdb", batch, workers=2)
    assert load.parsed == 11
    assert _tables(tmp_path / "warehouse.duckdb") == expected


def test_the_workers_stop_before_the_tables_are_keyed(one_pass, tmp_path, monkeypatch):
    """The worker processes (about 100 MB each at 100,000 documents) stop once the last batch of rows is built:
    keying and swapping the tables, the load's peak of memory, runs without them."""
    events = []
    close, key = DocumentWorkers.close, documents_load.add_primary_key

    def closing(self, *, failed=False):
        if self._pool is not None:
            events.append("workers stopped")
        return close(self, failed=failed)

    def keying(*args, **kwargs):
        events.append("table keyed")
        return key(*args, **kwargs)

    monkeypatch.setattr(DocumentWorkers, "close", closing)
    monkeypatch.setattr(documents_load, "add_primary_key", keying)
    folder, expected = one_pass
    _load(folder, tmp_path / "warehouse.duckdb", 10_000, workers=2)
    assert events[0] == "workers stopped" and events.count("workers stopped") == 1 and "table keyed" in events
    assert _tables(tmp_path / "warehouse.duckdb") == expected


@pytest.mark.parametrize("large", [True, False])
def test_a_folder_whose_listing_is_large_starts_its_workers_before_it_is_read(one_pass, tmp_path, monkeypatch, large):
    """A big folder's workers import while this process lists it (the other core idle then), not in the middle of
    the parse; a small folder starts none before a document needs them.  Either way, the same tables."""
    from pipeline.documents import workers as document_workers

    folder, expected = one_pass
    size = os.stat(folder).st_size
    monkeypatch.setattr(document_workers, "LARGE_FOLDER_BYTES", size if large else size + 1)
    started_before_reading = []
    read_folder = documents_load.read_folder

    def reading(*args, workers, **kwargs):
        started_before_reading.append(len(workers._pool._processes) if workers._pool is not None else 0)
        return read_folder(*args, workers=workers, **kwargs)

    monkeypatch.setattr(documents_load, "read_folder", reading)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        load_documents(con, folder, REFERENCE, MAX_BYTES, tmp_path / "warehouse.duckdb", workers=2)
    finally:
        con.close()
    assert started_before_reading == ([2] if large else [0])
    assert _tables(tmp_path / "warehouse.duckdb") == expected


def test_the_spool_the_workers_read_never_outlives_its_load(one_pass, tmp_path, monkeypatch):
    """The spool has a name beside the warehouse (the workers open it): gone when the load ends, also when it
    fails; one a killed load left behind is removed by the next load of that warehouse, and no other file."""
    folder, expected = one_pass
    warehouse = tmp_path / "warehouse.duckdb"
    left_by_a_killed_load = tmp_path / ".warehouse.duckdb.spool-k1ll3d"
    left_by_a_killed_load.write_bytes(b"{}")
    other = tmp_path / ".other.duckdb.spool-k1ll3d"  # another warehouse's, in the same folder
    other.write_bytes(b"{}")
    _load(folder, warehouse, 2, workers=2)
    assert _tables(warehouse) == expected
    assert sorted(p.name for p in tmp_path.iterdir() if ".spool-" in p.name) == [other.name]

    monkeypatch.setattr(documents_load, "write_staging", lambda *a, **k: 1 / 0)
    with pytest.raises(InfrastructureFailure):
        _load(folder, warehouse, 2, workers=2)
    assert sorted(p.name for p in tmp_path.iterdir() if ".spool-" in p.name) == [other.name]


def test_workers_held_to_a_few_bytes_give_the_tables_of_one_pass(one_pass, tmp_path, monkeypatch):
    """Chunks cut and waited for by bytes (a folder of big files must not sit in memory): with limits below one
    document, every chunk holds one document and each is settled before the next is read, same tables."""
    monkeypatch.setattr(documents_load, "PARSE_CHUNK_BYTES", 1)
    monkeypatch.setattr(documents_load, "QUEUED_BYTES", 1)
    chunks = []
    parse = DocumentWorkers.parse

    def counting(self, items):
        chunks.append(len(items))
        return parse(self, items)

    monkeypatch.setattr(DocumentWorkers, "parse", counting)
    folder, expected = one_pass
    load = _load(folder, tmp_path / "warehouse.duckdb", 10_000, workers=2)
    assert load.parsed == 11 and set(chunks) == {1}
    assert _tables(tmp_path / "warehouse.duckdb") == expected


def test_a_worker_that_dies_fails_the_load_and_changes_nothing(one_pass, tmp_path, monkeypatch):
    folder, expected = one_pass
    _load(folder, tmp_path / "warehouse.duckdb", batch=10_000)
    (folder.parent / "edited").mkdir(exist_ok=True)
    edited = folder.parent / "edited" / "documents"
    if not edited.exists():
        edited.mkdir()
        for path in folder.iterdir():
            (edited / path.name).write_bytes(path.read_bytes().replace(b"Cigna", b"Humana"))

    def die(self, items):  # the worker process exits mid-task, as one killed by the OOM killer would
        return self._executor().submit(os._exit, 9)

    monkeypatch.setattr(DocumentWorkers, "parse", die)
    with pytest.raises(InfrastructureFailure, match="rolled back; nothing was deleted") as failed:
        _load(edited, tmp_path / "warehouse.duckdb", batch=10_000, workers=2)
    assert isinstance(failed.value.__cause__, BrokenProcessPool)
    assert _tables(tmp_path / "warehouse.duckdb") == expected


def test_the_load_checkpoints_less_often_and_gives_the_connection_back_as_it_was(one_pass, tmp_path, monkeypatch):
    """The load raises DuckDB's checkpoint threshold for its own commits only: the marts, which commit one by one
    to bound memory, must find the setting they had (also after a failed load)."""
    folder, _ = one_pass
    seen = []
    write_staging = documents_load.write_staging

    def watching(con, *args, **kwargs):
        seen.append(con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0])
        return write_staging(con, *args, **kwargs)

    monkeypatch.setattr(documents_load, "write_staging", watching)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("SET checkpoint_threshold = '20MiB'")
    before = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
    load_documents(con, folder, REFERENCE, MAX_BYTES, tmp_path / "warehouse.duckdb")
    assert seen == ["64.0 MiB"] and documents_load.LOAD_CHECKPOINT_THRESHOLD == "64MiB"
    assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0] == before == "20.0 MiB"

    monkeypatch.setattr(documents_load, "write_staging", lambda *a, **k: 1 / 0)
    with pytest.raises(InfrastructureFailure):
        load_documents(con, folder, REFERENCE, MAX_BYTES, tmp_path / "warehouse.duckdb")
    assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0] == before
    con.close()


def test_the_loaded_tables_have_the_keys_and_columns_their_contracts_declare(one_pass, tmp_path):
    """The staged tables are keyed once full, after the gates: they must end up exactly as ``create_table`` with
    the key makes them (the PRIMARY KEY, and the NOT NULL it implies), never without one."""
    folder, _ = one_pass
    _load(folder, tmp_path / "warehouse.duckdb", batch=2)

    declared = duckdb.connect()
    declared.execute("CREATE SCHEMA core")
    loaded = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    keyed = 0
    for table, contract in CONTRACTS.items():
        declared.execute(contract.create_table_sql())
        assert table_shape(loaded, table) == table_shape(declared, table), table
        keyed += bool(contract.ddl_primary_key)
    loaded.close()
    assert keyed >= 10  # every core table but the one whose key may be NULL
