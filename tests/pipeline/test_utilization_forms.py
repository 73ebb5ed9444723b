"""Every form users download CMS files in: pseudo-geographies, 29-column provider files, pre-2019 .txt,
.zip, .csv.gz, latin-1, and stray files. Expectations are derived from the fixture files themselves."""

from __future__ import annotations

import csv
import gzip
import random
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_pipeline
from tests.synthetic.cms import PROVIDER_HEADER, provider_rows, write_csv

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "utilization"
GEO_2022 = "MUP_PHY_R24_P04_V10_D22_Geo.csv"
PROVIDER_29 = "MUP_PHY_R23_P05_V10_D21_Prov_Svc.csv"
LEGACY_2014 = "Medicare_Provider_Util_Payment_PUF_CY2014.txt"  # tab-delimited, latin-1
LEGACY_2012 = "Medicare_Provider_Util_Payment_PUF_CY2012.txt"  # upper-case header, stdev columns
LEGACY_2012_ZIP = "Medicare_Provider_Util_Payment_PUF_CY2012.zip"
GZ_2023 = "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv.gz"
TWO_FILE_ZIP = "physician_2019_and_2020.zip"
# CMS State-level codes and their type (shared reference FACTS.md), blank-coded State rows are unknown.
EXPECTED_GEO_TYPE = {"06": "state", "11": "state", "48": "state", "66": "territory", "72": "territory",
                     "9A": "armed_forces", "9B": "armed_forces", "9C": "armed_forces", "9D": "unknown",
                     "9E": "foreign_country", "": "unknown"}  # fmt: skip


def fixture_rows(name: str, *, delimiter: str = ",", encoding: str = "utf-8") -> list[dict[str, str]]:
    with (FIXTURES / name).open(newline="", encoding=encoding) as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


# One worker runs this module (pytest-xdist loadgroup): its module-scoped pipeline run is made once.
pytestmark = pytest.mark.xdist_group("utilization_forms")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """One pipeline run over a folder holding every form, plus stray files."""
    from tests.conftest import PipelineEnv

    root = tmp_path_factory.mktemp("forms")
    folder = root / "utilization"
    folder.mkdir()
    for name in (GEO_2022, PROVIDER_29, LEGACY_2014):
        shutil.copy2(FIXTURES / name, folder / name)
    with zipfile.ZipFile(folder / LEGACY_2012_ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / LEGACY_2012, LEGACY_2012)
        archive.writestr("CPT_copyright_notice.pdf", b"%PDF-1.4 not data")
    with zipfile.ZipFile(folder / TWO_FILE_ZIP, "w") as archive:
        archive.writestr("physician_2019.csv", "a,b\n")
        archive.writestr("physician_2020.csv", "a,b\n")
    plain = write_csv(root / "plain.csv", PROVIDER_HEADER, provider_rows(300, random.Random(3)))
    with plain.open("rb") as source, gzip.open(folder / GZ_2023, "wb") as sink:
        shutil.copyfileobj(source, sink)
    (folder / "README.md").write_text("# notes about these downloads\n")
    env = PipelineEnv(root, root / "documents", folder, root / "wh" / "cpt.duckdb", root / "serving" / "cpt.duckdb")
    env.documents_dir.mkdir()
    result = run_pipeline(env, "group:utilization")
    assert result.success
    env.gz_rows = sum(1 for _ in csv.reader(plain.open())) - 1
    return env


def files(env) -> dict[str, dict]:
    cursor = env.query(
        "SELECT file_name, status, error, note, encoding, compression, file_form, rows_loaded, rows_quarantined "
        "FROM utilization.source_files"
    )
    keys = ("status", "error", "note", "encoding", "compression", "file_form", "rows_loaded", "rows_quarantined")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in cursor}


def test_every_entry_of_the_folder_is_recorded(loaded):
    recorded = files(loaded)
    assert set(recorded) == {p.name for p in loaded.utilization_dir.iterdir()}
    assert recorded["README.md"]["status"] == "skipped"
    assert recorded["README.md"]["error"].startswith("not a CMS utilization file: README.md")
    assert recorded[TWO_FILE_ZIP]["status"] == "rejected"
    assert (
        "physician_2019.csv" in recorded[TWO_FILE_ZIP]["error"]
        and "physician_2020.csv" in recorded[TWO_FILE_ZIP]["error"]
    )
    assert loaded.query("SELECT count(*) FROM utilization.quarantine") == [(0,)]


def test_geography_rows_load_with_their_geo_type(loaded):
    expected = fixture_rows(GEO_2022)
    rows = loaded.query(
        "SELECT geo_level, coalesce(geo_code, ''), hcpcs_code, place_of_service, geo_type, geo_code IS NULL "
        "FROM utilization.physician_geo_service WHERE data_year = 2022"
    )
    assert sorted(rows[:4] for rows in rows) == sorted(
        (r["Rndrng_Prvdr_Geo_Lvl"], r["Rndrng_Prvdr_Geo_Cd"], r["HCPCS_Cd"], r["Place_Of_Srvc"]) for r in expected
    )
    for level, code, _, _, geo_type, code_is_null in rows:
        assert code_is_null == (code == "")  # blank codes are NULL, never ''
        assert geo_type == ("national" if level == "National" else EXPECTED_GEO_TYPE[code])
    assert files(loaded)[GEO_2022]["rows_loaded"] == len(expected)


def test_geographies_table_counts_fifty_states_and_dc(loaded):
    counts = dict(loaded.query("SELECT geo_type, count(*) FROM utilization.geographies GROUP BY 1"))
    assert counts["state"] == 51 and counts["territory"] == 5 and counts["armed_forces"] == 3


def test_29_column_provider_file_keeps_gender(loaded):
    expected = {r["Rndrng_NPI"]: r["Rndrng_Prvdr_Gndr"] or None for r in fixture_rows(PROVIDER_29)}
    rows = loaded.query(
        "SELECT npi, provider_gender FROM utilization.physician_provider_service WHERE data_year = 2021"
    )
    assert dict(rows) == expected and files(loaded)[PROVIDER_29]["file_form"] == "CMS naming, 29 columns"


def test_legacy_latin1_text_file_loads_with_the_right_characters(loaded):
    expected = fixture_rows(LEGACY_2014, delimiter="\t", encoding="latin-1")
    rows = loaded.query(
        "SELECT npi, provider_last_org_name, provider_first_name, provider_zip5, total_services, "
        "avg_standardized_amount, provider_state_fips FROM utilization.physician_provider_service WHERE data_year = 2014"
    )
    assert sorted(rows) == sorted(
        (r["npi"], r["nppes_provider_last_org_name"], r["nppes_provider_first_name"], r["nppes_provider_zip"],
         float(r["line_srvc_cnt"]), float(r["average_Medicare_standard_amt"]), None)
        for r in expected
    )  # fmt: skip
    assert any("Ñ" in row[1] for row in rows)
    record = files(loaded)[LEGACY_2014]
    assert (record["status"], record["encoding"], record["rows_quarantined"]) == ("loaded", "latin-1", 0)
    assert "tab-delimited" in record["note"] and "read as latin-1" in record["note"]


def test_zipped_2012_file_ignores_stdev_columns_and_lacks_drug_indicator(loaded):
    expected = fixture_rows(LEGACY_2012, delimiter="\t")
    rows = loaded.query(
        "SELECT npi, hcpcs_code, avg_allowed_amount, drug_indicator, avg_standardized_amount "
        "FROM utilization.physician_provider_service WHERE data_year = 2012"
    )
    assert sorted(rows) == sorted(
        (r["NPI"], r["HCPCS_CODE"], float(r["AVERAGE_MEDICARE_ALLOWED_AMT"]), None, None) for r in expected
    )
    record = files(loaded)[LEGACY_2012_ZIP]
    assert record["compression"] == "zip" and f"read from zip member {LEGACY_2012}" in record["note"]
    stdev = [h for h in expected[0] if h.startswith("STDEV")]
    assert stdev and all(name in record["note"] for name in stdev)
    assert not list((loaded.warehouse_path.parent).rglob("unzipped-*")), "the unzipped member must be deleted"


def test_gzip_file_loads_through_duckdb(loaded):
    record = files(loaded)[GZ_2023]
    assert (record["status"], record["compression"], record["rows_loaded"]) == ("loaded", "gzip", loaded.gz_rows)


def test_every_loaded_table_passes_its_contract(loaded):
    result = run_pipeline(loaded, "group:utilization")
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)


def test_a_geo_type_edit_in_the_reference_reaches_rows_loaded_earlier(pipeline_env, tmp_path):
    import shutil

    from pipeline.defs.resources import SourcesResource

    reference = tmp_path / "reference_edit"
    shutil.copytree(pipeline_env.resources["sources"].reference_dir, reference)
    resources = pipeline_env.resources
    resources["sources"] = SourcesResource(
        documents_dir=str(pipeline_env.documents_dir),
        utilization_dir=str(pipeline_env.utilization_dir),
        reference_dir=str(reference),
    )
    import dagster as dg

    from pipeline.definitions import ASSETS, CHECKS

    def run():
        assert dg.materialize([*ASSETS, *CHECKS], resources=resources, selection="group:utilization").success

    run()
    assert pipeline_env.query(
        "SELECT DISTINCT geo_type FROM utilization.physician_geo_service WHERE geo_code = '06'"
    ) == [("state",)]
    csv = reference / "geographies.csv"
    csv.write_text(csv.read_text().replace("06,California,state", "06,California,territory"))
    run()
    assert pipeline_env.query(
        "SELECT DISTINCT geo_type FROM utilization.physician_geo_service WHERE geo_code = '06'"
    ) == [("territory",)]
