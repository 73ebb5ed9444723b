"""The blocking contract check scans only utilization partitions that no load or earlier check verified."""

from __future__ import annotations

import random
import shutil

import dagster as dg
import duckdb
import pytest

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.definitions import ASSETS, CHECKS
from pipeline.defs.asset_specs import asset_key
from pipeline.defs.resources import LimitsResource, SourcesResource
from pipeline.validation import verified_partitions
from pipeline.validation.contract_checks import evaluate_contract
from tests.conftest import REFERENCE, run_pipeline
from tests.synthetic.cms import GEO_HEADER, geo_rows, write_csv

GEO_TABLE = "utilization.physician_geo_service"
GEO_2023 = "MUP_PHY_R25_P05_V20_D23_Geo.csv"
GEO_2022 = "MUP_PHY_R24_P05_V10_D22_Geo.csv"


def contract_check(result, table: str = GEO_TABLE):
    key = asset_key(CONTRACTS_BY_TABLE[table])
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "contract" and e.asset_key == key
    ]
    return evaluation


def evaluate(env, *, full_scan: bool = False):
    """As the pipeline's check does: read-write, recording what a passing scan covered."""
    con = duckdb.connect(str(env.warehouse_path))
    try:
        return evaluate_contract(con, CONTRACTS_BY_TABLE[GEO_TABLE], full_scan=full_scan, record_verified=True)
    finally:
        con.close()


def execute(env, sql: str) -> None:
    con = duckdb.connect(str(env.warehouse_path))
    try:
        con.execute(sql)
    finally:
        con.close()


def test_a_clean_load_is_verified_in_its_transaction_and_the_check_scans_nothing(pipeline_env):
    result = run_pipeline(pipeline_env, "group:utilization")
    check = contract_check(result)
    rows = pipeline_env.query(f"SELECT count(*) FROM {GEO_TABLE}")[0][0]
    assert check.passed and rows > 0
    assert check.metadata["rows_checked"].value == rows
    assert check.metadata["rows_scanned"].value == 0
    assert "rules not re-evaluated" in check.description
    assert pipeline_env.query(
        f"SELECT source_file, data_year, row_count, verified_by FROM {verified_partitions.TABLE}"
    ) == [(GEO_2023, 2023, rows, "load")]


def test_rows_added_behind_the_loader_are_scanned_and_fail_the_check(pipeline_env):
    run_pipeline(pipeline_env, "group:utilization")
    execute(
        pipeline_env,
        f"INSERT INTO {GEO_TABLE} SELECT * REPLACE ('9999X' AS hcpcs_code) FROM {GEO_TABLE} "
        "WHERE geo_level = 'National' LIMIT 1",
    )
    report = evaluate(pipeline_env)
    assert not report.passed
    assert [r.rule for r in report.failures] == ["hcpcs_code fullmatch"]
    assert report.rows_scanned == report.rows  # the one partition no longer matches its record: scanned whole
    # A failing scan records nothing: the next check scans it again.
    assert evaluate(pipeline_env).rows_scanned == report.rows


def test_only_the_changed_year_is_scanned_and_a_passing_scan_is_recorded(pipeline_env):
    write_csv(pipeline_env.utilization_dir / GEO_2022, GEO_HEADER, geo_rows(random.Random(1), 2022))
    run_pipeline(pipeline_env, "group:utilization")
    execute(pipeline_env, f"DELETE FROM {verified_partitions.TABLE} WHERE data_year = 2022")
    rows_2022 = pipeline_env.query(f"SELECT count(*) FROM {GEO_TABLE} WHERE data_year = 2022")[0][0]

    report = evaluate(pipeline_env)
    assert report.passed and report.rows_scanned == rows_2022 < report.rows
    assert "data years 2022" in report.summary()
    assert evaluate(pipeline_env).rows_scanned == 0  # recorded by the passing check


def test_a_load_that_moved_rows_leaves_its_partition_to_the_check(pipeline_env):
    rows = geo_rows(random.Random(3), 2023)
    rows[0][3] = "BAD"  # HCPCS_Cd
    write_csv(pipeline_env.utilization_dir / GEO_2023, GEO_HEADER, rows)
    result = run_pipeline(pipeline_env, "group:utilization")
    check = contract_check(result)
    assert check.passed
    assert check.metadata["rows_scanned"].value == check.metadata["rows_checked"].value > 0
    assert pipeline_env.query(f"SELECT verified_by FROM {verified_partitions.TABLE}") == [("contract check",)]


def test_a_changed_contract_or_a_full_scan_ignores_the_records(pipeline_env):
    run_pipeline(pipeline_env, "group:utilization")
    assert evaluate(pipeline_env).rows_scanned == 0
    # A row changed in place keeps the count: only a full scan (the audit setting) sees it.
    execute(
        pipeline_env, f"UPDATE {GEO_TABLE} SET hcpcs_code = '9999X' WHERE rowid = (SELECT min(rowid) FROM {GEO_TABLE})"
    )
    assert evaluate(pipeline_env).passed
    audit = evaluate(pipeline_env, full_scan=True)
    assert not audit.passed and audit.rows_scanned == audit.rows
    execute(pipeline_env, f"UPDATE {verified_partitions.TABLE} SET contract_digest = 'older-contract'")
    assert not evaluate(pipeline_env).passed


@pytest.mark.parametrize("value", ["1", "true"])
def test_the_full_scan_setting_is_read_from_the_environment(monkeypatch, value):
    monkeypatch.setenv(verified_partitions.FULL_SCAN_ENV, value)
    assert LimitsResource.from_env().contract_checks_full_scan
    monkeypatch.setenv(verified_partitions.FULL_SCAN_ENV, "0")
    assert not LimitsResource.from_env().contract_checks_full_scan


def test_replacing_or_removing_a_file_withdraws_its_record(pipeline_env):
    write_csv(pipeline_env.utilization_dir / GEO_2022, GEO_HEADER, geo_rows(random.Random(1), 2022))
    run_pipeline(pipeline_env, "group:utilization")
    years = f"SELECT data_year, verified_by FROM {verified_partitions.TABLE} ORDER BY 1"
    assert pipeline_env.query(years) == [(2022, "load"), (2023, "load")]
    rows = geo_rows(random.Random(4), 2022)
    rows[0][3] = "BAD"
    write_csv(pipeline_env.utilization_dir / GEO_2022, GEO_HEADER, rows)
    run_pipeline(pipeline_env, "group:utilization")
    assert pipeline_env.query(years) == [(2022, "contract check"), (2023, "load")]
    (pipeline_env.utilization_dir / GEO_2022).unlink()
    run_pipeline(pipeline_env, "group:utilization")
    assert pipeline_env.query(years) == [(2023, "load")]


def test_only_partitioned_single_key_tables_use_records():
    assert verified_partitions.is_partitioned(CONTRACTS_BY_TABLE[GEO_TABLE])
    assert verified_partitions.is_partitioned(CONTRACTS_BY_TABLE["utilization.physician_provider_service"])
    assert not verified_partitions.is_partitioned(CONTRACTS_BY_TABLE["core.codes"])
    assert not verified_partitions.is_partitioned(CONTRACTS_BY_TABLE["utilization.source_files"])


def test_a_geography_edit_retypes_rows_in_place_and_the_check_scans_them_again(pipeline_env, tmp_path):
    reference = tmp_path / "reference"
    shutil.copytree(REFERENCE, reference)
    resources = pipeline_env.resources | {
        "sources": SourcesResource(
            documents_dir=str(pipeline_env.documents_dir),
            utilization_dir=str(pipeline_env.utilization_dir),
            reference_dir=str(reference),
        )
    }
    assert dg.materialize([*ASSETS, *CHECKS], resources=resources).success
    published = "SELECT count(*) FROM utilization.physician_geo_service WHERE geo_code = '06' AND geo_type = 'national'"
    # California typed "national" breaks the row rule tying geo_code to geo_level once its rows are retyped.
    csv = reference / "geographies.csv"
    csv.write_text(csv.read_text().replace("06,California,state", "06,California,national"))
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources, raise_on_error=False)
    check = contract_check(result)
    assert not check.passed
    assert "geo_code matches geo_level" in check.description
    assert pipeline_env.query(published, serving=True) == [(0,)]  # blocked: the snapshot keeps the old rows


def test_evaluating_on_a_read_only_connection_writes_nothing(pipeline_env):
    run_pipeline(pipeline_env)
    for path in (pipeline_env.warehouse_path, pipeline_env.serving_path):
        con = duckdb.connect(str(path), read_only=True)
        try:
            report = evaluate_contract(con, CONTRACTS_BY_TABLE[GEO_TABLE], full_scan=True)
        finally:
            con.close()
        assert report.passed and report.rows_scanned == report.rows > 0
