"""Marts over the sample documents and the synthetic utilization sample."""

from __future__ import annotations

import pytest

from tests.conftest import run_pipeline


@pytest.fixture
def built(pipeline_env):
    result = run_pipeline(pipeline_env, "group:core or group:utilization or group:marts")
    assert result.success
    return pipeline_env


def test_code_utilization_has_national_and_state_rows_for_32994(built):
    rows = built.query(
        "SELECT geo_level, place_of_service, care_sites, payer_count, title, is_synthetic FROM marts.code_utilization "
        "WHERE code = '32994' ORDER BY geo_level, geo_code NULLS FIRST, place_of_service"
    )
    levels = {r[0] for r in rows}
    assert levels == {"National", "State"}
    national = [r for r in rows if r[0] == "National"]
    assert [r[1] for r in national] == ["F", "O"]
    facility = national[0]
    assert facility[2] == ["Ambulatory surgery center", "Hospital outpatient department"]
    assert national[1][2] == []  # no documented office setting for 32994
    assert {r[3] for r in rows} == {5}
    assert all(r[5] for r in rows)


def test_code_utilization_grain_matches_the_geo_table(built):
    [(mart_rows,)] = built.query("SELECT count(*) FROM marts.code_utilization WHERE has_utilization")
    [(source_rows,)] = built.query(
        "SELECT count(*) FROM utilization.physician_geo_service WHERE hcpcs_code IN (SELECT code FROM core.codes)"
    )
    assert mart_rows == source_rows > 0


def test_code_without_utilization_appears_once_with_null_measures(built):
    rows = built.query(
        "SELECT place_of_service, total_services, has_utilization, payer_count FROM marts.code_utilization WHERE code = 'C9751'"
    )
    assert rows == [(None, None, False, 1)]


def test_office_care_site_matches_o_rows(built):
    rows = built.query(
        "SELECT DISTINCT place_of_service, care_sites FROM marts.code_utilization WHERE code = '20982' ORDER BY 1"
    )
    assert rows == [
        ("F", ["Ambulatory surgery center", "Hospital outpatient department"]),
        ("O", ["Office"]),
    ]


def test_code_overview_lists(built):
    [(modifiers, payers, care_sites, pos_codes)] = built.query(
        "SELECT modifiers, payers, care_sites, pos_codes FROM marts.code_overview WHERE code = '32994'"
    )
    assert modifiers == []  # only the '00' "no modifier" row, which is not a real modifier
    assert payers == ["Aetna", "Blue Cross Blue Shield", "Cigna Healthcare", "Medicare", "UnitedHealthcare"]
    assert care_sites == ["Ambulatory surgery center", "Hospital outpatient department"]
    assert pos_codes == ["19", "22", "24"]
    [(modifiers,)] = built.query("SELECT modifiers FROM marts.code_overview WHERE code = '50593'")
    assert modifiers == ["50", "LT", "RT"]
    assert built.query("SELECT count(*) FROM marts.code_overview") == built.query("SELECT count(*) FROM core.codes")
