"""The NCCI PTP, NCCI MUE and HCPCS Level II readers against files written in the real layouts
(tests/synthetic/coding_edits.py): recognition by content, every quirk of the layouts, and bad lines
quarantined with their line number and reason."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipeline.contracts.coding_edit_tables import CODING_EDIT_CONTRACTS
from pipeline.medicare_policy.hcpcs_level2 import load_hcpcs, recognize_hcpcs
from pipeline.medicare_policy.ncci import (
    BrokenRows,
    NcciFileError,
    load_mue,
    load_ptp,
    load_ptp_release,
    recognize_mue,
    recognize_ptp,
)
from pipeline.warehouse.tables import create_table, ensure_schemas, transaction
from tests.synthetic.coding_edits import (
    SAMPLE_HCPCS,
    SAMPLE_PTP,
    HcpcsEntry,
    Mue,
    PtpEdit,
    hcpcs_records,
    hcpcs_text,
    main,
    mue_file_name,
    mue_text,
    ptp_file_name,
    ptp_text,
)


@pytest.fixture
def con():
    connection = duckdb.connect()
    for contract in CODING_EDIT_CONTRACTS:
        ensure_schemas(connection, contract.schema_name)
        create_table(connection, contract)
    yield connection
    connection.close()


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _load_ptp(con, tmp_path, edits, name=None, **kwargs):
    name = name or ptp_file_name("practitioner")
    path = _write(tmp_path, name, ptp_text(edits, **kwargs))
    recognized = recognize_ptp(path.read_bytes()[:4096], name)
    try:  # as the folder reader does: the fast single pass, and the careful one if it meets a broken row
        with transaction(con):
            return recognized, load_ptp(con, path, name, recognized)
    except BrokenRows:
        with transaction(con):
            return recognized, load_ptp(con, path, name, recognized, careful=True)


# --- PTP ----------------------------------------------------------------------------------------------------


def test_ptp_rows_load_with_every_quirk_of_the_layout(con, tmp_path):
    recognized, result = _load_ptp(con, tmp_path, SAMPLE_PTP["practitioner"], newline="\r\n")
    assert (recognized.setting, recognized.release) == ("practitioner", "v322r0")
    assert result.bad_lines == []
    rows = con.execute(
        "SELECT column_1_code, column_2_code, effective_date, deletion_date, modifier_indicator, "
        "in_existence_before_1996, rationale, setting, ncci_version FROM medicare.ncci_ptp ORDER BY ALL"
    ).fetchall()
    assert len(rows) == len(SAMPLE_PTP["practitioner"])
    by_key = {(r[0], r[1], r[2], r[3]): r for r in rows}
    # `*` in the deletion field is no deletion date; in the third field it is "in existence before 1996".
    active = by_key[("G0105", "G0121", date(1996, 1, 1), None)]
    assert active[4:6] == ("0", True)
    tombstone = by_key[("G0105", "G0121", date(1996, 1, 1), date(1996, 1, 1))]
    assert tombstone[4:6] == ("9", False)
    # latin-1: the é byte of the rationale survives.
    assert by_key[("G0121", "G0500", date(2025, 4, 1), None)][6] == "Mutually exclusive procedures (révisée)"
    assert {r[7] for r in rows} == {"practitioner"} and {r[8] for r in rows} == {"v322r0"}


def test_ptp_reads_lf_files_and_hospital_names(con, tmp_path):
    name = ptp_file_name("hospital_outpatient", "v323r0", 2)
    recognized, result = _load_ptp(con, tmp_path, SAMPLE_PTP["hospital_outpatient"], name=name, newline="\n")
    assert (recognized.setting, recognized.release) == ("hospital_outpatient", "v323r0")
    assert result.rows_loaded == len(SAMPLE_PTP["hospital_outpatient"])


def test_ptp_malformed_lines_are_quarantined_with_line_and_reason(con, tmp_path):
    edits = [
        PtpEdit("G0101", "G0102", "20180701"),  # line 7: fine
        PtpEdit("G0101", "G0103", "2018070X"),  # line 7: bad date
        PtpEdit("G0101", "G0104", "20180701", modifier_indicator="7"),  # line 9
        ("G0101", "G0105", "", "20180701", "*"),  # line 10: five fields
        PtpEdit("G01", "G0106", "20180701"),  # line 10: short code
        PtpEdit("G0101", "G0107", "20180701", "20170101"),  # line 12: deleted before effective
        ("G0101", "G0108", "x", "20180701", "*", "1", "r"),  # line 13: bad pre-1996 flag
        PtpEdit("G0101", "G0109", "20180701", modifier_indicator="0"),  # line 14 and 15: repeated key
        PtpEdit("G0101", "G0109", "20180701", modifier_indicator="1"),
    ]
    _, result = _load_ptp(con, tmp_path, edits)
    reasons = {bad.line_number: bad.reason for bad in result.bad_lines}
    assert sorted(reasons) == [8, 9, 10, 11, 12, 13, 14, 15]
    assert "effective_date" in reasons[8] and "2018070X" in reasons[8]
    assert "modifier_indicator" in reasons[9] and '"7"' in reasons[9]
    assert "MISSING COLUMNS" in reasons[10]
    assert "'G01'" in reasons[11]
    assert "20170101 is before the effective date 20180701" in reasons[12]
    assert "'x'" in reasons[13]
    assert "line(s) 15" in reasons[14] and "line(s) 14" in reasons[15]
    assert {bad.line_number: bad.text for bad in result.bad_lines}[11].startswith("G01\tG0106")
    assert result.rows_loaded == 1
    assert con.execute("SELECT column_2_code FROM medicare.ncci_ptp").fetchall() == [("G0102",)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (("G01", "G0103", "", "20180701", "*", "1", "r"), "column 1 code 'G01' is not a five-character code"),
        (("G0101", "g0103", "", "20180701", "*", "1", "r"), "column 2 code 'g0103' is not a five-character code"),
        (("*", "G0103", "", "20180701", "*", "1", "r"), "column 1 code missing"),
        (("G0101", "G0103", "", "20180701", "20170101", "1", "r"), "20170101 is before the effective date"),
        (("G0101", "G0103", "x", "20180701", "*", "1", "r"), "holds 'x' (only * or blank)"),
        (("G0101", "G0103", "", "*", "*", "1", "r"), "no effective date"),
        (("G0101", "G0103", "", "20180701", "*", "*", "r"), "no modifier indicator"),
    ],
    ids=["column 1 code", "column 2 code", "missing code", "dates", "pre-1996 flag", "no date", "no indicator"],
)
def test_ptp_a_line_breaking_one_rule_alone_is_quarantined_and_the_rest_loads(con, tmp_path, fields, reason):
    """Each rule on its own, so that the single pass (which checks some rules on the stored rows and leaves others
    to the table's NOT NULL constraints) must notice it and hand the file to the careful pass."""
    edits = [PtpEdit("G0101", "G0102", "20180701"), fields, PtpEdit("G0101", "G0104", "20180701")]
    _, result = _load_ptp(con, tmp_path, edits)
    assert [(b.line_number, reason in b.reason) for b in result.bad_lines] == [(8, True)], result.bad_lines
    assert con.execute("SELECT column_2_code FROM medicare.ncci_ptp ORDER BY 1").fetchall() == [("G0102",), ("G0104",)]


@pytest.mark.parametrize("with_a_broken_line", [False, True], ids=["fast path", "careful path"])
def test_ptp_rationale_loses_its_edge_blanks_and_an_empty_one_is_null(con, tmp_path, with_a_broken_line):
    """Both ways a file loads (one pass; the careful pass a broken line forces) store the same rationale."""
    edits = [
        PtpEdit("G0101", "G0102", "20180701", rationale="  Mutually exclusive procedures "),
        PtpEdit("G0101", "G0103", "20180701", rationale=""),
        PtpEdit("G0101", "G0104", "20180701", rationale="Standards of medical/surgical practice"),
    ]
    if with_a_broken_line:
        edits.append(PtpEdit("G01", "G0105", "20180701"))
    _, result = _load_ptp(con, tmp_path, edits)
    assert [b.line_number for b in result.bad_lines] == ([10] if with_a_broken_line else [])
    rows = con.execute("SELECT column_2_code, rationale FROM medicare.ncci_ptp ORDER BY 1").fetchall()
    assert rows == [
        ("G0102", "Mutually exclusive procedures"),
        ("G0103", None),
        ("G0104", "Standards of medical/surgical practice"),
    ]


def test_ptp_release_files_load_in_one_read_each_with_its_own_rows(con, tmp_path):
    parts = {
        1: [PtpEdit("G0101", "G0102", "20180701")],
        2: [PtpEdit("G0201", second, "20180701") for second in ("G0202", "G0203", "G0204")],
    }
    paths = [_write(tmp_path, ptp_file_name("practitioner", "v322r0", n), ptp_text(e)) for n, e in parts.items()]
    with transaction(con):
        results = load_ptp_release(con, paths, recognize_ptp(paths[0].read_bytes()[:4096], paths[0].name))
    assert {name: r.rows_loaded for name, r in results.items()} == {paths[0].name: 1, paths[1].name: 3}
    assert con.execute("SELECT source_file, count(*) FROM medicare.ncci_ptp GROUP BY 1 ORDER BY 1").fetchall() == [
        (paths[0].name, 1),
        (paths[1].name, 3),
    ]


def test_ptp_reload_replaces_the_files_rows_and_newer_versions_supersede_older(con, tmp_path):
    _load_ptp(con, tmp_path, SAMPLE_PTP["practitioner"], name="ccipra-v321r0-f1.txt")
    _load_ptp(con, tmp_path, SAMPLE_PTP["practitioner"][:2], name="ccipra-v321r0-f1.txt")
    assert con.execute("SELECT count(*) FROM medicare.ncci_ptp").fetchone()[0] == 2
    _, result = _load_ptp(con, tmp_path, SAMPLE_PTP["practitioner"][:1], name="ccipra-v322r0-f1.txt")
    assert con.execute("SELECT DISTINCT ncci_version FROM medicare.ncci_ptp").fetchall() == [("v322r0",)]
    assert "replaced 2 edits of the older practitioner release v321r0" in result.notes
    with pytest.raises(NcciFileError, match="older than"):
        _load_ptp(con, tmp_path, SAMPLE_PTP["practitioner"], name="ccipra-v320r0-f2.txt")


def test_ptp_recognition_is_by_content_and_the_name_supplies_the_setting():
    content = ptp_text(SAMPLE_PTP["practitioner"])
    with pytest.raises(NcciFileError, match="setting and version"):
        recognize_ptp(content, "edits.txt")
    assert recognize_ptp(b"HCPCS\tMOD\n1\t2\n3\t4\n", "ccipra-v322r0-f1.txt") is None
    assert recognize_ptp(content.replace(b"Column1/Column2 Edits", b"Something else"), "ccipra-v322r0-f1.txt") is None


# --- MUE ----------------------------------------------------------------------------------------------------


def _load_mue(con, tmp_path, setting, rows, name=None):
    name = name or mue_file_name(setting)
    path = _write(tmp_path, name, mue_text(setting, rows))
    recognized = recognize_mue(path.read_bytes()[:65536], name)
    return recognized, load_mue(con, path, name, recognized)


def test_mue_notice_header_and_indicator_cells(con, tmp_path):
    rows = [
        Mue("J7050", "10", "3", "Clinical: CMS Workgroup"),
        Mue("C9751", "1", "2", "Code Descriptor / CPT Instruction"),
    ]
    recognized, result = _load_mue(con, tmp_path, "hospital_outpatient", rows)
    assert (recognized.setting, recognized.release) == ("hospital_outpatient", "2026-07-01")
    # Notice (4 physical lines) and header (2 physical lines) come before the data.
    assert (recognized.data_lines_start, recognized.records_before) == (6, 2)
    assert result.bad_lines == [] and result.rows_loaded == 2
    assert con.execute(
        "SELECT hcpcs_code, effective_date, mue_value, adjudication_indicator, adjudication_label, rationale "
        "FROM medicare.ncci_mue ORDER BY hcpcs_code"
    ).fetchall() == [
        ("C9751", date(2026, 7, 1), 1, 2, "Date of Service Edit: Policy", "Code Descriptor / CPT Instruction"),
        ("J7050", date(2026, 7, 1), 10, 3, "Date of Service Edit: Clinical", "Clinical: CMS Workgroup"),
    ]


def test_mue_history_is_kept_per_effective_date(con, tmp_path):
    _load_mue(
        con, tmp_path, "practitioner", [Mue("J7050", "10", "3")], name=mue_file_name("practitioner", "04-01-2026")
    )
    _load_mue(
        con, tmp_path, "practitioner", [Mue("J7050", "12", "3")], name=mue_file_name("practitioner", "07-01-2026")
    )
    assert con.execute("SELECT effective_date, mue_value FROM medicare.ncci_mue ORDER BY 1").fetchall() == [
        (date(2026, 4, 1), 10),
        (date(2026, 7, 1), 12),
    ]


def test_mue_malformed_lines_are_quarantined_with_line_and_reason(con, tmp_path):
    rows = [
        Mue("J7050", "10", "3"),  # line 7
        ("J7051", "ten", "3 Date of Service Edit: Clinical", "x"),  # line 8: not a number
        ("J7052", "1", "Date of Service Edit: Clinical", "x"),  # line 9: no digit
        Mue("J705", "1", "1"),  # line 10: short code
        Mue("J7053", "-1", "1"),  # line 11: negative
        Mue("J7054", "1", "1"),  # lines 12, 13: repeated code
        Mue("J7054", "2", "1"),
    ]
    _, result = _load_mue(con, tmp_path, "dme", rows)
    reasons = {bad.line_number: bad.reason for bad in result.bad_lines}
    assert sorted(reasons) == [8, 9, 10, 11, 12, 13]
    assert "mue_value" in reasons[8] and '"ten"' in reasons[8]
    assert "is not 1, 2 or 3" in reasons[9]
    assert "'J705'" in reasons[10]
    assert "negative" in reasons[11]
    assert "line(s) 13" in reasons[12]
    assert {bad.line_number: bad.text for bad in result.bad_lines}[8].startswith("J7051,ten")
    assert result.rows_loaded == 1


def test_mue_name_must_carry_the_effective_date():
    content = mue_text("practitioner", [Mue("J7050", "1", "1")])
    with pytest.raises(NcciFileError, match="effective date"):
        recognize_mue(content, "mue.csv")
    assert recognize_mue(b"HCPCS Code,Short Descriptor,SI\nA,B,C\n", "MCR_MUE_x_Eff_07-01-2026.csv") is None


# --- HCPCS Level II -----------------------------------------------------------------------------------------


def test_hcpcs_records_codes_modifiers_and_continuations(con, tmp_path):
    name = "HCPC2026_APR_ANWEB.txt"
    path = _write(tmp_path, name, hcpcs_text(SAMPLE_HCPCS))
    recognized = recognize_hcpcs(path.read_bytes()[:4096], name)
    assert recognized.release == "2026-04"
    result = load_hcpcs(con, path, name, recognized)
    assert result.bad_lines == [] and result.rows_loaded == len(SAMPLE_HCPCS)
    rows = {
        r[0]: r
        for r in con.execute(
            "SELECT hcpcs_code, record_kind, long_description, short_description, termination_date, betos "
            "FROM medicare.hcpcs_level2"
        ).fetchall()
    }
    c9751 = next(e for e in SAMPLE_HCPCS if e.code == "C9751")
    assert len(hcpcs_records(c9751)) > 2  # the sample does exercise continuation records
    assert rows["C9751"][2] == " ".join(c9751.long_description.split())
    assert rows["C9751"][5] == "P2F"
    assert rows["AS"][1:4] == (
        "modifier",
        next(e for e in SAMPLE_HCPCS if e.code == "AS").long_description,
        "Assistant at surgery service",
    )
    assert rows["GD"][4] == date(2019, 12, 31)
    assert rows["G0463"][4] is None


def test_hcpcs_malformed_records_are_quarantined(con, tmp_path):
    good = hcpcs_records(HcpcsEntry("A0001", "Example", "Example"))
    short = good[0][:200]
    bad_kind = good[0][:10] + "5" + good[0][11:]
    numeric = hcpcs_records(HcpcsEntry("99999", "Numeric row", "Numeric"))[0]
    bad_date = hcpcs_records(HcpcsEntry("A0002", "Bad date", "Bad", add_date="2020XX01"))[0]
    name = "HCPC2026_JUL_ANWEB.txt"
    path = _write(tmp_path, name, hcpcs_text([], [*good, short, bad_kind, numeric, bad_date]))
    result = load_hcpcs(con, path, name, recognize_hcpcs(path.read_bytes(), name))
    reasons = {bad.line_number: bad.reason for bad in result.bad_lines}
    assert sorted(reasons) == [2, 3, 5]
    assert "200 characters" in reasons[2] and "record id '5'" in reasons[3] and "2020XX01" in reasons[5]
    assert result.rows_loaded == 1 and result.notes == [
        "1 numeric (CPT) records left out: Level II codes and modifiers only"
    ]


def test_hcpcs_recognition():
    content = hcpcs_text(SAMPLE_HCPCS[:1])
    with pytest.raises(NcciFileError, match="quarter"):
        recognize_hcpcs(content, "codes.txt")
    assert recognize_hcpcs(b"HDR  copyright\n", "HCPC2026_APR_ANWEB.txt") is None
    assert recognize_hcpcs(ptp_text(SAMPLE_PTP["practitioner"]), "HCPC2026_APR_ANWEB.txt") is None


def test_bundled_samples_match_their_generator():
    assert main(["--check"]) == 0


def test_bundled_samples_are_listed_as_synthetic_by_their_digest():
    import hashlib

    from pipeline.core.reference_data import synthetic_file_digests
    from pipeline.settings import REPO_ROOT

    listed = synthetic_file_digests(REPO_ROOT / "sources" / "reference")
    from tests.synthetic.coding_edits import sample_files

    assert {
        name for name, content in sample_files().items() if hashlib.sha256(content).hexdigest() not in listed
    } == set()
