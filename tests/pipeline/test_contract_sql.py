"""The SQL generated from the pandera contracts means the same as the pandera checks."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.contracts import ALL_CONTRACTS
from pipeline.contracts.core_tables import CPT_OR_HCPCS, MODIFIER, POS_CODE
from pipeline.contracts.table_contract import _fixed_width_glob
from pipeline.contracts.utilization_tables import HCPCS

CODE_PATTERNS = [CPT_OR_HCPCS, MODIFIER, POS_CODE, HCPCS, r"^[0-9]{10}$", r"^[0-9a-f]{64}$"]


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=12),
        st.from_regex(CPT_OR_HCPCS, fullmatch=True),
        st.from_regex(r"[0-9A-Z]{4,6}", fullmatch=True),
    )
)
def test_glob_translation_agrees_with_the_regex(value):
    connection = duckdb.connect()
    for pattern in CODE_PATTERNS:
        glob = _fixed_width_glob("v", pattern)
        assert glob is not None, pattern
        in_sql = connection.execute(f"SELECT {glob} FROM (SELECT ? AS v)", [value]).fetchone()[0]
        assert in_sql == bool(re.fullmatch(pattern.strip("^$"), value)), (pattern, value)
    connection.close()


def test_every_contract_translates_to_sql_that_runs(con):
    for contract in ALL_CONTRACTS:
        con.execute(contract.create_table_sql(f"t_{contract.schema_name}_{contract.table_name}"))
        for _name, predicate in contract.violation_rules():
            con.execute(f"SELECT count_if({predicate}) FROM t_{contract.schema_name}_{contract.table_name}").fetchall()


def test_sql_rules_reject_what_pandera_rejects(con):
    """Same rows, judged by pandera (pandas) and by the generated SQL (DuckDB)."""
    from pipeline.contracts.core_tables import CodePayers

    contract = next(c for c in ALL_CONTRACTS if c.model is CodePayers)
    frame = pd.DataFrame(
        {
            "code": ["32994", "3299", "C9751", None],
            "payer_id": ["aetna", "aetna", "medicare", "x"],
            "name_in_document": ["Aetna", "Aetna", "Medicare", "X"],
            "document_id": ["d", "d", "d", "d"],
        }
    )
    import pandera.pandas as pa

    with pytest.raises(pa.errors.SchemaErrors) as errors:
        contract.model.validate(frame, lazy=True)
    pandera_bad = set(errors.value.failure_cases["index"].dropna().astype(int))
    con.register("frame", frame.assign(row_index=range(len(frame))))
    predicates = " OR ".join(f"({p})" for _, p in contract.violation_rules())
    sql_bad = {row[0] for row in con.execute(f"SELECT row_index FROM frame WHERE {predicates}").fetchall()}
    assert pandera_bad == sql_bad == {1, 3}
