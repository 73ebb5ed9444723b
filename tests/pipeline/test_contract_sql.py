"""The SQL generated from each pandera contract accepts and rejects exactly the rows pandera does.

Property-based: for every contract, hypothesis builds small frames from the column types and the
values each check cares about (pattern matches and near misses, enum members and strangers,
bounds and their neighbours, NULLs in every column, duplicate keys), then compares the rows
pandera rejects with the rows the generated SQL rejects. Foreign keys need other tables and are
tested through the gate and the checks instead.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contracts import ALL_CONTRACTS
from pipeline.contracts.table_contract import TableContract, check_sql
from pipeline.validation.contract_checks import duplicate_keys_sql
from pipeline.warehouse.tables import frame_for
from tests.conftest import property_examples

ROWS = st.integers(min_value=1, max_value=5)


def _text_values(column: pa.Column) -> st.SearchStrategy:
    options = [st.text(alphabet="0123456789ABCFTZaz_ -\n", max_size=7)]
    for check in column.checks:
        stats = check.statistics or {}
        if "pattern" in stats:
            valid = st.from_regex(stats["pattern"].strip("^$"), fullmatch=True)
            options += [valid, valid.map(lambda v: v + "\n"), valid.map(lambda v: v[:-1])]
        if "allowed_values" in stats:
            options += [st.sampled_from(list(stats["allowed_values"])), st.sampled_from(["", "other", "f"])]
    return st.one_of(options)


def _number_values(column: pa.Column, integer: bool) -> st.SearchStrategy:
    bounds = [v for check in column.checks for k, v in (check.statistics or {}).items() if k.endswith("_value")]
    near = [b + d for b in bounds for d in (-1, 0, 1)] + [0, 1, 2024]
    if integer:
        return st.one_of(st.sampled_from(near), st.integers(-3, 3000))
    floats = st.floats(allow_nan=False, allow_infinity=True, min_value=None, max_value=None, width=32)
    # NaN is left out: in a pandas float column NaN *is* null, so pandera cannot tell them apart.
    return st.one_of(st.sampled_from([float(v) for v in near]), floats)


def column_values(contract: TableContract, name: str) -> st.SearchStrategy:
    column = contract.schema.columns[name]
    spec = next(c for c in contract.columns if c.name == name)
    if spec.sql_type == "VARCHAR[]":
        values = st.lists(st.one_of(_text_values(column), st.sampled_from(["11", "19", "1"])), max_size=3)
    elif spec.sql_type == "VARCHAR":
        values = _text_values(column)
    elif spec.sql_type in ("BIGINT", "INTEGER"):
        values = _number_values(column, integer=True)
    elif spec.sql_type == "DOUBLE":
        values = _number_values(column, integer=False)
    elif spec.sql_type == "BOOLEAN":
        values = st.booleans()
    elif spec.sql_type in ("TIMESTAMP", "DATE"):
        values = st.datetimes(min_value=pd.Timestamp("2000-01-01"), max_value=pd.Timestamp("2030-01-01"))
    else:
        values = st.none()
    return st.one_of(st.none(), values) if spec.sql_type != "VARCHAR[]" else values


@st.composite
def frames(draw, contract: TableContract) -> pd.DataFrame:
    n = draw(ROWS)
    columns = {name: [draw(column_values(contract, name)) for _ in range(n)] for name in contract.column_names}
    if n > 1 and contract.primary_key and draw(st.booleans()):
        for name in contract.primary_key:  # a duplicate key on purpose
            columns[name][-1] = columns[name][0]
    return frame_for(
        contract, [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    )


def pandera_rejects(contract: TableContract, frame: pd.DataFrame) -> set[int]:
    try:
        contract.model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        assert cases["index"].notna().all(), f"{contract.table}: structural failure\n{cases}"
        return set(cases["index"].astype(int))
    return set()


def sql_rejects(contract: TableContract, frame: pd.DataFrame) -> set[int]:
    con = duckdb.connect()
    try:
        con.register("frame_raw", frame.assign(_row=range(len(frame))))
        columns = ", ".join(f"{c.name}::{c.sql_type} AS {c.name}" for c in contract.columns)
        con.execute(f"CREATE TABLE frame AS SELECT {columns}, _row FROM frame_raw")
        any_fail = " OR ".join(f"({pred})" for _, pred, _ in contract.violation_rules()) or "false"
        bad = {row[0] for row in con.execute(f"SELECT _row FROM frame WHERE {any_fail}").fetchall()}
        for key in contract.unique_keys:
            join = " AND ".join(f"f.{c} IS NOT DISTINCT FROM d.{c}" for c in key)
            sql = f"SELECT f._row FROM frame f JOIN ({duplicate_keys_sql(key, 'frame')}) d ON {join}"
            bad |= {row[0] for row in con.execute(sql).fetchall()}
        return bad
    finally:
        con.close()


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=lambda c: c.table)
def test_sql_rejects_exactly_what_pandera_rejects(contract):
    @settings(max_examples=property_examples(20), deadline=None, suppress_health_check=list(HealthCheck))
    @given(frame=frames(contract))
    def check(frame):
        assert sql_rejects(contract, frame) == pandera_rejects(contract, frame), frame.to_dict("records")

    check()


def _single_column_model(check: pa.Check, dtype) -> TableContract:
    schema_columns = {"v": pa.Column(dtype, check, nullable=True)}

    class Probe:  # just enough of a contract for check_sql and pandera
        schema = pa.DataFrameSchema(schema_columns)

    return Probe


@pytest.mark.parametrize(
    ("check", "dtype", "values"),
    [
        # pandera's str.match lets a trailing newline through '$'; the contracts use fullmatch, which does not.
        (pa.Check.fullmatch(pattern=r"^[0-9]{4}[0-9AFMTU]$"), str, ["32994", "32994\n", "0581T", "1234X", "3299"]),
        (pa.Check.in_range(0, 10, include_min=False, include_max=True), float, [0.0, 0.5, 10.0, 10.5, -1.0]),
        (pa.Check.in_range(0, 10, include_min=True, include_max=False), float, [0.0, 9.99, 10.0]),
        (pa.Check.finite(), float, [1.0, float("inf"), float("-inf")]),
        (pa.Check.isin(["F", "O"]), str, ["F", "O", "f", ""]),
    ],
    ids=["fullmatch-newline", "in_range-exclusive-min", "in_range-exclusive-max", "finite", "isin"],
)
def test_edge_cases_agree(check, dtype, values):
    frame = pd.DataFrame({"v": values})
    probe = _single_column_model(check, dtype)
    try:
        probe.schema.validate(frame, lazy=True)
        rejected_by_pandera = set()
    except pa.errors.SchemaErrors as errors:
        rejected_by_pandera = set(errors.failure_cases["index"].astype(int))
    con = duckdb.connect()
    con.register("frame", frame.assign(_row=range(len(frame))))
    predicate = check_sql("v", check)
    rejected_by_sql = {r[0] for r in con.execute(f"SELECT _row FROM frame WHERE NOT ({predicate})").fetchall()}
    con.close()
    assert rejected_by_sql == rejected_by_pandera
    assert rejected_by_sql  # every case has at least one value on the wrong side


def test_every_check_kind_in_the_contracts_has_a_translation():
    for contract in ALL_CONTRACTS:
        for name, column in contract.schema.columns.items():
            for check in column.checks:
                assert check.name != "str_matches", f"{contract.table}.{name}: use fullmatch (no trailing newline)"
                assert check_sql(name, check)
