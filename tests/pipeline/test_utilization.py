"""Utilization loading and validation inside DuckDB."""

from __future__ import annotations

import os
import random

import pytest

from pipeline.testing.synthetic_cms import GEO_HEADER, PROVIDER_HEADER, geo_rows, provider_rows, write_csv
from pipeline.utilization.cms_layouts import DataYearError, UnknownLayoutError, data_year_from_name, recognize_layout
from tests.conftest import run_pipeline

GEO_2023 = "MUP_PHY_R25_P05_V20_D23_Geo.csv"


def national_row(code="32994", pos="F", **changes):
    row = dict(
        zip(
            GEO_HEADER,
            [
                "National",
                "",
                "National",
                code,
                "Ablate",
                "N",
                pos,
                "10",
                "100",
                "120.0",
                "120.0",
                "1500.00",
                "420.00",
                "334.00",
                "418.00",
            ],
            strict=True,
        )
    )
    row.update(changes)
    return [row[h] for h in GEO_HEADER]


def load(env):
    result = run_pipeline(env, "group:utilization")
    assert result.success
    return result


@pytest.mark.parametrize(
    ("name", "year"),
    [(GEO_2023, 2023), ("MUP_PHY_R24_P05_V10_D22_Prov_Svc.csv", 2022), ("physician_geo_2021.csv", 2021)],
)
def test_data_year_from_file_name(name, year):
    assert data_year_from_name(name) == year


def test_file_name_without_a_year_is_an_error():
    with pytest.raises(DataYearError, match="cannot tell the data year"):
        data_year_from_name("utilization.csv")


def test_layouts_are_recognized_and_unknown_headers_named():
    assert recognize_layout(GEO_HEADER).name == "geo_service"
    assert recognize_layout(PROVIDER_HEADER).name == "provider_service"
    with pytest.raises(UnknownLayoutError, match="missing: Tot_Benes; unexpected: Total_Beneficiaries"):
        recognize_layout([h if h != "Tot_Benes" else "Total_Beneficiaries" for h in GEO_HEADER])


def test_sample_loads_with_text_codes(pipeline_env):
    load(pipeline_env)
    [(status, loaded, quarantined, synthetic)] = pipeline_env.query(
        "SELECT status, rows_loaded, rows_quarantined, is_synthetic FROM utilization.source_files"
    )
    assert (status, quarantined, synthetic) == ("loaded", 0, True) and loaded > 40
    types = dict(
        pipeline_env.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'physician_geo_service'"
        )
    )
    assert types["hcpcs_code"] == types["geo_code"] == "VARCHAR"
    assert pipeline_env.query(
        "SELECT geo_code FROM utilization.physician_geo_service WHERE geo_desc = 'California' LIMIT 1"
    ) == [("06",)]


def test_broken_rows_are_quarantined_with_reasons_and_good_rows_load(pipeline_env):
    rows = [
        national_row("32994", "F"),
        national_row("32998", "F"),
        national_row("32X9", "F"),  # bad HCPCS
        national_row("20982", "F", Tot_Benes="-5"),  # negative count
        national_row("20983", "Q"),  # unknown Place_Of_Srvc
        national_row("47382", "F", Rndrng_Prvdr_Geo_Cd="06"),  # geo_code on a National row
        national_row("47383", "F", Rndrng_Prvdr_Geo_Lvl="State"),  # State row without geo_code
        national_row("50592", "F", Tot_Srvcs="lots"),  # not a number
        national_row("50593", "O"),
        national_row("50593", "O"),  # duplicate grain
    ]
    for path in pipeline_env.utilization_dir.iterdir():
        path.unlink()
    write_csv(pipeline_env.utilization_dir / GEO_2023, GEO_HEADER, rows)
    result = load(pipeline_env)
    loaded = pipeline_env.query("SELECT hcpcs_code FROM utilization.physician_geo_service ORDER BY 1")
    assert loaded == [("32994",), ("32998",)]
    reasons = dict(
        pipeline_env.query(
            "SELECT CASE WHEN line_number IS NULL THEN json_extract_string(row_data, '$.hcpcs_code') "
            "ELSE split_part(row_data, ',', 4) END, reasons "
            "FROM utilization.quarantine"
        )
    )
    assert "hcpcs_code str_matches" in reasons["32X9"]
    assert "total_beneficiaries greater_than_or_equal_to" in reasons["20982"]
    assert "place_of_service isin" in reasons["20983"]
    assert "geo_code matches geo_level" in reasons["47382"]
    assert "geo_code matches geo_level" in reasons["47383"]
    assert "unreadable row" in reasons["50592"] and "Tot_Srvcs" in reasons["50592"]
    assert "duplicate grain key" in reasons["50593"]
    assert pipeline_env.query("SELECT count(*) FROM utilization.quarantine") == [(8,)]
    assert pipeline_env.query("SELECT rows_loaded, rows_quarantined FROM utilization.source_files") == [(2, 8)]
    quarantine_check = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key.name == "no_quarantined_rows" and "geo" in e.asset_key.path[-1]
    ]
    assert not quarantine_check[0].passed
    assert quarantine_check[0].metadata["quarantined_rows"].value == 8
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "contract")


def test_wrong_header_is_reported_and_other_files_load(pipeline_env):
    bad_header = [h if h != "Place_Of_Srvc" else "Place_of_Service_Code" for h in GEO_HEADER]
    write_csv(pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D22_Geo.csv", bad_header, [national_row()])
    load(pipeline_env)
    rows = dict(
        (name, (status, error))
        for name, status, error in pipeline_env.query("SELECT file_name, status, error FROM utilization.source_files")
    )
    status, error = rows["MUP_PHY_R24_P05_V10_D22_Geo.csv"]
    assert status == "rejected"
    assert "missing: Place_Of_Srvc" in error and "unexpected: Place_of_Service_Code" in error
    assert rows[GEO_2023][0] == "loaded"
    assert pipeline_env.query("SELECT count(*) > 0 FROM utilization.physician_geo_service") == [(True,)]


def test_years_coexist_and_reloading_a_year_replaces_only_that_year(pipeline_env):
    write_csv(
        pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D22_Geo.csv", GEO_HEADER, geo_rows(random.Random(1), 2022)
    )
    load(pipeline_env)
    before = dict(pipeline_env.query("SELECT data_year, count(*) FROM utilization.physician_geo_service GROUP BY 1"))
    assert set(before) == {2022, 2023}
    write_csv(pipeline_env.utilization_dir / GEO_2023, GEO_HEADER, [national_row()])
    load(pipeline_env)
    after = dict(pipeline_env.query("SELECT data_year, count(*) FROM utilization.physician_geo_service GROUP BY 1"))
    assert after == {2022: before[2022], 2023: 1}


def test_unchanged_file_is_skipped_and_removed_file_is_forgotten(pipeline_env):
    load(pipeline_env)
    [(loaded_at,)] = pipeline_env.query("SELECT loaded_at FROM utilization.source_files")
    load(pipeline_env)
    assert pipeline_env.query("SELECT loaded_at FROM utilization.source_files") == [(loaded_at,)]
    os.remove(pipeline_env.utilization_dir / GEO_2023)
    load(pipeline_env)
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_geo_service") == [(0,)]
    assert pipeline_env.query("SELECT count(*) FROM utilization.source_files") == [(0,)]


def test_two_files_for_one_layout_and_year(pipeline_env):
    write_csv(pipeline_env.utilization_dir / "zz_geo_2023.csv", GEO_HEADER, [national_row()])
    load(pipeline_env)
    [(status, error)] = pipeline_env.query(
        "SELECT status, error FROM utilization.source_files WHERE file_name = 'zz_geo_2023.csv'"
    )
    assert status == "rejected" and "already provides geo_service data for 2023" in error


def test_provider_layout_loads_quoted_fields(pipeline_env):
    rows = list(provider_rows(500, random.Random(7)))
    rows[3][17] = "BAD"  # HCPCS_Cd
    write_csv(
        pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv", PROVIDER_HEADER, rows, quote_all=True
    )
    load(pipeline_env)
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_provider_service") == [(499,)]
    [(street, desc, zip5)] = pipeline_env.query(
        "SELECT provider_street1, hcpcs_desc, provider_zip5 FROM utilization.physician_provider_service WHERE npi = '1000000000' LIMIT 1"
    )
    assert "," in street and '"established"' in desc and len(zip5) == 5
    assert pipeline_env.query("SELECT count(*) FROM utilization.quarantine WHERE layout = 'provider_service'") == [(1,)]
