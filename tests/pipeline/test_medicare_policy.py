"""The medicare policy folder: fee schedules loaded from the layouts as CMS publishes them (fixtures are built
from those layouts: title lines, stacked headers, CRLF, Ctrl-Z, NA text, fixed-width txt, xlsx, money formats)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.medicare_policy.folder import load_folder, prepare_tables
from pipeline.medicare_policy.releases import pfs_release, quarter_release
from pipeline.settings import REPO_ROOT
from tests import medicare_policy_files as F

REFERENCE = REPO_ROOT / "sources" / "reference"
TITLE_2025 = F.pprrvu_title(2025, "October")
PROVENANCE = ("source_file", "source_member", "file_form", "line_number")


@pytest.fixture
def con():
    connection = duckdb.connect()
    prepare_tables(connection, REFERENCE)
    yield connection
    connection.close()


def load(con, folder: Path):
    outcomes, removed = load_folder(con, folder)
    return {o.file_name: o for o in outcomes}, removed


def pfs_rows(con, extra: str = "") -> list[tuple]:
    columns = "hcpcs_code, modifier, status_code, nonfacility_national_amount, facility_national_amount"
    return con.execute(
        f"SELECT {columns}{extra} FROM medicare.pfs_rvu ORDER BY hcpcs_code, modifier NULLS FIRST"
    ).fetchall()


def test_the_2025_october_release_gives_cms_national_amounts(con, tmp_path):
    csv = F.pprrvu_csv(F.ROWS_2025_OCT, title=TITLE_2025, ctrl_z=True)
    assert csv.count(b"\r\n") == 5 + 5 + len(F.ROWS_2025_OCT) + 1 and b"\x1a" in csv
    F.write(tmp_path / "RVU25D.zip", F.zipped({"PPRRVU2025_Oct.csv": csv}))
    outcomes, _ = load(con, tmp_path)
    assert outcomes["RVU25D.zip"].status == "loaded", outcomes["RVU25D.zip"]
    assert outcomes["RVU25D.zip"].release == "RVU25D"
    assert pfs_rows(con) == [
        ("32994", None, "A", 4456.05, 416.95),  # 137.76 and 12.89 x 32.3465
        ("47383", None, "A", 5468.82, 433.12),
        ("77013", None, "C", None, None),  # contractor-priced: no national amount
        ("77013", "26", "A", 175.32, 175.32),
    ]
    row = con.execute(
        "SELECT description, global_days, bilateral_indicator, facility_priced, conversion_factor, line_number, "
        "source_member FROM medicare.pfs_rvu WHERE hcpcs_code = '32994'"
    ).fetchone()
    assert row == (None, "000", "1", True, 32.3465, 11, "PPRRVU2025_Oct.csv")
    [(priced,)] = con.execute(
        "SELECT facility_priced FROM medicare.pfs_rvu WHERE hcpcs_code = '77013' AND modifier IS NULL"
    ).fetchall()
    assert priced is False  # NA in the facility NA indicator


def _facts(con) -> list[tuple]:
    columns = ", ".join(
        c for c in con.execute("SELECT * FROM medicare.pfs_rvu LIMIT 0").fetchdf().columns if c not in PROVENANCE
    )
    return con.execute(f"SELECT {columns} FROM medicare.pfs_rvu ORDER BY ALL").fetchall()


def test_csv_txt_and_xlsx_forms_of_one_release_give_identical_rows(tmp_path):
    rows = F.ROWS_2025_OCT + [F.pfs_row("G0105", "A", "3.26", "5.94", "1.87", "0.40", "9.60", "5.53", "32.3465",
                                        desc="Colorectal scrn; hi risk ind", glob="000", mod="53")]  # fmt: skip
    forms = {
        "PPRRVU2025_Oct.csv": F.pprrvu_csv(rows, title=TITLE_2025),
        "PPRRVU2025_Oct.txt": F.pprrvu_txt(rows, title="RVU25D"),
        "PPRRVU2025_Oct.xlsx": F.pprrvu_xlsx(rows, title=TITLE_2025),
    }
    facts = {}
    for name, data in forms.items():
        folder = F.write(tmp_path / name.rsplit(".")[1] / name, data).parent
        con = duckdb.connect()
        prepare_tables(con, REFERENCE)
        outcomes, _ = load(con, folder)
        assert outcomes[name].status == "loaded", outcomes[name]
        facts[name] = _facts(con)
        assert con.execute("SELECT DISTINCT file_form FROM medicare.pfs_rvu").fetchall() == [(name.rsplit(".")[1],)]
        con.close()
    assert len(facts["PPRRVU2025_Oct.csv"]) == len(rows)
    assert facts["PPRRVU2025_Oct.csv"] == facts["PPRRVU2025_Oct.txt"] == facts["PPRRVU2025_Oct.xlsx"]
    # Level II descriptions are kept, CPT ones never.
    kept = {r for r in facts["PPRRVU2025_Oct.csv"] if "Colorectal scrn; hi risk ind" in r}
    assert len(kept) == 1


def test_2026_qpp_and_non_qpp_files_load_side_by_side_with_the_pricing_indicator(con, tmp_path):
    title = F.pprrvu_title(2026, "January")
    rows = [
        F.pfs_row("32994", "A", "9.03", "127.79", "2.92", "0.94", "137.76", "12.89", cf, pricing="1")
        for cf in ("33.4009",)
    ]
    qpp = [dict(rows[0], cf="33.5675")]
    F.write(tmp_path / "PPRRVU2026_Jan_nonQPP.csv", F.pprrvu_csv(rows, title=title, pricing=True))
    F.write(tmp_path / "PPRRVU2026_Jan_QPP.csv", F.pprrvu_csv(qpp, title=title, pricing=True))
    outcomes, _ = load(con, tmp_path)
    assert {o.status for o in outcomes.values()} == {"loaded"}, outcomes
    assert con.execute(
        "SELECT release, conversion_factor_variant, pricing_indicator, conversion_factor, nonfacility_national_amount "
        "FROM medicare.pfs_rvu ORDER BY 2"
    ).fetchall() == [("RVU26A", "non_qpp", "1", 33.4009, 4601.31), ("RVU26A", "qpp", "1", 33.5675, 4624.26)]


def test_a_non_numeric_rvu_cell_is_quarantined_with_its_line_and_reason(con, tmp_path):
    rows = [dict(F.ROWS_2025_OCT[0], work="abc"), *F.ROWS_2025_OCT[1:]]
    F.write(tmp_path / "PPRRVU25_OCT.csv", F.pprrvu_csv(rows, title=TITLE_2025))
    outcomes, _ = load(con, tmp_path)
    outcome = outcomes["PPRRVU25_OCT.csv"]
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 3, 1)
    [(line, reasons, row_data)] = con.execute(
        "SELECT line_number, reasons, row_data FROM medicare.quarantine"
    ).fetchall()
    assert line == 11  # 5 title lines + 5 header lines, then the first data line
    assert reasons == "unreadable value: CAST in WORK RVU: not a number: 'abc'"
    assert '"abc"' in row_data and "32994" in row_data
    assert "32994" not in {r[0] for r in pfs_rows(con)}


def test_a_bad_money_cell_is_quarantined_and_addendum_b_quirks_are_read(con, tmp_path):
    rows = [
        F.opps_row("G0463", "J2", "5012", "1.4879", 136.02, None, 27.21, ira="20%"),
        F.opps_row("71046", "S", "5521", "0.9726", 88.91, 17.79, 17.79),
        F.opps_row("99284", "J2", "5024", "4.6634", 426.30, 85.26, 85.26),
        F.opps_row("77013", "N"),
    ]
    rows[2][5] = "$4x6.30"
    rows.append(["C9751\xff", "", "J1", "5155", "181.3307", '"$13,069.19 "', ".", "$2,613.84", "", "", "", "", ""])
    data = F.addendum_b_csv(rows[:4], month_year="January 2026").replace(b"\r\n", b"\n")
    data += '\nC9751\xff,Microwave bronch,J1,5155,181.3307,"$13,069.19 ",.,"$2,613.84",,,,,\n'.encode("latin-1")
    F.write(tmp_path / "addendum b.csv", data)
    outcomes, _ = load(con, tmp_path)
    outcome = outcomes["addendum b.csv"]
    assert (outcome.status, outcome.release, outcome.rows_loaded, outcome.rows_quarantined) == (
        "loaded",
        "2026-01",
        4,
        1,
    )
    assert "stray non-printing byte" in outcome.note
    assert con.execute("SELECT encoding FROM medicare.source_files").fetchall() == [("latin-1",)]
    assert con.execute(
        "SELECT hcpcs_code, status_indicator, apc, payment_rate, national_unadjusted_copayment, ira_coinsurance_percent, "
        "description FROM medicare.opps_rates ORDER BY 1"
    ).fetchall() == [
        ("71046", "S", "5521", 88.91, 17.79, None, None),
        ("77013", "N", None, None, None, None, None),
        ("C9751", "J1", "5155", 13069.19, None, None, "Microwave bronch"),
        ("G0463", "J2", "5012", 136.02, None, 20.0, None),
    ]
    [(reasons,)] = con.execute("SELECT reasons FROM medicare.quarantine").fetchall()
    assert reasons == "unreadable value: CAST in Payment Rate: not a number: '$4x6.30'"


def test_addendum_aa_takes_its_release_from_the_rate_column(con, tmp_path):
    rows = [F.aa_row("64628", "J8", "175.6211", 9891.33), F.aa_row("77013", "N1")]
    F.write(tmp_path / "aa.csv", F.addendum_aa_csv(rows, month_year="April 2026"))
    outcomes, _ = load(con, tmp_path)
    assert (outcomes["aa.csv"].status, outcomes["aa.csv"].release) == ("loaded", "2026-04")
    assert con.execute(
        "SELECT hcpcs_code, payment_indicator, payment_weight, payment_rate, subject_to_multiple_procedure_discount "
        "FROM medicare.asc_rates ORDER BY 1"
    ).fetchall() == [("64628", "J8", 175.6211, 9891.33, True), ("77013", "N1", None, None, True)]


def test_an_unknown_layout_is_skipped_naming_its_header(con, tmp_path):
    F.write(tmp_path / "GPCI2025.csv", b"Medicare Administrative Contractor,State,Locality Number\r\n01112,CA,05\r\n")
    F.write(tmp_path / "RVU25D.zip", F.zipped({"GPCI2025.csv": b"Medicare Admin,State\r\n", "RVU25D.pdf": b"%PDF"}))
    outcomes, _ = load(con, tmp_path)
    gpci = outcomes["GPCI2025.csv"]
    assert gpci.status == "skipped"
    assert "Medicare Administrative Contractor,State,Locality Number" in gpci.error
    assert (
        outcomes["RVU25D.zip"].status == "skipped"
        and "GPCI2025.csv (header: 'Medicare Admin,State')" in outcomes["RVU25D.zip"].error
    )


def test_a_file_without_a_release_is_rejected(con, tmp_path):
    F.write(
        tmp_path / "rates.csv", F.addendum_b_csv([F.opps_row("G0463", "J2", "5012", "1.4879", 136.02)], month_year=None)
    )
    outcomes, _ = load(con, tmp_path)
    assert outcomes["rates.csv"].status == "rejected" and "without a release" in outcomes["rates.csv"].error


def _disagreeing() -> tuple[bytes, bytes]:
    other = [dict(F.ROWS_2025_OCT[0], nf_total="137.77"), *F.ROWS_2025_OCT[1:]]
    return F.pprrvu_csv(F.ROWS_2025_OCT, title=TITLE_2025), F.pprrvu_csv(other, title=TITLE_2025)


def test_two_disagreeing_files_arriving_together_are_both_rejected_naming_each_other(con, tmp_path):
    first, second = _disagreeing()
    F.write(tmp_path / "a.csv", first)
    F.write(tmp_path / "b.csv", second)
    outcomes, _ = load(con, tmp_path)
    assert {name: o.status for name, o in outcomes.items()} == {"a.csv": "rejected", "b.csv": "rejected"}
    assert "b.csv" in outcomes["a.csv"].error and "a.csv" in outcomes["b.csv"].error
    assert "neither is loaded" in outcomes["a.csv"].error
    assert pfs_rows(con) == []


def test_a_disagreeing_newcomer_is_rejected_and_the_earlier_load_stays(con, tmp_path):
    first, second = _disagreeing()
    F.write(tmp_path / "a.csv", first)
    load(con, tmp_path)
    F.write(tmp_path / "b.csv", second)
    outcomes, _ = load(con, tmp_path)
    assert outcomes["a.csv"].status == "loaded" and outcomes["a.csv"].unchanged
    assert outcomes["b.csv"].status == "rejected"
    assert "a.csv" in outcomes["b.csv"].error and "loaded in an earlier run and stays" in outcomes["b.csv"].error
    assert {r[3] for r in pfs_rows(con) if r[0] == "32994"} == {4456.05}
    assert con.execute("SELECT DISTINCT source_file FROM medicare.pfs_rvu").fetchall() == [("a.csv",)]


def test_an_agreeing_copy_is_skipped_naming_the_holder(con, tmp_path):
    first, _ = _disagreeing()
    F.write(tmp_path / "a.csv", first)
    F.write(tmp_path / "b.xlsx", F.pprrvu_xlsx(F.ROWS_2025_OCT, title=TITLE_2025))
    outcomes, _ = load(con, tmp_path)
    assert outcomes["a.csv"].status == "loaded"
    assert outcomes["b.xlsx"].status == "skipped" and "same rows as a.csv" in outcomes["b.xlsx"].error


def test_a_changed_file_is_reloaded_and_a_removed_files_rows_leave(con, tmp_path):
    first, second = _disagreeing()
    path = F.write(tmp_path / "a.csv", first)
    F.write(tmp_path / "aa.csv", F.addendum_aa_csv([F.aa_row("64628", "J8", "175.6211", 9891.33)]))
    load(con, tmp_path)
    path.write_bytes(second)
    outcomes, _ = load(con, tmp_path)
    assert outcomes["a.csv"].status == "loaded" and not outcomes["a.csv"].unchanged
    assert {r[3] for r in pfs_rows(con) if r[0] == "32994"} == {round(137.77 * 32.3465, 2)}
    path.unlink()
    outcomes, removed = load(con, tmp_path)
    assert removed == ["a.csv"] and "a.csv" not in outcomes
    assert pfs_rows(con) == []
    assert con.execute("SELECT count(*) FROM medicare.asc_rates").fetchone() == (1,)
    assert con.execute("SELECT file_name FROM medicare.source_files").fetchall() == [("aa.csv",)]


def test_an_unchanged_folder_changes_no_table(con, tmp_path):
    F.write(tmp_path / "a.csv", _disagreeing()[0])
    F.write(tmp_path / "README.md", b"notes")
    load(con, tmp_path)
    before = con.execute(
        "SELECT table_name, max(version) FROM internal.table_change_log GROUP BY 1 ORDER BY 1"
    ).fetchall()
    load(con, tmp_path)
    after = con.execute(
        "SELECT table_name, max(version) FROM internal.table_change_log GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert before == after


@pytest.mark.parametrize(
    ("title", "names", "expected"),
    [
        ("2025 NATIONAL PHYSICIAN FEE SCHEDULE RELATIVE VALUE FILE OCTOBER RELEASE", ["x.csv"], ("RVU25D", "title")),
        ("RVU24AR", ["x.csv"], ("RVU24AR", "title")),
        ("NATIONAL PHYSICIAN FEE SCHEDULE", ["PPRRVU25_JAN.csv", "RVU25A.zip"], ("RVU25A", "name")),
        ("", ["PPRRVU2025_Oct.txt"], ("RVU25D", "name")),
        ("", ["rvu26c-updated-06-30-2026.zip"], ("RVU26C", "name")),
    ],
)
def test_the_pfs_release_rule(title, names, expected):
    release = pfs_release(title, names)
    assert (release.label, release.origin) == expected


def test_the_quarter_release_rule():
    assert quarter_release(["April 2026 Payment Rate"], ["x.csv"]).label == "2026-04"
    assert quarter_release([""], ["2026 January Web Addendum B.12.29.25.csv"]).label == "2026-01"
    assert quarter_release([""], ["january-2025-opps-addendum-b.zip"]).label == "2025-01"
    assert quarter_release(["CY 2025"], ["addendum.csv"]) is None


def test_the_asset_loads_the_folder_with_blocking_checks(tmp_path):
    from pipeline.defs.assets.medicare_policy import MEDICARE_CHECKS, medicare_policy_tables
    from pipeline.defs.resources import SourcesResource, WarehouseResource

    folder = tmp_path / "medicare_policy"
    F.write(folder / "RVU25D.zip", F.zipped({"PPRRVU2025_Oct.csv": F.pprrvu_csv(F.ROWS_2025_OCT, title=TITLE_2025)}))
    resources = {
        "warehouse": WarehouseResource(database=str(tmp_path / "wh.duckdb"), serving_path=str(tmp_path / "s.duckdb")),
        "sources": SourcesResource(
            documents_dir=str(tmp_path),
            utilization_dir=str(tmp_path),
            reference_dir=str(REFERENCE),
            medicare_policy_dir=str(folder),
        ),  # fmt: skip
        "limits": __import__("pipeline.defs.resources", fromlist=["LimitsResource"]).LimitsResource(),
    }
    result = dg.materialize([medicare_policy_tables, *MEDICARE_CHECKS], resources=resources)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks if c.severity == dg.AssetCheckSeverity.ERROR)
    assert {c.check_name for c in checks} >= {"contract"}
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM medicare.pfs_rvu").fetchone() == (4,)
    finally:
        con.close()


@pytest.mark.slow
def test_the_bundled_sample_fills_the_payments_mart(pipeline_env):
    from tests.conftest import run_pipeline

    assert run_pipeline(pipeline_env).success
    rows = pipeline_env.query(
        "SELECT data_year, setting, documented_setting, professional_payment, facility_payment, total_payment, "
        "cms_place_of_service, cms_total_services IS NOT NULL FROM marts.code_site_payments WHERE code = '32994' "
        "ORDER BY data_year, setting",
        serving=True,
    )
    by_key = {(r[0], r[1]): r for r in rows}
    assert by_key[2025, "office"][3:6] == (4456.05, None, 4456.05)
    assert by_key[2025, "hospital_outpatient"][3] == 416.95 and by_key[2025, "hospital_outpatient"][4] is not None
    assert by_key[2025, "hospital_outpatient"][2] and not by_key[2025, "office"][2]
    assert all(r[7] for r in rows if r[0] == 2023) and not any(r[7] for r in rows if r[0] == 2025)
    [(c9751,)] = pipeline_env.query(
        "SELECT facility_payment FROM marts.code_site_payments WHERE code = 'C9751' AND data_year = 2025 "
        "AND setting = 'hospital_outpatient'"
    )
    assert c9751 is not None  # shown although C9751 is not in the fee schedule
    statuses = dict(pipeline_env.query("SELECT file_name, status FROM medicare.source_files"))
    assert statuses.pop("README.md") == "skipped" and set(statuses.values()) == {"loaded"}


def test_the_sensor_requests_one_run_per_batch_of_fee_schedule_files(sensor_folders):
    from pipeline.defs.automation import medicare_policy_changed
    from tests.pipeline.conftest import run_sensor
    from tests.pipeline.test_sensor import by_job, counts, publish_records

    # A snapshot published before the folder was watched: it has no medicare.source_files.
    publish_records(sensor_folders["serving"], sensor_folders["documents"], sensor_folders["utilization"])
    quiet = run_sensor()
    assert quiet.run_requests == [], quiet.skip_reason
    for quarter in "ABCD":
        F.write(sensor_folders["medicare_policy"] / f"RVU25{quarter}.zip", F.zipped({"PPRRVU.csv": b"x"}))
    requests = by_job(run_sensor(quiet.cursor))
    assert set(requests) == {medicare_policy_changed.name}
    assert counts(requests[medicare_policy_changed.name]) == {"added": 4, "changed": 0, "removed": 0}


def test_a_quarantined_record_spanning_lines_is_reported_at_its_first_line(con, tmp_path):
    bad = F.pfs_row(
        "G0105", "A", "abc", "5.94", "1.87", "0.40", "9.60", "5.53", "32.3465", desc="Colorectal scrn;\nhi risk"
    )
    F.write(tmp_path / "PPRRVU25_OCT.csv", F.pprrvu_csv([bad, *F.ROWS_2025_OCT], title=TITLE_2025))
    load(con, tmp_path)
    assert con.execute("SELECT line_number FROM medicare.quarantine").fetchall() == [(11,)]
    assert con.execute("SELECT min(line_number) FROM medicare.pfs_rvu").fetchone() == (13,)


def test_a_file_still_being_written_is_skipped_and_keeps_its_rows(con, tmp_path, monkeypatch):
    from pipeline.utilization import completeness

    first, second = _disagreeing()
    path = F.write(tmp_path / "a.csv", first)
    load(con, tmp_path)
    path.write_bytes(second)

    def copy_goes_on(read: Path) -> None:
        with open(read, "ab") as handle:
            handle.write(b"\r\n")

    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", copy_goes_on)
    outcomes, _ = load(con, tmp_path)
    assert outcomes["a.csv"].status == "skipped" and "changed while it was read" in outcomes["a.csv"].error
    assert {r[3] for r in pfs_rows(con) if r[0] == "32994"} == {4456.05}  # the earlier rows stay
    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", None)  # the copy finished
    outcomes, _ = load(con, tmp_path)
    assert outcomes["a.csv"].status == "loaded"
    assert {r[3] for r in pfs_rows(con) if r[0] == "32994"} == {round(137.77 * 32.3465, 2)}


def test_an_addendum_b_workbook_with_six_title_rows_and_the_2020_header(con, tmp_path):
    header_2020 = ["HCPCS Code", "Short Descriptor", "SI", "APC", "Relative Weight", "Payment Rate",
                   "National Unadjusted Copayment", "Minimum Unadjusted Copayment",
                   "Note: Actual copayments would be lower due to the cap", "* Indicates a Change"]  # fmt: skip
    title = [
        ["Addendum B.-- Final OPPS Payment by HCPCS Code for CY 2020"],
        ["July 2020"],
        ["CPT codes AMA"],
        [""],
        [""],
        [""],
    ]
    rows = [["G0463", "Hospital outpt clinic visit", "J2", "5012", "1.4879", "$136.02 ", ".", "$27.21", "", "*"],
            ["0701", "", "N", "", "", "", "", "", "", ""]]  # fmt: skip
    F.write(tmp_path / "b.xlsx", F.xlsx_of([*title, header_2020, *rows]))
    outcomes, _ = load(con, tmp_path)
    assert (outcomes["b.xlsx"].status, outcomes["b.xlsx"].release) == ("loaded", "2020-07"), outcomes["b.xlsx"]
    assert con.execute(
        "SELECT hcpcs_code, apc, relative_weight, payment_rate, national_unadjusted_copayment, changed_flag, line_number "
        "FROM medicare.opps_rates WHERE hcpcs_code = 'G0463'"
    ).fetchall() == [("G0463", "5012", 1.4879, 136.02, None, True, 8)]


def test_a_damaged_zip_is_rejected_and_keeps_what_it_loaded_before(con, tmp_path):
    path = F.write(
        tmp_path / "RVU25D.zip", F.zipped({"PPRRVU2025_Oct.csv": F.pprrvu_csv(F.ROWS_2025_OCT, title=TITLE_2025)})
    )
    load(con, tmp_path)
    path.write_bytes(path.read_bytes()[:200])  # a download cut short
    outcomes, _ = load(con, tmp_path)
    outcome = outcomes["RVU25D.zip"]
    assert outcome.status == "rejected" and "not a readable zip file" in outcome.error
    assert "the 4 rows loaded earlier from this file are kept" in outcome.error
    assert len(pfs_rows(con)) == 4


def test_a_file_whose_lines_mostly_fail_is_rejected_naming_the_first_failure(con, tmp_path):
    rows = [dict(row, nf_total="n/a") for row in F.ROWS_2025_OCT]
    F.write(tmp_path / "PPRRVU25_OCT.csv", F.pprrvu_csv(rows, title=TITLE_2025))
    outcomes, _ = load(con, tmp_path)
    outcome = outcomes["PPRRVU25_OCT.csv"]
    assert outcome.status == "rejected" and "4 of 4 data lines fail the contract (first: line 11:" in outcome.error
    assert pfs_rows(con) == []


@pytest.mark.parametrize("form", ["csv", "txt"])
def test_a_download_cut_mid_line_is_rejected_never_loaded_short(con, tmp_path, form):
    """A file cut inside its last line (no final line break, the last record narrower than the one before) is
    rejected; loading its complete lines would say 'loaded' with fewer rows than CMS published."""
    make = F.pprrvu_csv if form == "csv" else F.pprrvu_txt
    whole = make(F.ROWS_2025_OCT, title=TITLE_2025)
    whole = whole.encode() if isinstance(whole, str) else whole
    path = tmp_path / f"PPRRVU25_OCT.{form}"
    path.write_bytes(whole.rstrip(b"\r\n\x1a")[:-20])
    outcomes, _ = load(con, tmp_path)
    outcome = outcomes[path.name]
    assert outcome.status == "rejected" and "cut off: last line incomplete" in outcome.error, outcome
    assert pfs_rows(con) == []
