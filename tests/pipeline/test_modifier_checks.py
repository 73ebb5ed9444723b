"""marts.modifier_checks and marts.code_unit_limits: each rule of issue 21 pinned by a fixture that breaks it.

The rules are data (sources/reference/modifier_rules.csv, loaded by the real loader); the expected verdicts
below are written from the issue, not read from that file, so an edited rule fails here."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.contracts.coding_edit_tables import CODING_EDIT_CONTRACTS
from pipeline.contracts.mart_tables import CodeUnitLimits, ModifierChecks
from pipeline.contracts.medicare_tables import PFS_RVU_CONTRACT
from pipeline.contracts.table_contract import TableContract
from pipeline.marts.build import check_mart_columns
from pipeline.marts.queries import mart_query
from pipeline.medicare_policy.coding_edit_reference import record_reference_date, replace_modifier_rules
from pipeline.settings import REPO_ROOT
from pipeline.warehouse.tables import create_table, ensure_schemas

REFERENCE_DIR = REPO_ROOT / "sources" / "reference"
REFERENCE_DATE = date(2026, 7, 15)
CODE = "G0500"


@pytest.fixture
def con():
    connection = duckdb.connect()
    contracts = [
        CONTRACTS_BY_TABLE[t]
        for t in ("core.codes", "core.modifiers", "core.code_modifiers", "utilization.physician_geo_service")
    ]
    for contract in (*contracts, PFS_RVU_CONTRACT, *CODING_EDIT_CONTRACTS):
        ensure_schemas(connection, contract.schema_name)
        create_table(connection, contract)
    replace_modifier_rules(connection, REFERENCE_DIR)
    record_reference_date(connection, REFERENCE_DATE)
    yield connection
    connection.close()


def document(con, code: str, *modifiers: str) -> None:
    con.execute(
        "INSERT INTO core.codes BY NAME SELECT ? AS code, 'HCPCS' AS code_system, 'Example' AS title, "
        "'doc_' || ? AS document_id, 'parsed' AS document_status",
        [code, code],
    )
    for modifier in modifiers:
        con.execute(
            "INSERT OR IGNORE INTO core.modifiers (modifier_code, description, is_real_modifier, in_reference) "
            "VALUES (?, 'reference wording of ' || ?, ? <> '00', true)",
            [modifier, modifier, modifier],
        )
        con.execute(
            "INSERT INTO core.code_modifiers BY NAME SELECT ? AS code, ? AS modifier_code, 'when ' || ? AS when_to_use, "
            "'doc_' || ? AS document_id, 1 AS line_number",
            [code, modifier, modifier, code],
        )


def fee_schedule(
    con, code: str, release: str = "RVU26C", year: int = 2026, modifier=None, variant="standard", **indicators
) -> None:
    row = {"status_code": "A", "bilateral_indicator": "0", "assistant_indicator": "0", "cosurgeon_indicator": "0",
           "team_indicator": "0", "pctc_indicator": "0", "global_days": "000"} | indicators  # fmt: skip
    columns = ", ".join(f"? AS {name}" for name in row)
    con.execute(
        f"INSERT INTO medicare.pfs_rvu BY NAME SELECT ? AS data_year, ? AS release, ? AS hcpcs_code, ? AS modifier, "
        f"'f.csv' AS source_file, 'csv' AS file_form, 1 AS line_number, ? AS conversion_factor_variant, "
        f"true AS nonfacility_priced, true AS facility_priced, 33.4 AS conversion_factor, {columns}",
        [year, release, code, modifier, variant, *row.values()],
    )


def edit(con, column_1, column_2, effective, deletion=None, indicator="1", setting="practitioner", version="v322r0"):
    con.execute(
        "INSERT INTO medicare.ncci_ptp VALUES (?, ?, ?, ?, ?, ?, false, 'Mutually exclusive procedures', ?, 'f.txt')",
        [setting, column_1, column_2, effective, deletion, indicator, version],
    )


def checks(con) -> list[dict]:
    query = mart_query("modifier_checks")
    cursor = con.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def only(rows: list[dict], **where) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in where.items())]
    assert len(found) == 1, (where, rows)
    return found[0]


# Each rule of the issue, as (modifier, check, indicator column, value, verdict).
FEE_SCHEDULE_RULES = [
    *[("50", "bilateral_surgery", "bilateral_indicator", v, "ok") for v in ("1", "3")],
    *[("50", "bilateral_surgery", "bilateral_indicator", v, "conflict") for v in ("0", "2", "9")],
    *[(m, "bilateral_surgery", "bilateral_indicator", "2", "conflict") for m in ("RT", "LT")],
    *[(m, "bilateral_surgery", "bilateral_indicator", v, "ok") for m in ("RT", "LT") for v in ("0", "1", "3")],
    *[(m, "assistant_at_surgery", "assistant_indicator", "2", "ok") for m in ("80", "81", "82", "AS")],
    *[(m, "assistant_at_surgery", "assistant_indicator", "0", "needs_documentation") for m in ("80", "81", "82", "AS")],
    *[
        (m, "assistant_at_surgery", "assistant_indicator", v, "conflict")
        for m in ("80", "81", "82", "AS")
        for v in "19"
    ],
    ("62", "co_surgery", "cosurgeon_indicator", "2", "ok"),
    ("62", "co_surgery", "cosurgeon_indicator", "1", "needs_documentation"),
    *[("62", "co_surgery", "cosurgeon_indicator", v, "conflict") for v in "09"],
    ("66", "team_surgery", "team_indicator", "2", "ok"),
    ("66", "team_surgery", "team_indicator", "1", "needs_documentation"),
    *[("66", "team_surgery", "team_indicator", v, "conflict") for v in "09"],
    *[("26", "professional_technical_split", "pctc_indicator", v, "ok") for v in "168"],
    *[("26", "professional_technical_split", "pctc_indicator", v, "conflict") for v in "0234579"],
    ("TC", "professional_technical_split", "pctc_indicator", "1", "ok"),
    *[("TC", "professional_technical_split", "pctc_indicator", v, "conflict") for v in "0234689"],
    ("57", "global_surgery", "global_days", "090", "ok"),
    *[("57", "global_surgery", "global_days", v, "conflict") for v in ("000", "010", "XXX", "ZZZ", "YYY", "MMM")],
    *[(m, "global_surgery", "global_days", v, "ok") for m in ("24", "58", "78", "79") for v in ("010", "090")],
    *[
        (m, "global_surgery", "global_days", v, "conflict")
        for m in ("24", "58", "78", "79")
        for v in ("000", "XXX", "ZZZ")
    ],
]


@pytest.mark.parametrize(("modifier", "check", "column", "value", "verdict"), FEE_SCHEDULE_RULES)
def test_fee_schedule_indicator_rules(con, modifier, check, column, value, verdict):
    document(con, CODE, modifier)
    fee_schedule(con, CODE, **{column: value})
    # An older release and a modifier row say the opposite: only the latest release's global row counts.
    opposite = "2" if value != "2" else "0"
    fee_schedule(con, CODE, release="RVU25D", year=2025, **{column: opposite if column != "global_days" else "ZZZ"})
    # The modifier row sorts first among the release's rows of the code: only the modifier filter keeps it out.
    fee_schedule(
        con, CODE, modifier="26", variant="non_qpp", **{column: opposite if column != "global_days" else "ZZZ"}
    )
    row = only(checks(con), modifier=modifier, check_name=check)
    assert (row["indicator_column"], row["indicator_value"], row["verdict"]) == (column, value, verdict)
    assert row["release"] == "RVU26C" and row["setting"] is None
    assert f"{CODE}" in row["reason"] and value in row["reason"] and "RVU26C" in row["reason"]
    assert "{" not in row["reason"]
    assert row["when_to_use"] == f"when {modifier}" and row["document_id"] == f"doc_{CODE}"


def test_a_code_missing_from_the_fee_schedule_is_no_data_with_its_reason(con):
    document(con, CODE, "50")
    fee_schedule(con, "G0001")
    row = only(checks(con), modifier="50", check_name="bilateral_surgery")
    assert (row["verdict"], row["indicator_column"], row["indicator_value"]) == ("no_data", "status_code", "none")
    assert "not on the Medicare Physician Fee Schedule" in row["reason"] and "RVU26C" in row["reason"]


@pytest.mark.parametrize("status", ["B", "P", "N", "I", "X"])
def test_a_status_not_separately_payable_is_a_conflict(con, status):
    document(con, CODE, "50")
    fee_schedule(con, CODE, status_code=status, bilateral_indicator="1")
    row = only(checks(con), modifier="50", check_name="bilateral_surgery")
    assert (row["verdict"], row["indicator_column"], row["indicator_value"]) == ("conflict", "status_code", status)
    assert f"status {status}" in row["reason"]


@pytest.mark.parametrize("status", ["A", "R", "T", "C"])
def test_payable_statuses_pass_to_the_indicator(con, status):
    document(con, CODE, "50")
    fee_schedule(con, CODE, status_code=status, bilateral_indicator="1")
    assert only(checks(con), modifier="50", check_name="bilateral_surgery")["verdict"] == "ok"


def test_a_blank_indicator_is_no_data_not_the_otherwise_rule(con):
    document(con, CODE, "RT")
    fee_schedule(con, CODE, bilateral_indicator=None)
    row = only(checks(con), modifier="RT", check_name="bilateral_surgery")
    assert row["verdict"] == "no_data" and "blank" in row["reason"]


def test_a_modifier_no_rule_governs_is_listed_as_unchecked(con):
    document(con, CODE, "22", "00")
    fee_schedule(con, CODE)
    rows = checks(con)
    assert [(r["modifier"], r["check_name"], r["verdict"]) for r in rows] == [("22", "unchecked", "no_data")]
    assert "modifier 22" in rows[0]["reason"]


PTP_MODIFIERS = ["59", "XE", "XS", "XP", "XU", "91", "25", "27", "24", "57", "58", "78", "79", "E1", "E4", "FA",
                 "F1", "F9", "TA", "T1", "T9", "LT", "RT", "LC", "LD", "RC", "LM", "RI"]  # fmt: skip


@pytest.mark.parametrize("modifier", PTP_MODIFIERS)
def test_every_ptp_associated_modifier_is_checked_in_both_settings(con, modifier):
    document(con, CODE, modifier)
    edit(con, CODE, "G0600", date(2024, 1, 1), indicator="1")
    rows = [r for r in checks(con) if r["check_name"] == "ncci_ptp"]
    assert {(r["setting"], r["verdict"]) for r in rows} == {("practitioner", "ok"), ("hospital_outpatient", "no_data")}


@pytest.mark.parametrize("modifier", ["50", "22", "62", "80", "76", "77", "82"])
def test_modifiers_that_do_not_bypass_ptp_edits_get_no_ptp_check(con, modifier):
    document(con, CODE, modifier)
    edit(con, CODE, "G0600", date(2024, 1, 1), indicator="1")
    assert not [r for r in checks(con) if r["check_name"] == "ncci_ptp"]


def test_ptp_ok_counts_the_edits_a_modifier_can_bypass(con):
    document(con, CODE, "XS")
    edit(con, CODE, "G0600", date(2024, 1, 1), indicator="1")
    edit(con, "G0700", CODE, date(2024, 1, 1), indicator="1")  # the code in column 2 counts too
    edit(con, CODE, "G0800", date(2024, 1, 1), indicator="0")
    row = only(checks(con), modifier="XS", check_name="ncci_ptp", setting="practitioner")
    assert (row["verdict"], row["indicator_value"], row["edits_allowing_modifier"], row["edits_not_allowing_modifier"]) == (
        "ok", "1", 2, 1)  # fmt: skip
    assert row["reason"].startswith("2 active practitioner NCCI PTP edit(s) on 2026-07-15")
    assert row["ncci_version"] == "v322r0" and row["reference_date"] == REFERENCE_DATE


def test_ptp_edits_that_all_refuse_modifiers_are_a_conflict(con):
    document(con, CODE, "59")
    edit(con, CODE, "G0600", date(2024, 1, 1), indicator="0")
    edit(con, CODE, "G0601", date(2024, 1, 1), indicator="0", setting="hospital_outpatient")
    edit(con, CODE, "G0602", date(2024, 1, 1), indicator="1", setting="hospital_outpatient", deletion=date(2025, 1, 1))
    rows = {r["setting"]: r for r in checks(con) if r["check_name"] == "ncci_ptp"}
    assert (
        rows["practitioner"]["verdict"] == "conflict" and "All 1 active practitioner" in rows["practitioner"]["reason"]
    )
    assert rows["hospital_outpatient"]["verdict"] == "conflict"


@pytest.mark.parametrize(
    ("effective", "deletion", "indicator", "active"),
    [
        (date(2026, 7, 15), None, "1", True),  # effective on the reference date
        (date(2026, 7, 16), None, "1", False),  # not yet effective
        (date(2024, 1, 1), date(2026, 7, 15), "1", False),  # deletion date is an exclusive end
        (date(2024, 1, 1), date(2026, 7, 16), "1", True),
        (date(2026, 7, 15), date(2026, 7, 15), "9", False),  # an indicator-9 tombstone never counts
        (date(2024, 1, 1), None, "9", False),
    ],
)
def test_ptp_active_on_the_reference_date(con, effective, deletion, indicator, active):
    document(con, CODE, "XU")
    edit(con, CODE, "G0600", effective, deletion, indicator)
    row = only(checks(con), modifier="XU", check_name="ncci_ptp", setting="practitioner")
    assert row["verdict"] == ("ok" if active else "no_data")
    if not active:
        assert "No active practitioner NCCI PTP edit" in row["reason"] and "v322r0" in row["reason"]


def test_the_reference_date_setting_moves_what_is_active(con):
    document(con, CODE, "XU")
    edit(con, CODE, "G0600", date(2024, 1, 1), date(2025, 1, 1), "1")
    assert only(checks(con), check_name="ncci_ptp", setting="practitioner")["verdict"] == "no_data"
    assert record_reference_date(con, date(2024, 6, 30))
    assert only(checks(con), check_name="ncci_ptp", setting="practitioner")["verdict"] == "ok"
    assert not record_reference_date(con, date(2024, 6, 30))  # unchanged: no change logged, no rebuild
    record_reference_date(con, None, today=date(2026, 1, 2))
    assert con.execute("SELECT * FROM medicare.coding_edit_parameters").fetchall() == [(date(2026, 1, 2), "today")]


def test_modifier_descriptions_come_from_hcpcs_level2_first(con):
    document(con, CODE, "XS", "59")
    con.execute(
        "INSERT INTO medicare.hcpcs_level2 BY NAME SELECT 'XS' AS hcpcs_code, 'modifier' AS record_kind, "
        "'2026-04' AS release, 'Separate structure, official' AS long_description, 'f.txt' AS source_file"
    )
    rows = {r["modifier"]: r for r in checks(con)}
    assert (rows["XS"]["modifier_description"], rows["XS"]["modifier_description_source"]) == (
        "Separate structure, official", "hcpcs_level2")  # fmt: skip
    assert (rows["59"]["modifier_description"], rows["59"]["modifier_description_source"]) == (
        "reference wording of 59", "project_reference")  # fmt: skip


def test_the_marts_return_exactly_their_contract_columns(con):
    for model in (ModifierChecks, CodeUnitLimits):
        contract = TableContract(model)
        query = mart_query(contract.table_name)
        check_mart_columns(contract, [c[0] for c in con.execute(f"SELECT * FROM ({query}) LIMIT 0").description])


# --- marts.code_unit_limits ---------------------------------------------------------------------------------


def mue(con, code, effective, value, indicator=3, setting="practitioner"):
    con.execute(
        "INSERT INTO medicare.ncci_mue VALUES (?, ?, ?, ?, ?, 'label', 'Clinical: CMS Workgroup', 'f.csv')",
        [setting, code, effective, value, indicator],
    )


def national(con, code, year, services, bene_days, pos="O"):
    con.execute(
        "INSERT INTO utilization.physician_geo_service BY NAME SELECT ? AS data_year, ? AS hcpcs_code, ? AS "
        "place_of_service, ? AS total_services, ? AS total_beneficiary_day_services, 'u.csv' AS source_file, "
        "'National' AS geo_level, 'national' AS geo_type",
        [year, code, pos, services, bene_days],
    )


def unit_limits(con) -> list[dict]:
    cursor = con.execute(mart_query("code_unit_limits"))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_mue_in_force_at_the_end_of_the_data_year_not_the_newest(con):
    document(con, CODE)
    mue(con, CODE, date(2023, 10, 1), 2)
    mue(con, CODE, date(2024, 1, 1), 5)
    national(con, CODE, 2023, 200.0, 100.0, "O")
    national(con, CODE, 2023, 100.0, 0.0, "F")  # both places of service are summed: 300 / 100
    national(con, CODE, 2024, 300.0, 100.0)
    rows = {(r["mue_setting"], r["data_year"]): r for r in unit_limits(con)}
    y2023, y2024 = rows[("practitioner", 2023)], rows[("practitioner", 2024)]
    assert (y2023["mue_value"], y2023["mue_effective_date"], y2023["services_per_beneficiary_day"]) == (
        2, date(2023, 10, 1), 3.0)  # fmt: skip
    assert y2023["exceeds_mue"] is True and y2023["mue_in_force_on"] == date(2023, 12, 31)
    assert (y2024["mue_value"], y2024["exceeds_mue"]) == (5, False)
    assert rows[("dme", 2023)]["has_mue"] is False and rows[("dme", 2023)]["exceeds_mue"] is None


def test_a_code_without_utilization_keeps_a_row_per_setting(con):
    document(con, CODE)
    mue(con, CODE, date(2026, 7, 1), 1, setting="hospital_outpatient")
    mue(con, CODE, date(2026, 10, 1), 9, setting="hospital_outpatient")  # after the reference date
    rows = unit_limits(con)
    assert sorted(r["mue_setting"] for r in rows) == ["dme", "hospital_outpatient", "practitioner"]
    hospital = only(rows, mue_setting="hospital_outpatient")
    assert (hospital["data_year"], hospital["mue_value"], hospital["mue_in_force_on"]) == (None, 1, REFERENCE_DATE)


def test_modifier_59_asks_for_the_more_specific_x_modifier_whatever_the_indicators(con):
    document(con, CODE, "59", "XS")
    rows = checks(con)
    row = only(rows, modifier="59", check_name="specific_modifier")
    assert row["verdict"] == "needs_documentation" and "XE, XS, XP or XU" in row["reason"]
    assert not [r for r in rows if r["modifier"] == "XS" and r["check_name"] == "specific_modifier"]
