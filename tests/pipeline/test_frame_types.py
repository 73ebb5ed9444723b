"""Scale does not change types: every frame reaches DuckDB with its contract's types, never types guessed
from a sample of rows (DuckDB samples 2,048 rows of an object column; with only empty lists in the sample it
guessed ``NULL[]`` and the first non-empty list failed the run)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.documents.load import CONTRACTS, DOCUMENTS, REJECTED_ROWS, _write_and_gate
from pipeline.warehouse.tables import ensure_schemas, frame_for, replace_table

ROWS = 50_000
SAMPLE_WINDOW = 2_048
WHEN = datetime(2024, 5, 1, 12, 0)


def _document(i: int, *, imperfect: bool) -> dict:
    return {
        "document_id": f"doc_{i:05d}.txt",
        "source_path": f"/documents/doc_{i:05d}.txt",
        "sha256": f"{i:064x}",
        "code": "32994",
        "declared_code": "32994" if imperfect else None,  # NULL in every clean row: a text column, sampled too
        "status": "partial" if imperfect else "parsed",
        "problems": "no payer list found; no place of service found" if imperfect else "",
        "problems_list": ["no payer list found", "no place of service found"] if imperfect else [],
        "problem_count": 2 if imperfect else 0,
        "parsed_at": WHEN,
        "file_size_bytes": 100 + i,
        "file_modified_at": WHEN,
        "encoding": "utf-8",
        "title": "CPT 32994" if imperfect else None,
    }


def _tables(imperfect_at: int) -> dict[str, list[dict]]:
    tables: dict[str, list[dict]] = {c.table_name: [] for c in CORE_CONTRACTS}
    tables["documents"] = [_document(i, imperfect=i == imperfect_at) for i in range(ROWS)]
    return tables


def _column_types(con, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()


@pytest.mark.slow  # 50,000 documents per case
@pytest.mark.parametrize(
    "imperfect_at",
    [0, SAMPLE_WINDOW - 1, SAMPLE_WINDOW, SAMPLE_WINDOW + 1, 20_480, ROWS - 1],
    ids=["first", "last-in-sample", "just-after-sample", "after-sample", "row-20480", "last"],
)
def test_one_imperfect_document_among_50000_loads_with_contract_types(tmp_path, imperfect_at):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_schemas(con, "core", "internal")
    con.execute("BEGIN TRANSACTION")
    _write_and_gate(con, [_tables(imperfect_at)], removed=[])  # one batch of every row
    con.execute("COMMIT")

    contract = CONTRACTS[DOCUMENTS]
    assert _column_types(con, DOCUMENTS) == [(c.name, c.sql_type) for c in contract.columns]
    assert con.execute(f"SELECT count(*) FROM {DOCUMENTS}").fetchone() == (ROWS,)
    assert con.execute(f"SELECT count(*) FROM {REJECTED_ROWS}").fetchone() == (0,)
    imperfect = con.execute(
        f"SELECT document_id, status, problems_list, problem_count, declared_code, title FROM {DOCUMENTS} "
        "WHERE len(problems_list) > 0"
    ).fetchall()
    assert imperfect == [
        (
            f"doc_{imperfect_at:05d}.txt",
            "partial",
            ["no payer list found", "no place of service found"],
            2,
            "32994",
            "CPT 32994",
        )
    ]
    assert con.execute(f"SELECT count(*) FROM {DOCUMENTS} WHERE problems_list = []").fetchone() == (ROWS - 1,)


@pytest.mark.parametrize("contract", CORE_CONTRACTS, ids=lambda c: c.table)
def test_every_core_table_is_written_with_its_contract_types_when_the_sample_holds_nothing_to_infer_from(contract):
    """NULL in every nullable column and empty lists past the sample window, then one full row: DuckDB has
    nothing to infer a type from, and the table still gets the contract's types and every value."""
    rows = [_row_for(contract, i, full=i == SAMPLE_WINDOW + 5) for i in range(SAMPLE_WINDOW + 10)]
    con = duckdb.connect()
    ensure_schemas(con, contract.schema_name)
    replace_table(con, contract, frame_for(contract, rows))
    assert _column_types(con, contract.table) == [(c.name, c.sql_type) for c in contract.columns]
    assert con.execute(f"SELECT count(*) FROM {contract.table}").fetchone() == (SAMPLE_WINDOW + 10,)
    list_columns = [c.name for c in contract.columns if c.sql_type.endswith("[]")]
    for name in list_columns:
        assert con.execute(f"SELECT count(*) FROM {contract.table} WHERE len({name}) > 0").fetchone() == (1,)


def _row_for(contract, i: int, *, full: bool) -> dict:
    values = {
        "VARCHAR": f"v{i}",
        "BIGINT": i,
        "INTEGER": i,
        "DOUBLE": i / 2,
        "BOOLEAN": True,
        "TIMESTAMP": WHEN,
        "DATE": WHEN,
        "VARCHAR[]": [f"v{i}"] if full else [],
    }
    return {
        c.name: values[c.sql_type] if (full or not c.nullable or c.sql_type.endswith("[]")) else None
        for c in contract.columns
    }


def test_list_values_survive_the_wire_exactly():
    """Lists travel as JSON text: quotes, commas, brackets, non-ASCII text and NULL items come back as written."""
    contract = CONTRACTS[DOCUMENTS]
    lists = [[], ['say "hi", then [leave]'], ["Zürich — 東京", None], ["\\", "a\nb"], ["null", "", "[]"]]
    rows = [_document(i, imperfect=False) | {"problems_list": value} for i, value in enumerate(lists)]
    con = duckdb.connect()
    ensure_schemas(con, "core")
    replace_table(con, contract, frame_for(contract, rows))
    got = con.execute(f"SELECT problems_list FROM {DOCUMENTS} ORDER BY document_id").fetchall()
    assert [row[0] for row in got] == lists


def test_text_column_null_in_the_sample_then_text_after_it():
    contract = CONTRACTS[DOCUMENTS]
    rows = [_document(i, imperfect=False) for i in range(SAMPLE_WINDOW * 2)]
    rows[-1]["title"] = "late title"
    con = duckdb.connect()
    ensure_schemas(con, "core")
    replace_table(con, contract, pd.DataFrame(frame_for(contract, rows)))
    assert con.execute(f"SELECT title FROM {DOCUMENTS} WHERE title IS NOT NULL").fetchall() == [("late title",)]
