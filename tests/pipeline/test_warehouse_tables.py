"""Row dicts are bound to their contract by key: a wrong or missing key fails loudly, never as a NULL column."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from pipeline.contracts import ALL_CONTRACTS, CONTRACTS_BY_TABLE
from pipeline.contracts.core_tables import CORE_CONTRACTS
from pipeline.warehouse.tables import (
    KeyViolation,
    RowKeysMismatch,
    add_primary_key,
    create_table,
    frame_for,
    wire_frame,
    wired_frame_for,
)

PAYERS = CONTRACTS_BY_TABLE["core.payers"]


def _row() -> dict:
    return dict.fromkeys(PAYERS.column_names)


def test_rows_with_exactly_the_contract_keys_become_a_frame():
    frame = frame_for(PAYERS, [_row(), _row()])
    assert list(frame.columns) == list(PAYERS.column_names) and len(frame) == 2


def test_a_misspelt_key_is_refused_naming_it():
    row = _row()
    name = PAYERS.column_names[1]
    row[name + "x"] = row.pop(name)
    with pytest.raises(RowKeysMismatch, match=rf"not in the contract: \['{name}x'\]; missing: \['{name}'\]"):
        frame_for(PAYERS, [_row(), row])


def test_a_missing_key_is_refused():
    row = _row()
    del row[PAYERS.column_names[-1]]
    with pytest.raises(RowKeysMismatch, match="missing"):
        frame_for(PAYERS, [row])


def test_no_rows_is_an_empty_frame_with_the_contract_columns():
    assert list(frame_for(PAYERS, []).columns) == list(PAYERS.column_names)


def _value(sql_type: str, row: int):
    """A value of ``sql_type`` that differs from row to row, None (NULL) in the last row."""
    if row == 2:
        return None
    values = {
        "VARCHAR": ["Händler", ""],
        "VARCHAR[]": [["no payer list found", "line 3: ¼"], []],
        "BIGINT": [7, 2**40],
        "BOOLEAN": [True, False],
        "TIMESTAMP": [datetime(2024, 1, 2, 3, 4, 5, 678), datetime(1999, 12, 31)],
    }
    return values[sql_type][row]


@pytest.mark.parametrize("contract", CORE_CONTRACTS, ids=lambda c: c.table)
def test_wired_frame_from_rows_is_the_wired_frame_of_their_frame(contract):
    """The documents load wires its batches straight from the rows: exactly what frame_for then wire_frame give."""
    rows = [{c.name: _value(c.sql_type, row) for c in reversed(contract.columns)} for row in range(3)]
    for some_rows in (rows, rows[:1], []):
        expected = wire_frame(contract, frame_for(contract, some_rows))
        pd.testing.assert_frame_equal(wired_frame_for(contract, some_rows), expected, check_exact=True)
    with pytest.raises(RowKeysMismatch):
        wired_frame_for(contract, [rows[0], {**rows[1], "unknown": 1}])


@pytest.mark.parametrize("contract", [c for c in ALL_CONTRACTS if c.ddl_primary_key], ids=lambda c: c.table)
def test_a_table_keyed_once_full_is_the_table_its_ddl_makes(contract):
    """``create_table(primary_key=False)`` then ``add_primary_key``: the same columns, NOT NULLs and key."""

    def shape(con) -> tuple:
        return (
            con.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [contract.schema_name, contract.table_name],
            ).fetchall(),
            con.execute(
                "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
                "WHERE schema_name = ? AND table_name = ? ORDER BY ALL",
                [contract.schema_name, contract.table_name],
            ).fetchall(),
        )

    at_once, later = duckdb.connect(), duckdb.connect()
    for con in (at_once, later):
        con.execute(f"CREATE SCHEMA {contract.schema_name}")
    create_table(at_once, contract)
    create_table(later, contract, primary_key=False)
    assert shape(later) != shape(at_once)  # the key is missing until it is added
    add_primary_key(later, contract)
    assert shape(later) == shape(at_once)


def test_rows_that_break_the_key_added_once_full_are_named_with_the_table_and_key():
    contract = CONTRACTS_BY_TABLE["core.codes"]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA core")
    create_table(con, contract, primary_key=False)
    values = ", ".join("'32994'" if c.name == "code" else "NULL" if c.nullable else "'x'" for c in contract.columns)
    con.execute(f"INSERT INTO core.codes ({', '.join(contract.column_names)}) VALUES ({values}), ({values})")
    with pytest.raises(KeyViolation, match=r"core\.codes: its rows break its key \(code\)"):
        add_primary_key(con, contract)
