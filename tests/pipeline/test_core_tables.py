"""The core_tables asset and its checks, materialized with dagster against a tmp_path DuckDB."""

from __future__ import annotations

import os
import time

import duckdb

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.defs.checks import report_to_check_result
from pipeline.validation.contract_checks import evaluate_contract, evaluate_references
from tests.bad_documents import good
from tests.conftest import run_pipeline

ACCEPTANCE_QUERY = """
SELECT c.code,
       list(DISTINCT p.payer_name ORDER BY p.payer_name) AS payers,
       list(DISTINCT pos ORDER BY pos) AS pos_codes
FROM core.codes c
JOIN core.code_payers cp ON cp.code = c.code
JOIN core.payers p ON p.payer_id = cp.payer_id
JOIN core.code_care_sites ccs ON ccs.code = c.code
JOIN core.care_sites cs ON cs.care_site_id = ccs.care_site_id, unnest(cs.pos_codes) AS u(pos)
WHERE c.code = '32994'
GROUP BY c.code
"""


def test_seed_code_has_its_five_payers_and_care_sites(pipeline_env):
    result = run_pipeline(pipeline_env, "group:core")
    assert result.success
    [(code, payers, pos_codes)] = pipeline_env.query(ACCEPTANCE_QUERY)
    assert code == "32994"
    assert payers == ["Aetna", "Blue Cross Blue Shield", "Cigna Healthcare", "Medicare", "UnitedHealthcare"]
    assert pos_codes == ["19", "22", "24"]
    evaluations = result.get_asset_check_evaluations()
    assert all(e.passed for e in evaluations)
    checked = {e.asset_key.to_user_string() for e in evaluations if e.asset_check_key.name == "contract"}
    assert checked == {
        f"{c.schema_name}/{c.table_name}" for c in CONTRACTS_BY_TABLE.values() if c.schema_name == "core"
    }


def test_second_run_is_identical_and_uses_the_parse_cache(pipeline_env):
    run_pipeline(pipeline_env, "group:core")
    tables = [t for t in CONTRACTS_BY_TABLE if t.startswith("core.")]
    first = {t: pipeline_env.query(_stable_rows(t)) for t in tables}
    second_run = run_pipeline(pipeline_env, "group:core")
    second = {t: pipeline_env.query(_stable_rows(t)) for t in tables}
    assert first["core.codes"] and first["core.document_sections"]
    assert first == second
    [documents] = [
        m
        for m in second_run.asset_materializations_for_node("core_tables")
        if m.asset_key.path == ["core", "documents"]
    ]
    assert documents.metadata["documents_parsed"].value == 0
    assert documents.metadata["documents_from_cache"].value == 8


def test_removed_document_disappears_everywhere(pipeline_env):
    run_pipeline(pipeline_env, "group:core")
    (pipeline_env.documents_dir / "20982_bone_rfa.txt").unlink()
    run_pipeline(pipeline_env, "group:core")
    for table in ("core.documents", "core.document_sections", "core.codes", "core.code_payers", "core.code_modifiers"):
        assert pipeline_env.query(f"SELECT count(*) FROM {table} WHERE document_id = '20982_bone_rfa.txt'") == [(0,)]
    assert pipeline_env.query("SELECT count(*) FROM core.codes WHERE code = '20982'") == [(0,)]


def test_changed_document_is_reparsed(pipeline_env):
    run_pipeline(pipeline_env, "group:core")
    path = pipeline_env.documents_dir / "50592_kidney_rfa.txt"
    path.write_text(path.read_text().replace("Medicare, Aetna, and Cigna Health", "Medicare and Humana"))
    run_pipeline(pipeline_env, "group:core")
    rows = pipeline_env.query("SELECT payer_id FROM core.code_payers WHERE code = '50592' ORDER BY 1")
    assert rows == [("humana",), ("medicare",)]


def test_parsed_at_moves_only_for_documents_whose_row_changed(pipeline_env):
    """An unchanged row keeps the read time of the run that produced it (so a run that changes nothing leaves
    core.documents as it was); a changed one gets this run's, which the sensor compares change times with."""
    run_pipeline(pipeline_env, "group:core")
    first = dict(pipeline_env.query("SELECT document_id, parsed_at FROM core.documents"))
    path = pipeline_env.documents_dir / "50592_kidney_rfa.txt"
    path.write_text(path.read_text().replace("Medicare, Aetna, and Cigna Health", "Medicare and Humana"))
    run_pipeline(pipeline_env, "group:core")
    second = dict(pipeline_env.query("SELECT document_id, parsed_at FROM core.documents"))
    assert second.pop("50592_kidney_rfa.txt") > first.pop("50592_kidney_rfa.txt")
    assert second == first


def test_duplicate_code_newest_document_wins(pipeline_env):
    newer = pipeline_env.documents_dir / "zz_32994_revised.txt"
    newer.write_text(good("32994"))
    old = time.time() - 3600
    os.utime(pipeline_env.documents_dir / "000_39b65fcce32c74e2.txt", (old, old))
    run_pipeline(pipeline_env, "group:core")
    assert pipeline_env.query("SELECT document_id FROM core.codes WHERE code = '32994'") == [("zz_32994_revised.txt",)]
    [(status, code, declared, problems)] = pipeline_env.query(
        "SELECT status, code, declared_code, problems FROM core.documents WHERE document_id = '000_39b65fcce32c74e2.txt'"
    )
    assert (status, code, declared) == ("rejected", None, "32994")
    assert "superseded" in problems and "zz_32994_revised.txt" in problems
    assert pipeline_env.query("SELECT count(*) FROM core.code_payers WHERE code = '32994'") == [(3,)]


def test_unresolved_payer_is_kept_and_flagged(pipeline_env):
    run_pipeline(pipeline_env, "group:core")
    rows = pipeline_env.query(
        "SELECT p.payer_name, p.is_resolved, cp.code FROM core.payers p JOIN core.code_payers cp USING (payer_id) "
        "WHERE NOT p.is_resolved"
    )
    assert rows == [("Regional Health Plan of Example County", False, "20983")]


def test_contract_check_fails_and_shows_failing_rows(pipeline_env):
    """The blocking checks can fail: tamper with the written tables and evaluate them."""
    run_pipeline(pipeline_env, "group:core")
    con = duckdb.connect(str(pipeline_env.warehouse_path))
    con.execute(
        "CREATE OR REPLACE TABLE core.codes AS SELECT * FROM core.codes UNION ALL "
        "SELECT * REPLACE ('BAD!' AS code, 'ICD' AS code_system) FROM core.codes LIMIT 100"
    )
    con.execute("DELETE FROM core.payers WHERE payer_id = 'aetna'")
    codes = report_to_check_result(evaluate_contract(con, CONTRACTS_BY_TABLE["core.codes"]))
    refs = report_to_check_result(evaluate_references(con, CONTRACTS_BY_TABLE["core.code_payers"]))
    [(aetna_rows,)] = con.execute("SELECT count(*) FROM core.code_payers WHERE payer_id = 'aetna'").fetchall()
    con.close()
    [(tampered,)] = pipeline_env.query("SELECT count(*) FROM core.codes")
    bad = tampered // 2
    assert not codes.passed
    hits = codes.metadata["hits_per_rule"].value
    assert hits["code fullmatch"] == hits["code_system isin"] == bad
    assert hits["duplicate key (code)"] == 1  # one key, 'BAD!', held by every tampered row
    assert codes.metadata["failing_rows"].value == bad  # each tampered row once, whatever it breaks
    sample = codes.metadata["sample"]
    assert [c.name for c in sample.schema.columns] == ["code", "failed_rules", "row"]
    assert {r.data["code"] for r in sample.records} == {"BAD!"}
    assert "code fullmatch" in sample.records[0].data["failed_rules"]
    assert f"code fullmatch: {bad:,} rows" in codes.description
    assert not refs.passed
    assert refs.metadata["hits_per_rule"].value == {"payer_id is not in core.payers.payer_id": 1}  # one value
    assert refs.metadata["failing_rows"].value == aetna_rows > 1  # every row holding it
    [key_columns, rows] = _sample_keys(refs.metadata["sample"], ["code", "payer_id"])
    assert key_columns == ["code", "payer_id"]  # the row's key, not only the bad value
    assert {payer for _, payer in rows} == {"aetna"} and all(code for code, _ in rows)


def test_one_row_breaking_two_rules_is_one_failing_row(pipeline_env):
    run_pipeline(pipeline_env, "group:core")
    con = duckdb.connect(str(pipeline_env.warehouse_path))
    # A valid HCPCS-shaped code and system; a laterality and an approach outside their lists: two column rules.
    con.execute(
        "INSERT INTO core.codes SELECT * REPLACE ('C9999' AS code, 'HCPCS' AS code_system, "
        "'sideways' AS laterality, 'telepathic' AS approach) FROM core.codes WHERE code = '32994'"
    )
    result = report_to_check_result(evaluate_contract(con, CONTRACTS_BY_TABLE["core.codes"]))
    con.close()
    assert not result.passed
    assert result.metadata["failing_rows"].value == 1
    assert result.metadata["hits_per_rule"].value == {"laterality isin": 1, "approach isin": 1}
    [columns, rows] = _sample_keys(result.metadata["sample"], ["code", "failed_rules"])
    assert columns[0] == "code"
    assert rows == [("C9999", "laterality isin; approach isin")]
    assert result.description.startswith("core.codes: 1 failing row (")


def _sample_keys(sample, columns: list[str]) -> tuple[list[str], list[tuple]]:
    """The sample's column names, and the given columns of each of its rows."""
    assert sample.schema is not None
    return [c.name for c in sample.schema.columns][: len(columns)], [
        tuple(r.data[c] for c in columns) for r in sample.records
    ]


def test_rows_failing_the_contract_never_reach_the_table(pipeline_env, monkeypatch):
    """A row the parser let through but the contract forbids goes to core.rejected_rows, and its document is partial."""
    from pipeline.core import corpus

    real = corpus.build_core_rows

    def with_bad_row(*args, **kwargs):
        rows = real(*args, **kwargs)
        rows["code_care_sites"].append(
            {
                "code": "32994",
                "care_site_id": "office",
                "name_in_document": "office",
                "source": "hallway",
                "document_id": "000_39b65fcce32c74e2.txt",
            }
        )
        return rows

    monkeypatch.setattr("pipeline.documents.workers.build_core_rows", with_bad_row)
    result = run_pipeline(pipeline_env, "group:core")
    assert result.success
    assert pipeline_env.query("SELECT count(*) FROM core.code_care_sites WHERE source = 'hallway'") == [(0,)]
    [(table, source, reasons, legacy)] = pipeline_env.query(
        "SELECT table_name, source_file, reasons, reason FROM core.rejected_rows"
    )
    assert table == "core.code_care_sites" and source == "000_39b65fcce32c74e2.txt"
    assert "source isin (value 'hallway')" in reasons and legacy == reasons
    [(status, problems)] = pipeline_env.query(
        "SELECT status, problems FROM core.documents WHERE document_id = '000_39b65fcce32c74e2.txt'"
    )
    assert status == "partial" and "core.code_care_sites row was not loaded" in problems


def _stable_rows(table: str) -> str:
    """All rows, minus the run timestamp, in a deterministic order."""
    exclude = " EXCLUDE (parsed_at)" if table == "core.documents" else ""
    return f"SELECT *{exclude} FROM {table} ORDER BY ALL"


def test_row_rules_are_enforced_before_writing(pipeline_env, monkeypatch):
    """A HCPCS-shaped code labelled CPT passes the column checks but fails the code/system row rule."""
    from pipeline.core import corpus

    real = corpus.build_core_rows

    def mislabelled(*args, **kwargs):
        rows = real(*args, **kwargs)
        for row in rows["codes"]:
            if row["code"] == "C9751":
                row["code_system"] = "CPT"
        return rows

    monkeypatch.setattr("pipeline.documents.workers.build_core_rows", mislabelled)
    assert run_pipeline(pipeline_env, "group:core").success
    assert pipeline_env.query("SELECT count(*) FROM core.codes WHERE code = 'C9751'") == [(0,)]
    [(reason,)] = pipeline_env.query("SELECT reasons FROM core.rejected_rows WHERE table_name = 'core.codes'")
    assert "row rule 'code matches code_system'" in reason
    # Its bridges cannot reference a code that was not loaded, so they are held back too, with the reason.
    assert pipeline_env.query("SELECT count(*) FROM core.code_payers WHERE code = 'C9751'") == [(0,)]
    assert pipeline_env.query(
        "SELECT count(*) > 0 FROM core.rejected_rows WHERE table_name = 'core.code_payers' AND reasons LIKE '%code ''C9751'' is not in core.codes.code%'"
    ) == [(True,)]
    [(status,)] = pipeline_env.query(
        "SELECT status FROM core.documents WHERE document_id = 'C9751_bronchoscopic_microwave.txt'"
    )
    assert status == "partial"


def test_a_primary_and_add_on_document_loads_both_codes_with_their_own_modifiers_and_shared_payers(pipeline_env):
    from tests.core.test_multi_code_documents import ADD_ON, ADD_ON_ROWS, PAYERS, PRIMARY_ROWS, SUMMARY, table

    text = SUMMARY.format(payer_sentence=PAYERS) + ADD_ON + "Coding Specifications\n"
    text += table(PRIMARY_ROWS, "Modifiers for CPT 22551") + "\n" + table(ADD_ON_ROWS, "Modifiers for CPT 22552")
    (pipeline_env.documents_dir / "22551_22552_acdf.txt").write_text(text)
    result = run_pipeline(pipeline_env, "group:core")
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert pipeline_env.query(
        "SELECT code, document_id, document_status FROM core.codes WHERE code IN ('22551', '22552') ORDER BY code"
    ) == [("22551", "22551_22552_acdf.txt", "parsed"), ("22552", "22551_22552_acdf.txt", "parsed")]
    assert pipeline_env.query(
        "SELECT code, list(modifier_code ORDER BY line_number) FROM core.code_modifiers "
        "WHERE code IN ('22551', '22552') GROUP BY code ORDER BY code"
    ) == [("22551", ["00", "62"]), ("22552", ["00", "80"])]
    assert pipeline_env.query(
        "SELECT code, list(payer_id ORDER BY payer_id) FROM core.code_payers "
        "WHERE code IN ('22551', '22552') GROUP BY code ORDER BY code"
    ) == [("22551", ["aetna", "humana", "medicare"]), ("22552", ["aetna", "humana", "medicare"])]
    assert pipeline_env.query(
        "SELECT code, list(care_site_id ORDER BY care_site_id) FROM core.code_care_sites "
        "WHERE code IN ('22551', '22552') GROUP BY code ORDER BY code"
    ) == [
        ("22551", ["ambulatory_surgery_center", "inpatient_hospital"]),
        ("22552", ["ambulatory_surgery_center", "inpatient_hospital"]),
    ]
    assert pipeline_env.query(
        "SELECT code, ordinal FROM core.document_codes WHERE document_id = '22551_22552_acdf.txt' ORDER BY ordinal"
    ) == [("22551", 0), ("22552", 1)]
    assert pipeline_env.query("SELECT status, code FROM core.documents WHERE document_id = '22551_22552_acdf.txt'") == [
        ("parsed", "22551")
    ]
    # Every loaded code is in the bridge, and every bridge row is a loaded code of its document.
    assert pipeline_env.query(
        "SELECT count(*) FROM core.codes c FULL JOIN core.document_codes d USING (code, document_id) "
        "WHERE c.code IS NULL OR d.code IS NULL"
    ) == [(0,)]


def test_contract_check_fails_on_a_column_of_another_type_or_missing(tmp_path):
    """The types part of the check: a column of another type and a missing column fail it, and no row is
    checked then; the same table as the contract writes it passes."""
    contract = CONTRACTS_BY_TABLE["core.codes"]
    con = duckdb.connect(str(tmp_path / "types.duckdb"))
    con.execute("CREATE SCHEMA core")
    con.execute(contract.create_table_sql())
    con.execute(
        "INSERT INTO core.codes (code, code_system, document_id, document_status) VALUES (?, ?, ?, ?)",
        ["32994", "CPT", "doc", "parsed"],
    )
    as_written = report_to_check_result(evaluate_contract(con, contract))
    con.execute("ALTER TABLE core.codes ALTER COLUMN title TYPE INTEGER USING NULL")
    con.execute("ALTER TABLE core.codes DROP COLUMN approach")
    altered = report_to_check_result(evaluate_contract(con, contract))
    con.close()
    assert as_written.passed, as_written.description
    assert not altered.passed
    assert altered.metadata["failing_columns"].value == 2
    assert "failing_rows" not in altered.metadata
    assert altered.metadata["hits_per_rule"].value == {"columns and types match the contract": 2}
    assert [r.data for r in altered.metadata["sample"].records] == [
        {"column": "title", "expected": "VARCHAR", "actual": "INTEGER"},
        {"column": "approach", "expected": "VARCHAR", "actual": "missing"},
    ]
