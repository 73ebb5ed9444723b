"""NCCI and HCPCS files through the medicare policy folder reader: recognized by content in plain files and in
CMS zips, recorded in medicare.source_files, quarantined lines in medicare.quarantine, duplicates and older
releases not loaded twice, removed files' rows gone."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import duckdb
import pytest

from pipeline.medicare_policy.folder import load_folder, prepare_tables
from pipeline.settings import REPO_ROOT
from tests.synthetic.coding_edits import SAMPLE_HCPCS as coding_edit_hcpcs
from tests.synthetic.coding_edits import (
    SAMPLE_MUE,
    SAMPLE_MUE_2023,
    SAMPLE_PTP,
    Mue,
    PtpEdit,
    hcpcs_text,
    mue_file_name,
    mue_text,
    ptp_text,
)
from tests.synthetic.coding_edits import sample_files as coding_edit_samples

REFERENCE_DIR = REPO_ROOT / "sources" / "reference"


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    prepare_tables(connection, REFERENCE_DIR)
    yield connection
    connection.close()


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "medicare_policy"
    path.mkdir()
    return path


def source_files(con) -> dict[str, tuple]:
    rows = con.execute(
        "SELECT file_name, status, layout, release, rows_loaded, rows_quarantined, error, note "
        "FROM medicare.source_files"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_every_bundled_layout_loads_from_the_folder(con, folder):
    for name, content in coding_edit_samples().items():
        (folder / name).write_bytes(content)
    load_folder(con, folder)
    files = source_files(con)
    assert {name: row[0] for name, row in files.items()} == {name: "loaded" for name in coding_edit_samples()}
    assert files["ccipra-v322r0-f1.txt"][1:4] == ("ncci_ptp", "practitioner v322r0", len(SAMPLE_PTP["practitioner"]))
    assert files["MCR_MUE_DMESupplierServices_Eff_07-01-2026.csv"][1:3] == ("ncci_mue", "dme 2026-07-01")
    assert files["HCPC2026_APR_ANWEB.txt"][1:3] == ("hcpcs_level2", "2026-04")
    counts = con.execute(
        "SELECT (SELECT count(*) FROM medicare.ncci_ptp), (SELECT count(*) FROM medicare.ncci_mue), "
        "(SELECT count(*) FROM medicare.hcpcs_level2)"
    ).fetchone()
    assert counts == (
        sum(len(edits) for edits in SAMPLE_PTP.values()),
        sum(len(rows) for rows in SAMPLE_MUE.values()) + len(SAMPLE_MUE_2023),
        len(coding_edit_hcpcs),
    )
    # A second run over an unchanged folder reads nothing again and changes nothing.
    outcomes, _ = load_folder(con, folder)
    assert all(o.unchanged for o in outcomes)


def _cut_in_a_middle_field(whole: bytes, delimiter: bytes) -> bytes:
    body = whole.rstrip(b"\r\n")
    return body[: body.rfind(delimiter) - 3]  # the last line loses its last field and the end of the one before


@pytest.mark.parametrize("layout", ["ptp", "mue", "hcpcs", "ptp in a zip"])
def test_a_download_cut_mid_line_is_rejected_never_loaded_short(con, folder, layout):
    """A file cut inside its last line (no final line break, the last record narrower than the one before: the rule
    of every other csv and fixed-width file) is rejected as a whole, not loaded with its cut line quarantined."""
    if layout.startswith("ptp"):
        name, whole = "ccipra-v322r0-f1.txt", ptp_text(SAMPLE_PTP["practitioner"])
        cut, last_line = _cut_in_a_middle_field(whole, b"\t"), 6 + len(SAMPLE_PTP["practitioner"])
    elif layout == "mue":
        name, whole = mue_file_name("practitioner"), mue_text("practitioner", SAMPLE_MUE["practitioner"])
        cut, last_line = _cut_in_a_middle_field(whole, b","), whole.count(b"\n")
    else:
        name, whole = "HCPC2026_APR_ANWEB.txt", hcpcs_text(coding_edit_hcpcs)
        cut, last_line = whole.rstrip(b"\r\n")[:-20], whole.count(b"\n")
    entry = name
    if layout == "ptp in a zip":
        entry = "medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f1.zip"
        cut = _zip({name: cut})
    (folder / entry).write_bytes(cut)
    load_folder(con, folder)
    status, error = source_files(con)[entry][0], source_files(con)[entry][5]
    assert status == "rejected", (status, error)
    if layout == "hcpcs":
        assert f"{name}: cut off: last line incomplete (download interrupted?): line {last_line} ends" in error
    else:
        assert f"{name}: cut off: line {last_line} ends without a line break (download interrupted?)" in error
    assert con.execute(
        "SELECT (SELECT count(*) FROM medicare.ncci_ptp) + (SELECT count(*) FROM medicare.ncci_mue) + "
        "(SELECT count(*) FROM medicare.hcpcs_level2) + (SELECT count(*) FROM medicare.quarantine)"
    ).fetchone() == (0,)
    # The complete file loads (a fixed-width HCPCS file even without its final line break: its width shows it whole).
    (folder / entry).write_bytes(
        whole.rstrip(b"\r\n") if layout == "hcpcs" else _zip({name: whole}) if layout == "ptp in a zip" else whole
    )
    load_folder(con, folder)
    assert source_files(con)[entry][0] == "loaded", source_files(con)[entry]


@pytest.mark.parametrize("layout", ["ptp", "mue"])
def test_a_download_cut_inside_the_last_field_is_rejected_never_loaded_with_its_text_cut(con, folder, layout):
    """Cut inside a rationale, the last line keeps every field, only shorter: the width rule cannot see it. CMS ends
    every line of its NCCI files with a line break, so a PTP or MUE file without a final one is not loaded."""
    if layout == "ptp":
        name, whole = "ccipra-v322r0-f1.txt", ptp_text(SAMPLE_PTP["practitioner"])
    else:
        name, whole = mue_file_name("practitioner"), mue_text("practitioner", SAMPLE_MUE["practitioner"])
    (folder / name).write_bytes(whole.rstrip(b"\r\n")[:-4])
    load_folder(con, folder)
    status, error = source_files(con)[name][0], source_files(con)[name][5]
    assert status == "rejected" and "ends without a line break" in error, (status, error)
    assert con.execute("SELECT count(*) FROM medicare.ncci_ptp").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM medicare.ncci_mue").fetchone()[0] == 0


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_cms_zip_is_read_by_its_text_member_and_its_xlsx_noted(con, folder):
    name = "medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f1.zip"
    (folder / name).write_bytes(
        _zip({"ccipra-v322r0-f1.TXT": ptp_text(SAMPLE_PTP["practitioner"]), "ccipra-v322r0-f1.xlsx": b"PK\x03\x04"})
    )
    load_folder(con, folder)
    status, layout, release, rows, _, error, note = source_files(con)[name]
    assert (status, layout, release, error) == ("loaded", "ncci_ptp", "practitioner v322r0", None)
    assert rows == len(SAMPLE_PTP["practitioner"])
    assert "ccipra-v322r0-f1.xlsx: not read (the same edits in xlsx form)" in note


def test_quarantined_lines_are_recorded_with_line_and_reason(con, folder):
    edits = [PtpEdit("G0101", "G0102", "20180701"), PtpEdit("G0101", "G0103", "2018070X")]
    (folder / "ccioph-v322r0-f1.txt").write_bytes(ptp_text(edits))
    load_folder(con, folder)
    assert source_files(con)["ccioph-v322r0-f1.txt"][3:5] == (1, 1)
    table, source, line, reasons, row_data, layout, release, year = con.execute(
        "SELECT table_name, source_file, line_number, reasons, row_data, layout, release, data_year "
        "FROM medicare.quarantine"
    ).fetchone()
    assert (table, source) == ("medicare.ncci_ptp", "ccioph-v322r0-f1.txt")
    assert (line, layout, release, year) == (8, "ncci_ptp", "v322r0", 2026)
    assert "effective_date" in reasons and "2018070X" in reasons
    assert row_data.startswith("G0101\tG0103\t")  # the line as the file has it


def test_an_unknown_text_file_is_skipped_with_its_header_named(con, folder):
    (folder / "notes.txt").write_bytes(b"Column A\tColumn B\nx\ty\n")
    load_folder(con, folder)
    status, *_, error, _ = source_files(con)["notes.txt"]
    assert status == "skipped" and "Column A" in error


def test_a_ptp_file_whose_name_hides_its_setting_is_rejected(con, folder):
    (folder / "edits.txt").write_bytes(ptp_text(SAMPLE_PTP["practitioner"]))
    load_folder(con, folder)
    status, *_, error, _ = source_files(con)["edits.txt"]
    assert status == "rejected" and "setting and version" in error


def test_the_same_mue_file_twice_loads_once(con, folder):
    content = mue_text("practitioner", SAMPLE_MUE["practitioner"])
    (folder / mue_file_name("practitioner")).write_bytes(content)
    load_folder(con, folder)
    (folder / ("copy_" + mue_file_name("practitioner"))).write_bytes(content)
    load_folder(con, folder)
    status, *_, error, _ = source_files(con)["copy_" + mue_file_name("practitioner")]
    assert status == "skipped" and mue_file_name("practitioner") in error
    assert con.execute("SELECT count(*) FROM medicare.ncci_mue").fetchone()[0] == len(SAMPLE_MUE["practitioner"])


def test_a_ptp_file_repeating_loaded_edits_is_a_conflict_and_the_earlier_stays(con, folder):
    (folder / "ccipra-v322r0-f1.txt").write_bytes(ptp_text(SAMPLE_PTP["practitioner"]))
    load_folder(con, folder)
    (folder / "ccipra-v322r0-f2.txt").write_bytes(ptp_text(SAMPLE_PTP["practitioner"][:2]))
    load_folder(con, folder)
    status, *_, error, _ = source_files(con)["ccipra-v322r0-f2.txt"]
    assert status == "rejected" and "ccipra-v322r0-f1.txt (2 edits)" in error
    assert con.execute("SELECT DISTINCT source_file FROM medicare.ncci_ptp").fetchall() == [("ccipra-v322r0-f1.txt",)]


def test_an_older_ptp_release_beside_a_newer_is_skipped(con, folder):
    (folder / "ccipra-v321r0-f1.txt").write_bytes(ptp_text(SAMPLE_PTP["practitioner"]))
    (folder / "ccipra-v322r0-f1.txt").write_bytes(ptp_text(SAMPLE_PTP["practitioner"][:3]))
    load_folder(con, folder)
    files = source_files(con)
    assert files["ccipra-v321r0-f1.txt"][0] == "skipped" and "superseded by ccipra-v322r0-f1.txt" in files[
        "ccipra-v321r0-f1.txt"][5]  # fmt: skip
    assert con.execute("SELECT DISTINCT ncci_version FROM medicare.ncci_ptp").fetchall() == [("v322r0",)]


RELEASE = {
    "ccipra-v322r0-f1.txt": [
        PtpEdit("G0101", "G0102", "20180701", rationale=" Mutually exclusive procedures "),
        PtpEdit("G0101", "G0103", "20180701", "20201231"),
        PtpEdit("G0105", "G0106", "19960101", "*", "0", pre_1996=True),
    ],
    "ccipra-v322r0-f2.txt": [
        PtpEdit("G0201", "G0202", "20190101"),
        PtpEdit("G0201", "G0203", "20190101", rationale=""),
    ],
}


def _change_log_versions(con, table: str) -> int:
    return con.execute("SELECT count(*) FROM internal.table_change_log WHERE table_name = ?", [table]).fetchone()[0]


def test_the_files_of_one_release_load_in_one_read_each_recorded_as_if_alone(con, folder):
    (folder / "ccipra-v321r0-f1.txt").write_bytes(ptp_text(RELEASE["ccipra-v322r0-f1.txt"][:1]))
    load_folder(con, folder)
    (folder / "ccipra-v321r0-f1.txt").write_bytes(ptp_text(RELEASE["ccipra-v322r0-f1.txt"][:2]))  # changed: read
    for name, edits in RELEASE.items():
        (folder / name).write_bytes(ptp_text(edits))
    versions = _change_log_versions(con, "medicare.ncci_ptp")
    load_folder(con, folder)
    assert _change_log_versions(con, "medicare.ncci_ptp") == versions + 1  # one transaction for the release
    files = source_files(con)
    assert files["ccipra-v321r0-f1.txt"][0] == "skipped"
    for name, edits in RELEASE.items():
        assert files[name][:5] == ("loaded", "ncci_ptp", "practitioner v322r0", len(edits), 0), files[name]
    assert "replaced 1 edits of the older practitioner release v321r0" in files["ccipra-v322r0-f1.txt"][6]
    rows = con.execute(
        "SELECT source_file, column_2_code, deletion_date IS NULL, in_existence_before_1996, rationale, ncci_version "
        "FROM medicare.ncci_ptp ORDER BY column_2_code"
    ).fetchall()
    assert rows == [
        ("ccipra-v322r0-f1.txt", "G0102", True, False, "Mutually exclusive procedures", "v322r0"),
        ("ccipra-v322r0-f1.txt", "G0103", False, False, RELEASE["ccipra-v322r0-f1.txt"][1].rationale, "v322r0"),
        ("ccipra-v322r0-f1.txt", "G0106", True, True, RELEASE["ccipra-v322r0-f1.txt"][2].rationale, "v322r0"),
        ("ccipra-v322r0-f2.txt", "G0202", True, False, RELEASE["ccipra-v322r0-f2.txt"][0].rationale, "v322r0"),
        ("ccipra-v322r0-f2.txt", "G0203", True, False, None, "v322r0"),
    ]
    recorded = dict(con.execute("SELECT file_name, sha256 FROM medicare.source_files").fetchall())
    for name in RELEASE:  # hashed while DuckDB read it: the digest of the very bytes
        assert recorded[name] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    for name in RELEASE:  # touched (a copy without -p): same size, so hashed first and found unchanged
        os.utime(folder / name, ns=(1_000_000_000, 1_000_000_000))
    versions = _change_log_versions(con, "medicare.ncci_ptp")
    outcomes, _ = load_folder(con, folder)
    assert all(o.unchanged for o in outcomes if o.file_name in RELEASE), outcomes
    assert _change_log_versions(con, "medicare.ncci_ptp") == versions


@pytest.mark.parametrize(
    "trouble", ["a broken line", "a key repeated in the file", "edits of the other file", "cut mid-line"]
)
def test_a_release_that_does_not_load_in_one_read_loads_file_by_file(con, folder, trouble):
    """What one file of a release breaks is found and said exactly as when the file is read alone."""
    second = list(RELEASE["ccipra-v322r0-f2.txt"])
    if trouble == "a broken line":
        second.append(PtpEdit("G02", "G0204", "20190101"))
    elif trouble == "a key repeated in the file":
        second.append(PtpEdit("G0201", "G0202", "20190101", modifier_indicator="0"))
    elif trouble == "edits of the other file":
        second = RELEASE["ccipra-v322r0-f1.txt"][:2] + second
    (folder / "ccipra-v322r0-f1.txt").write_bytes(ptp_text(RELEASE["ccipra-v322r0-f1.txt"]))
    text = ptp_text(second)
    (folder / "ccipra-v322r0-f2.txt").write_bytes(
        text if trouble != "cut mid-line" else _cut_in_a_middle_field(text, b"\t")
    )
    load_folder(con, folder)
    files = source_files(con)
    assert files["ccipra-v322r0-f1.txt"][:5] == ("loaded", "ncci_ptp", "practitioner v322r0", 3, 0)
    status, _, _, loaded, quarantined, error, _ = files["ccipra-v322r0-f2.txt"]
    if trouble == "a broken line":
        assert (status, loaded, quarantined) == ("loaded", 2, 1)
        assert (
            "'G02' is not a five-character code" in con.execute("SELECT reasons FROM medicare.quarantine").fetchone()[0]
        )
    elif trouble == "a key repeated in the file":
        assert (status, loaded, quarantined) == ("loaded", 1, 2)
    elif trouble == "edits of the other file":
        assert (
            status == "rejected"
            and "repeats NCCI PTP edits already loaded from ccipra-v322r0-f1.txt (2 edits)" in error
        )
    else:
        assert status == "rejected" and "cut off: line 8 ends without a line break" in error


def test_a_file_growing_while_its_release_is_read_loads_as_it_ends(con, folder, monkeypatch):
    """The copy of f2 goes on while DuckDB reads the release: the release is not committed with a digest of bytes
    that are not the file's; the files load one by one, f2 as it now is."""
    from pipeline.medicare_policy import folder as folder_module

    for name, edits in RELEASE.items():
        (folder / name).write_bytes(ptp_text(edits))
    hash_then_grow, grown = folder_module.sha256_file, []

    def copy_goes_on(path):
        digest = hash_then_grow(path)
        if path.name == "ccipra-v322r0-f2.txt" and not grown:
            grown.append(path)
            with open(path, "ab") as handle:
                handle.write(b"G0209\tG0210\t\t20190101\t*\t1\tMutually exclusive procedures\r\n")
        return digest

    monkeypatch.setattr(folder_module, "sha256_file", copy_goes_on)
    load_folder(con, folder)
    files = source_files(con)
    assert files["ccipra-v322r0-f2.txt"][:4] == ("loaded", "ncci_ptp", "practitioner v322r0", 3)
    recorded = dict(con.execute("SELECT file_name, sha256 FROM medicare.source_files").fetchall())
    for name in RELEASE:
        assert recorded[name] == hashlib.sha256((folder / name).read_bytes()).hexdigest(), name


def test_a_release_older_than_the_one_loaded_is_not_loaded(con, folder):
    """A newer release loaded from a zip the folder names differently: the older plain files are superseded."""
    newer = ptp_text([PtpEdit("G0301", "G0302", "20200101")])
    (folder / "ptp-practitioner-2026q3.zip").write_bytes(_zip({"ccipra-v322r0-f1.txt": newer}))
    load_folder(con, folder)
    for name, edits in RELEASE.items():
        (folder / name.replace("v322r0", "v321r0")).write_bytes(ptp_text(edits))
    load_folder(con, folder)
    files = source_files(con)
    for name in RELEASE:
        status, *_, error, _ = files[name.replace("v322r0", "v321r0")]
        assert status == "skipped" and "older than the practitioner release already loaded (v322r0)" in error
    assert con.execute("SELECT DISTINCT ncci_version FROM medicare.ncci_ptp").fetchall() == [("v322r0",)]


def test_a_removed_file_takes_its_rows_and_quarantine_with_it(con, folder):
    path = folder / mue_file_name("dme")
    path.write_bytes(mue_text("dme", [Mue("E0100", "1", "1"), Mue("E01", "1", "1")]))
    load_folder(con, folder)
    assert con.execute("SELECT count(*) FROM medicare.quarantine").fetchone()[0] == 1
    path.unlink()
    load_folder(con, folder)
    assert con.execute(
        "SELECT (SELECT count(*) FROM medicare.ncci_mue), (SELECT count(*) FROM medicare.quarantine)"
    ).fetchone() == (0, 0)
