"""The .xlsx forms of the NCCI PTP, NCCI MUE and HCPCS Level II files (tests/synthetic/coding_edits.py writes
them in the real layouts with openpyxl): an xlsx gives the same rows as the txt/csv of its release, its bad rows
are quarantined naming the sheet row, and the two forms of one file never load twice."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import duckdb
import pytest

from pipeline.medicare_policy.folder import load_folder, prepare_tables
from pipeline.settings import REPO_ROOT
from tests.synthetic.coding_edits import (
    SAMPLE_HCPCS,
    SAMPLE_MUE,
    SAMPLE_PTP,
    HcpcsEntry,
    PtpEdit,
    hcpcs_text,
    hcpcs_xlsx,
    mue_file_name,
    mue_text,
    mue_xlsx,
    ptp_file_name,
    ptp_text,
    ptp_xlsx,
)

REFERENCE_DIR = REPO_ROOT / "sources" / "reference"
TABLES = {
    "medicare.ncci_ptp": "setting, column_1_code, column_2_code, effective_date, deletion_date, modifier_indicator, "
    "in_existence_before_1996, rationale, ncci_version",
    "medicare.ncci_mue": "setting, hcpcs_code, effective_date, mue_value, adjudication_indicator, adjudication_label, "
    "rationale",
    "medicare.hcpcs_level2": "hcpcs_code, record_kind, release, long_description, short_description, betos, "
    "coverage_code, add_date, effective_date, termination_date",
}
LONG = HcpcsEntry(
    "G0999",
    "A made-up service whose long description runs well past the eighty characters of one record, so that the "
    "text form needs continuation records",
    "Made-up long service",
    betos="T1A",
    termination_date="20261231",
)


def _load(tmp_path, label: str, files: dict[str, bytes]):
    folder = tmp_path / label
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    con = duckdb.connect(str(tmp_path / f"{label}.duckdb"))
    prepare_tables(con, REFERENCE_DIR)
    load_folder(con, folder)
    return con


def _rows(con) -> dict[str, list[tuple]]:
    return {
        table: con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
        for table, columns in TABLES.items()
    }


def _status(con) -> dict[str, tuple]:
    rows = con.execute("SELECT file_name, status, file_form, rows_loaded, error, note FROM medicare.source_files")
    return {r[0]: r[1:] for r in rows.fetchall()}


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def test_each_xlsx_gives_the_same_rows_as_its_text_form(tmp_path):
    hcpcs = [*SAMPLE_HCPCS, LONG]
    text = {
        ptp_file_name("practitioner"): ptp_text(SAMPLE_PTP["practitioner"]),
        mue_file_name("practitioner"): mue_text("practitioner", SAMPLE_MUE["practitioner"]),
        "HCPC2026_APR_ANWEB.txt": hcpcs_text(hcpcs),
    }
    xlsx = {
        _stem(ptp_file_name("practitioner")) + ".xlsx": ptp_xlsx(SAMPLE_PTP["practitioner"]),
        _stem(mue_file_name("practitioner")) + ".xlsx": mue_xlsx("practitioner", SAMPLE_MUE["practitioner"]),
        "HCPC2026_APR_ANWEB.xlsx": hcpcs_xlsx(hcpcs),
    }
    from_text, from_xlsx = _load(tmp_path, "text", text), _load(tmp_path, "xlsx", xlsx)
    assert {name: row[:2] for name, row in _status(from_xlsx).items()} == {name: ("loaded", "xlsx") for name in xlsx}
    expected = _rows(from_text)
    assert all(expected.values())
    assert _rows(from_xlsx) == expected


def test_a_bad_xlsx_row_is_quarantined_naming_its_sheet_row(tmp_path):
    edits = [
        PtpEdit("G0101", "G0102", "20180701"),
        PtpEdit("G0101", "G0103", "2018070X"),
        PtpEdit("g01", "G0104", "20180701"),
    ]
    con = _load(tmp_path, "bad", {"ccioph-v322r0-f1.xlsx": ptp_xlsx(edits)})
    quarantined = con.execute(
        "SELECT line_number, reasons FROM medicare.quarantine WHERE source_file = 'ccioph-v322r0-f1.xlsx' ORDER BY 1"
    ).fetchall()
    # Sheet rows: copyright 1, title 2, header 3, then the edits from row 4.
    assert [row[0] for row in quarantined] == [5, 6]
    assert "effective_date" in quarantined[0][1] and "column 1 code 'g01'" in quarantined[1][1]
    assert con.execute("SELECT column_2_code FROM medicare.ncci_ptp").fetchall() == [("G0102",)]


def test_both_forms_of_one_file_load_once_the_text_form_wins(tmp_path):
    name = ptp_file_name("practitioner")
    different = [PtpEdit("G0101", "G0102", "20180701")]  # the xlsx must not be read at all, even if it differs
    con = _load(
        tmp_path,
        "both",
        {name: ptp_text(SAMPLE_PTP["practitioner"]), _stem(name) + ".XLSX": ptp_xlsx(different)},
    )
    files = _status(con)
    assert files[name][:3] == ("loaded", "txt", len(SAMPLE_PTP["practitioner"]))
    status, _, rows, error, _ = files[_stem(name) + ".XLSX"]
    assert (status, rows) == ("skipped", 0)
    assert f"the same file in text form ({name}) is read instead" in error
    assert con.execute("SELECT count(*) FROM medicare.ncci_ptp").fetchone()[0] == len(SAMPLE_PTP["practitioner"])


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return buffer.getvalue()


@pytest.mark.parametrize("with_text", [True, False])
def test_a_zip_reads_its_xlsx_only_without_the_text_form(tmp_path, with_text):
    name = mue_file_name("dme")
    members = {_stem(name) + ".xlsx": mue_xlsx("dme", SAMPLE_MUE["dme"])}
    if with_text:
        members[name] = mue_text("dme", SAMPLE_MUE["dme"][:1])
    con = _load(tmp_path, "zip", {"medicare-ncci-2026-q3-dme-mue-table.zip": _zip(members)})
    status, form, rows, _, note = _status(con)["medicare-ncci-2026-q3-dme-mue-table.zip"]
    assert status == "loaded"
    if with_text:
        assert (form, rows) == ("csv", 1)
        assert f"{_stem(name)}.xlsx: not read (the same edits in xlsx form), {name} is read" in note
    else:
        assert (form, rows) == ("xlsx", len(SAMPLE_MUE["dme"]))


def test_a_date_cell_reads_as_the_yyyymmdd_the_text_form_has(tmp_path):
    edit = PtpEdit("G0101", "G0102", "20180701", "20231231", "1")
    as_dates = [(edit.column_1, edit.column_2, "", datetime(2018, 7, 1), date(2023, 12, 31), "1", edit.rationale)]
    from_text = _load(tmp_path, "text", {"ccioph-v322r0-f1.txt": ptp_text([edit])})
    from_xlsx = _load(tmp_path, "xlsx", {"ccioph-v322r0-f1.xlsx": ptp_xlsx(as_dates)})
    assert _rows(from_xlsx) == _rows(from_text)
    assert _rows(from_text)["medicare.ncci_ptp"]
