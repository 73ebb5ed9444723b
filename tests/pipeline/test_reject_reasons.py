"""One validation path and one reason vocabulary for documents and CMS files.

The same kinds of bad rows (a duplicate key, an unresolved reference, a broken row rule) get the same words in
``core.rejected_rows`` and ``utilization.quarantine``; every reason either table holds is a wording of
``pipeline/validation/reasons.py``; the SQL and the Python rendering of a wording agree; and only
``reject_rows.insert_rejects`` writes into a reject table.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import duckdb
import pytest

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.contracts.utilization_tables import GEO_CONTRACT, GEOGRAPHIES_CONTRACT
from pipeline.validation import reasons
from pipeline.validation.reject_rows import RejectTarget, gate_table, move_failing_rows
from tests.conftest import run_pipeline
from tests.pipeline.test_utilization import GEO_2023, empty_folder, national_row
from tests.synthetic.cms import GEO_HEADER, write_csv

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
CODE_PAYERS = CONTRACTS_BY_TABLE["core.code_payers"]


def _wording_pattern(template: str) -> re.Pattern:
    parts = string.Formatter().parse(template)
    return re.compile("".join(re.escape(literal) + ("" if field is None else ".+?") for literal, field, _, _ in parts))


WORDING_PATTERNS = [_wording_pattern(w.template) for w in reasons.WORDINGS]


def _bad_core_rows(monkeypatch):
    """Documents' rows plus a payer no table holds and a code breaking a row rule."""
    from pipeline.core import corpus

    real = corpus.build_core_rows

    def with_bad_rows(*args, **kwargs):
        rows = real(*args, **kwargs)
        rows["code_payers"].append(rows["code_payers"][0] | {"payer_id": "no_such_payer"})
        for row in rows["codes"]:
            if row["code"] == "C9751":
                row["code_system"] = "CPT"
        return rows

    monkeypatch.setattr("pipeline.documents.workers.build_core_rows", with_bad_rows)


def _gate_a_duplicate_core_row(env) -> None:
    """The core tables' DDL declares their keys, so a duplicate never reaches the document gate through the
    loader (DuckDB refuses the write first); the gate still checks keys, here on a copy without the constraint."""
    con = duckdb.connect(str(env.warehouse_path))
    try:
        con.execute(
            "CREATE OR REPLACE TABLE core.code_payers AS "
            "SELECT * FROM core.code_payers UNION ALL (SELECT * FROM core.code_payers ORDER BY ALL LIMIT 1)"
        )
        gate_table(con, CODE_PAYERS, source_column="document_id", reject_table="core.rejected_rows")
    finally:
        con.close()


def _write_bad_cms_file(env):
    empty_folder(env)
    lines = [
        national_row(HCPCS_Desc="good"),
        national_row(code="50593", pos="O", HCPCS_Desc="duplicate"),
        national_row(code="50593", pos="O", HCPCS_Desc="duplicate"),
        national_row(code="0581T", Rndrng_Prvdr_Geo_Lvl="State", Rndrng_Prvdr_Geo_Cd="99", HCPCS_Desc="unknown"),
        national_row(code="47382", Rndrng_Prvdr_Geo_Cd="06", HCPCS_Desc="rule"),
        national_row(code="50592", Tot_Srvcs="lots", HCPCS_Desc="unreadable"),
    ]
    write_csv(env.utilization_dir / GEO_2023, GEO_HEADER, lines)


def _pieces(all_reasons: list[str]) -> list[str]:
    return [piece for reason in all_reasons for piece in reason.split(reasons.SEPARATOR)]


def _reasons(env, table: str, where: str = "true") -> list[str]:
    return [reason for (reason,) in env.query(f"SELECT reasons FROM {table} WHERE {where} ORDER BY ALL")]


@pytest.fixture
def both_reject_tables(pipeline_env, monkeypatch):
    _bad_core_rows(monkeypatch)
    _write_bad_cms_file(pipeline_env)
    assert run_pipeline(pipeline_env, "group:core").success
    assert run_pipeline(pipeline_env, "group:utilization").success
    _gate_a_duplicate_core_row(pipeline_env)
    return pipeline_env


def test_the_same_failures_have_the_same_words_for_documents_and_cms_files(both_reject_tables):
    env = both_reject_tables
    core = _reasons(env, "core.rejected_rows", "table_name = 'core.code_payers'")
    cms = _reasons(env, "utilization.quarantine")

    core_duplicate = reasons.duplicate_key(CODE_PAYERS.primary_key)
    cms_duplicate = reasons.duplicate_key(GEO_CONTRACT.primary_key)
    assert core_duplicate == "duplicate key (code, payer_id)"
    assert cms_duplicate == "duplicate key (data_year, geo_level, geo_code, hcpcs_code, place_of_service)"
    assert core.count(core_duplicate) == 2 and cms.count(cms_duplicate) == 2  # every copy
    core, cms = _pieces(core), _pieces(cms)

    assert reasons.unresolved_reference("payer_id", "core.payers", "payer_id", "no_such_payer") in core
    assert "payer_id 'no_such_payer' is not in core.payers.payer_id" in core
    assert "geo_code '99' is not in utilization.geographies.geo_code" in cms

    [codes_reason] = _reasons(env, "core.rejected_rows", "table_name = 'core.codes'")
    assert codes_reason == reasons.row_rule_broken("code matches code_system") == "row rule 'code matches code_system'"
    assert reasons.row_rule_broken("geo_code matches geo_level") in cms
    assert any(piece.startswith("unreadable value: CAST in Tot_Srvcs: ") for piece in cms)

    # A BI user's filters find the same failures in both tables.
    for table in ("core.rejected_rows", "utilization.quarantine"):
        assert env.query(f"SELECT count(*) FROM {table} WHERE reasons LIKE '%duplicate key (%'") == [(2,)]
        assert env.query(f"SELECT count(*) > 0 FROM {table} WHERE reasons LIKE '%is not in %.%'") == [(True,)]
        assert env.query(f"SELECT count(*) > 0 FROM {table} WHERE reasons LIKE 'row rule ''%'") == [(True,)]

    # Every reason either table holds is worded by the vocabulary: no path has words of its own.
    pieces = _pieces(_reasons(env, "core.rejected_rows") + _reasons(env, "utilization.quarantine"))
    assert len(pieces) > 8
    strays = [piece for piece in pieces if not any(p.fullmatch(piece) for p in WORDING_PATTERNS)]
    assert not strays, f"reasons not worded by pipeline/validation/reasons.py: {strays}"


def _row_of(example: dict) -> tuple[str, dict]:
    """A one-row relation holding the example's parts, and the parts as per-row SQL over it."""
    columns = ", ".join(
        f"{reasons.sql_text(', '.join(v) if isinstance(v, list) else str(v))} AS part_{k}" for k, v in example.items()
    )
    return f"(SELECT {columns})", {k: reasons.Sql(f"part_{k}") for k in example}


@pytest.mark.parametrize("wording", reasons.WORDINGS, ids=lambda w: w.kind)
def test_the_sql_and_python_renderings_of_a_wording_agree(wording):
    con = duckdb.connect()
    relation, per_row = _row_of(wording.example)
    [(from_values,)] = con.execute(f"SELECT {wording.sql(**per_row)} FROM {relation}").fetchall()
    [(from_constants,)] = con.execute(f"SELECT {wording.sql(**wording.example)}").fetchall()
    assert from_values == from_constants == wording.text(**wording.example)


def _reject_table(con, name: str) -> RejectTarget:
    con.execute(f"CREATE TABLE {name} (table_name VARCHAR, line_number BIGINT, reasons VARCHAR, row_data VARCHAR)")
    return RejectTarget(name, {"table_name": "'under test'"})


GEO_ROW = {
    "hcpcs_code": "32994",
    "hcpcs_desc": "Ablate",
    "drug_indicator": "N",
    "place_of_service": "F",
    "total_beneficiaries": 100,
    "total_services": 120.0,
    "total_beneficiary_day_services": 120.0,
    "avg_submitted_charge": 1500.0,
    "avg_allowed_amount": 420.0,
    "avg_payment_amount": 334.0,
    "avg_standardized_amount": 418.0,
    "source_file": "f.csv",
    "geo_level": "State",
    "geo_code": "06",
    "geo_desc": "California",
    "geo_type": "state",
    "total_providers": 10,
}


def test_scope_limits_the_scan_to_the_rows_just_loaded():
    """A CMS file's rows are validated when its year is loaded: other years are not scanned again, even when they
    would fail (they were judged by their own load)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA utilization")
    con.execute(GEOGRAPHIES_CONTRACT.create_table_sql())
    con.execute("INSERT INTO utilization.geographies VALUES ('06', 'California', 'state')")
    con.execute(GEO_CONTRACT.create_table_sql())
    values = ", ".join(f"? AS {name}" for name in ["data_year", *GEO_ROW])
    for year in (2022, 2022, 2023, 2023):  # a duplicate in each year
        con.execute(f"INSERT INTO {GEO_CONTRACT.table} BY NAME SELECT {values}", [year, *GEO_ROW.values()])
    target = _reject_table(con, "rejects")
    assert move_failing_rows(con, GEO_CONTRACT, target, scope="data_year = 2023") == 2
    assert con.execute(f"SELECT data_year, count(*) FROM {GEO_CONTRACT.table} GROUP BY ALL").fetchall() == [(2022, 2)]
    assert con.execute("SELECT DISTINCT reasons FROM rejects").fetchall() == [
        (reasons.duplicate_key(GEO_CONTRACT.primary_key),)
    ]


def test_each_unresolved_element_of_a_list_is_named():
    contract = CONTRACTS_BY_TABLE["core.care_sites"]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA core")
    con.execute(CONTRACTS_BY_TABLE["core.place_of_service"].create_table_sql())
    con.execute(contract.create_table_sql())
    con.execute("INSERT INTO core.place_of_service VALUES ('11', 'Office')")
    con.execute(
        "INSERT INTO core.care_sites VALUES ('office', 'Office', ['11', '98', '97'], 'O', true), "
        "('clinic', 'Clinic', ['11'], 'O', true)"
    )
    target = _reject_table(con, "rejects")
    assert move_failing_rows(con, contract, target) == 1
    [(reason,)] = con.execute("SELECT reasons FROM rejects").fetchall()
    assert reason == reasons.SEPARATOR.join(
        reasons.unresolved_reference("pos_codes", "core.place_of_service", "place_of_service_code", value)
        for value in ("98", "97")
    )
    assert con.execute("SELECT care_site_id FROM core.care_sites").fetchall() == [("clinic",)]


def _inserts(path: Path) -> list[tuple[str, str]]:
    """(target, SQL text) of every string in ``path`` that INSERTs, with f-string fields written as {name}."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
                for part in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        found += [(target, text) for target in re.findall(r"INSERT INTO\s+(\S+)", text)]
    return found


def _writes_rejects(target: str, text: str) -> bool:
    """Names a reject table, or fills the column only reject tables have."""
    return bool(re.search(r"quarantine|reject|target\.table", target, re.IGNORECASE) or re.search(r"\breasons\b", text))


def test_only_insert_rejects_writes_into_a_reject_table():
    writers = {
        str(path.relative_to(PIPELINE)): targets
        for path in sorted(PIPELINE.rglob("*.py"))
        if (targets := [target for target, text in _inserts(path) if _writes_rejects(target, text)])
    }
    assert writers == {"validation/reject_rows.py": ["{target.table}"]}
