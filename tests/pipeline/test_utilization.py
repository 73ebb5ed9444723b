"""Utilization loading and validation inside DuckDB: layouts, years, rules, quarantine."""

from __future__ import annotations

import os
import random

import pytest

from pipeline.utilization.cms_layouts import (
    DataYearError,
    UnknownLayoutError,
    cms_release_from_name,
    data_year_from_name,
    recognize_layout,
)
from tests.conftest import run_pipeline
from tests.synthetic.cms import GEO_HEADER, PROVIDER_HEADER, geo_rows, provider_rows, write_csv

GEO_2023 = "MUP_PHY_R25_P05_V20_D23_Geo.csv"
NATIONAL = [
    "National", "", "National", "32994", "Ablate", "N", "F", "10", "100", "120.0", "120.0", "1500.00", "420.00",
    "334.00", "418.00",
]  # fmt: skip


def national_row(code="32994", pos="F", **changes):
    row = dict(zip(GEO_HEADER, NATIONAL, strict=True)) | {"HCPCS_Cd": code, "Place_Of_Srvc": pos}
    row.update(changes)
    return [row[h] for h in GEO_HEADER]


def load(env):
    result = run_pipeline(env, "group:utilization")
    assert result.success
    return result


def empty_folder(env):
    for path in env.utilization_dir.iterdir():
        path.unlink()


def source_files(env) -> dict[str, tuple]:
    rows = env.query("SELECT file_name, status, error, rows_loaded, rows_quarantined FROM utilization.source_files")
    return {name: rest for name, *rest in rows}


@pytest.mark.parametrize(
    ("name", "year"),
    [
        (GEO_2023, 2023),
        ("MUP_PHY_R24_P05_V10_D22_Prov_Svc.csv", 2022),
        ("PHY_R26_P05_V10_D24_Prov_Svc.csv", 2024),
        ("physician_geo_2021.csv", 2021),
        ("Medicare_Provider_Util_Payment_PUF_CY2013.zip", 2013),
    ],
)
def test_data_year_from_file_name(name, year):
    assert data_year_from_name(name) == year


@pytest.mark.parametrize(
    ("name", "release"),
    [(GEO_2023, (25, 5, 20)), ("PHY_R26_P05_V10_D24_Prov_Svc.csv.gz", (26, 5, 10)), ("Geo_2023.csv", None)],
)
def test_cms_release_from_file_name(name, release):
    assert cms_release_from_name(name) == release


def test_file_name_without_a_year_is_an_error():
    with pytest.raises(DataYearError, match="cannot tell the data year"):
        data_year_from_name("utilization.csv")


def test_layouts_are_recognized_and_unknown_headers_named():
    assert recognize_layout(GEO_HEADER).layout.name == "geo_service"
    assert recognize_layout(PROVIDER_HEADER).layout.name == "provider_service"
    assert recognize_layout([h.upper() for h in reversed(GEO_HEADER)]).layout.name == "geo_service"
    with pytest.raises(UnknownLayoutError, match="missing: Tot_Benes; unexpected: Total_Beneficiaries"):
        recognize_layout([h if h != "Tot_Benes" else "Total_Beneficiaries" for h in GEO_HEADER])
    with pytest.raises(UnknownLayoutError, match="repeated columns"):
        recognize_layout([*GEO_HEADER, "Tot_Benes"])


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
        "SELECT geo_code, geo_type FROM utilization.physician_geo_service WHERE geo_desc = 'California' LIMIT 1"
    ) == [("06", "state")]


# Each bad line, tagged in HCPCS_Desc, with every reason the quarantine must list for it.
BAD_LINES = {
    "no-code": ({"HCPCS_Cd": ""}, ["hcpcs_code is null"]),  # NOT NULL would refuse the whole file
    "bad-code": ({"HCPCS_Cd": "32X9"}, ["hcpcs_code fullmatch", "(value '32X9')"]),
    "letter-last": ({"HCPCS_Cd": "1234X"}, ["hcpcs_code fullmatch", "(value '1234X')"]),
    "negative": ({"HCPCS_Cd": "20982", "Tot_Benes": "-5"}, ["total_beneficiaries greater_than_or_equal_to"]),
    "two-faults": ({"HCPCS_Cd": "12", "Place_Of_Srvc": "Q"}, ["hcpcs_code fullmatch", "place_of_service isin"]),
    "code-on-national": ({"HCPCS_Cd": "47382", "Rndrng_Prvdr_Geo_Cd": "06"}, ["geo_code matches geo_level"]),
    "unknown-state": (
        {"HCPCS_Cd": "0581T", "Rndrng_Prvdr_Geo_Lvl": "State", "Rndrng_Prvdr_Geo_Cd": "99"},
        ["geo_code '99' is not in utilization.geographies.geo_code"],
    ),
    "two-unreadable": (
        {"HCPCS_Cd": "50592", "Tot_Srvcs": "lots", "Tot_Benes": "1,23"},  # "1,234" is a number (thousands)
        ["unreadable value", "Tot_Srvcs", "Tot_Benes"],
    ),
    "nan": ({"HCPCS_Cd": "20982", "Place_Of_Srvc": "O", "Tot_Srvcs": "NaN"}, ["total_services finite"]),
    "inf": ({"HCPCS_Cd": "20983", "Place_Of_Srvc": "O", "Avg_Mdcr_Alowd_Amt": "inf"}, ["avg_allowed_amount finite"]),
    "minus-inf": (
        {"HCPCS_Cd": "32998", "Place_Of_Srvc": "O", "Avg_Mdcr_Pymt_Amt": "-inf"},
        ["avg_payment_amount finite", "avg_payment_amount greater_than_or_equal_to"],
    ),
    "duplicate-1": (
        {"HCPCS_Cd": "50593", "Place_Of_Srvc": "O"},
        ["duplicate key (data_year, geo_level, geo_code, hcpcs_code, place_of_service)"],
    ),
    "duplicate-2": (
        {"HCPCS_Cd": "50593", "Place_Of_Srvc": "O"},
        ["duplicate key (data_year, geo_level, geo_code, hcpcs_code, place_of_service)"],
    ),
}
GOOD_LINES = {
    "national": {"HCPCS_Cd": "32994"},
    "hcpcs-level-2": {"HCPCS_Cd": "J9035", "HCPCS_Drug_Ind": "Y"},
    "cpt-category-3": {"HCPCS_Cd": "0581T"},
    "blank-state": {"HCPCS_Cd": "47383", "Rndrng_Prvdr_Geo_Lvl": "State", "Rndrng_Prvdr_Geo_Desc": ""},
    "armed-forces": {"HCPCS_Cd": "47383", "Rndrng_Prvdr_Geo_Lvl": "State", "Rndrng_Prvdr_Geo_Cd": "9B"},
}


def test_broken_lines_are_quarantined_once_with_every_reason_and_good_rows_load(pipeline_env):
    empty_folder(pipeline_env)
    lines = {tag: national_row(**changes, HCPCS_Desc=tag) for tag, changes in GOOD_LINES.items()}
    lines |= {tag: national_row(**changes, HCPCS_Desc=tag) for tag, (changes, _) in BAD_LINES.items()}
    write_csv(pipeline_env.utilization_dir / GEO_2023, GEO_HEADER, lines.values())
    result = load(pipeline_env)

    loaded = pipeline_env.query("SELECT hcpcs_desc FROM utilization.physician_geo_service")
    assert sorted(tag for (tag,) in loaded) == sorted(GOOD_LINES)
    quarantined = pipeline_env.query("SELECT row_data, reasons, table_name FROM utilization.quarantine")
    by_tag = {
        tag: (reasons, table)
        for data, reasons, table in quarantined
        for tag in BAD_LINES
        if f'"{tag}"' in data or f",{tag}," in data  # typed rows are JSON, unreadable lines raw CSV
    }
    assert len(quarantined) == len(BAD_LINES) == len(by_tag)
    for tag, (_, expected) in BAD_LINES.items():
        reasons, table = by_tag[tag]
        assert table == "utilization.physician_geo_service"
        assert all(part in reasons for part in expected), (tag, reasons)
    assert tuple(source_files(pipeline_env)[GEO_2023][2:]) == (len(GOOD_LINES), len(BAD_LINES))
    quarantine_check = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key.name == "no_quarantined_rows" and "geo" in e.asset_key.path[-1]
    ]
    assert not quarantine_check[0].passed
    assert quarantine_check[0].metadata["quarantined_rows"].value == len(BAD_LINES)
    assert all(
        e.passed for e in result.get_asset_check_evaluations() if e.asset_check_key.name != "no_quarantined_rows"
    )


def test_wrong_header_is_reported_and_other_files_load(pipeline_env):
    bad_header = [h if h != "Place_Of_Srvc" else "Place_of_Service_Code" for h in GEO_HEADER]
    write_csv(pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D22_Geo.csv", bad_header, [national_row()])
    load(pipeline_env)
    files = source_files(pipeline_env)
    status, error, *_ = files["MUP_PHY_R24_P05_V10_D22_Geo.csv"]
    assert status == "rejected"
    assert "missing: Place_Of_Srvc" in error and "unexpected: Place_of_Service_Code" in error
    assert files[GEO_2023][0] == "loaded"
    assert pipeline_env.query("SELECT count(*) > 0 FROM utilization.physician_geo_service") == [(True,)]


def test_years_coexist_and_reloading_a_year_replaces_only_that_year(pipeline_env, monkeypatch):
    write_csv(
        pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D22_Geo.csv", GEO_HEADER, geo_rows(random.Random(1), 2022)
    )
    load(pipeline_env)
    before = dict(pipeline_env.query("SELECT data_year, count(*) FROM utilization.physician_geo_service GROUP BY 1"))
    assert set(before) == {2022, 2023}
    write_csv(pipeline_env.utilization_dir / GEO_2023, GEO_HEADER, [national_row()])
    monkeypatch.setenv("CPT_ALLOW_SHRINK", "1")  # 60 rows -> 1: a deliberate shrink
    load(pipeline_env)
    after = dict(pipeline_env.query("SELECT data_year, count(*) FROM utilization.physician_geo_service GROUP BY 1"))
    assert after == {2022: before[2022], 2023: 1}


def test_unchanged_file_is_skipped_and_removed_file_is_forgotten(pipeline_env):
    write_csv(pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D22_Geo.csv", GEO_HEADER, [national_row()])
    load(pipeline_env)
    loaded_at = dict(pipeline_env.query("SELECT file_name, loaded_at FROM utilization.source_files"))
    load(pipeline_env)
    assert dict(pipeline_env.query("SELECT file_name, loaded_at FROM utilization.source_files")) == loaded_at
    os.remove(pipeline_env.utilization_dir / GEO_2023)
    load(pipeline_env)
    assert pipeline_env.query("SELECT DISTINCT source_file FROM utilization.physician_geo_service") == [
        ("MUP_PHY_R24_P05_V10_D22_Geo.csv",)
    ]
    assert set(source_files(pipeline_env)) == {"MUP_PHY_R24_P05_V10_D22_Geo.csv"}


def test_provider_layout_loads_quoted_fields(pipeline_env):
    rows = list(provider_rows(500, random.Random(7)))
    rows[3][17] = "BAD"  # HCPCS_Cd
    write_csv(
        pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv", PROVIDER_HEADER, rows, quote_all=True
    )
    load(pipeline_env)
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_provider_service") == [(499,)]
    [(street, desc, zip5, gender)] = pipeline_env.query(
        "SELECT provider_street1, hcpcs_desc, provider_zip5, provider_gender FROM utilization.physician_provider_service "
        "WHERE npi = '1000000000' LIMIT 1"
    )
    assert "," in street and '"established"' in desc and len(zip5) == 5 and gender is None
    assert pipeline_env.query(
        "SELECT count(*) FROM utilization.quarantine WHERE table_name = 'utilization.physician_provider_service'"
    ) == [(1,)]
