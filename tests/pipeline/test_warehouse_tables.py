"""Row dicts are bound to their contract by key: a wrong or missing key fails loudly, never as a NULL column."""

from __future__ import annotations

import pytest

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.warehouse.tables import RowKeysMismatch, frame_for

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
