"""Reading CMS utilization files whatever their line endings and text encoding; every line accounted for."""

from __future__ import annotations

import codecs
import csv
import io
import random
import zipfile

import pytest

from pipeline.utilization.file_access import StoredFile, _Endings, readable_path, wide_encoding_of
from tests.conftest import run_pipeline
from tests.synthetic.cms import GEO_HEADER, PROVIDER_HEADER, geo_rows, provider_rows

GEO_22 = "MUP_PHY_R24_P05_V10_D22_Geo.csv"
GEO_21 = "MUP_PHY_R24_P05_V10_D21_Geo.csv"


def geo_lines(year: int, seed: int = 1) -> list[str]:
    """The header and data lines of a geo file, without line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(GEO_HEADER)
    writer.writerows(geo_rows(random.Random(seed), year))
    return buffer.getvalue().split("\n")[:-1]


def files(env) -> dict[str, tuple]:
    rows = env.query("SELECT file_name, status, rows_loaded, rows_quarantined, error FROM utilization.source_files")
    return {name: tuple(rest) for name, *rest in rows}


def load(env):
    result = run_pipeline(env, "group:utilization", raise_on_error=False)
    assert result.success, "a file's content must never fail the run"
    return files(env)


ENDINGS = {
    "lf": lambda lines: "".join(line + "\n" for line in lines),
    "crlf": lambda lines: "".join(line + "\r\n" for line in lines),
    "cr": lambda lines: "".join(line + "\r" for line in lines),
    "cr_no_final": lambda lines: "\r".join(lines),
    "mixed": lambda lines: "".join(line + ("\r\n", "\n", "\r")[i % 3] for i, line in enumerate(lines)),
    "crlf_then_lf": lambda lines: "".join(line + ("\r\n" if i < 5 else "\n") for i, line in enumerate(lines)),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_valid_csv_loads_whatever_its_line_endings(pipeline_env, ending):
    lines = geo_lines(2022)
    (pipeline_env.utilization_dir / GEO_22).write_bytes(ENDINGS[ending](lines).encode())
    status, loaded, quarantined, error = load(pipeline_env)[GEO_22]
    assert (status, loaded, quarantined, error) == ("loaded", len(lines) - 1, 0, None)
    codes = pipeline_env.query(
        "SELECT DISTINCT hcpcs_code FROM utilization.physician_geo_service WHERE data_year = 2022"
    )
    assert all(len(code) == 5 for (code,) in codes)  # no CR left in a value


ENCODINGS = {
    "utf-16 with BOM": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be with BOM": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-16-le without BOM": lambda text: text.encode("utf-16-le"),
    "utf-16-be without BOM": lambda text: text.encode("utf-16-be"),
    "utf-32 with BOM": lambda text: text.encode("utf-32"),
    "utf-32-le without BOM": lambda text: text.encode("utf-32-le"),
    "utf-8 with BOM, CRLF": lambda text: codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode(),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_utf16_and_utf32_text_is_decoded(pipeline_env, encoding):
    lines = geo_lines(2022)
    lines[1] = lines[1].replace("Ablate", "Ablaté")  # one non-ASCII character survives the trip
    text = "".join(line + "\n" for line in lines)
    (pipeline_env.utilization_dir / GEO_22).write_bytes(ENCODINGS[encoding](text))
    status, loaded, quarantined, error = load(pipeline_env)[GEO_22]
    assert (status, loaded, quarantined, error) == ("loaded", len(lines) - 1, 0, None)
    [(count,)] = pipeline_env.query(
        "SELECT count(*) FROM utilization.physician_geo_service WHERE data_year = 2022 AND hcpcs_desc LIKE 'Ablaté%'"
    )
    assert count == 1


def test_zipped_utf16_with_cr_endings_loads(pipeline_env):
    lines = geo_lines(2021)
    with zipfile.ZipFile(pipeline_env.utilization_dir / GEO_21.replace(".csv", ".zip"), "w") as archive:
        archive.writestr(GEO_21, "\r".join(lines).encode("utf-16"))
    status, loaded, *_ = load(pipeline_env)[GEO_21.replace(".csv", ".zip")]
    assert (status, loaded) == ("loaded", len(lines) - 1)


def test_text_that_only_looks_like_utf16_is_rejected_not_a_run_failure(pipeline_env):
    lines = geo_lines(2022)
    broken = codecs.BOM_UTF16_LE + "".join(line + "\n" for line in lines).encode("utf-16-le")
    broken += "\ud800".encode("utf-16-le", "surrogatepass") + b"x\x00"  # a lone surrogate: not UTF-16
    (pipeline_env.utilization_dir / GEO_22).write_bytes(broken)
    status, loaded, _, error = load(pipeline_env)[GEO_22]
    assert status == "rejected" and loaded == 0 and "UTF-16" in error
    assert files(pipeline_env)["MUP_PHY_R25_P05_V20_D23_Geo.csv"][0] == "loaded"


def test_wide_encodings_are_recognized_by_bom_or_nul_bytes():
    text = "Rndrng_Prvdr_Geo_Lvl,Rndrng_Prvdr_Geo_Cd\nNational,,\n"
    assert wide_encoding_of(text.encode("utf-16")) == "utf-16"
    assert wide_encoding_of(text.encode("utf-32")) == "utf-32"
    assert wide_encoding_of(text.encode("utf-16-le")) == "utf-16-le"
    assert wide_encoding_of(text.encode("utf-16-be")) == "utf-16-be"
    assert wide_encoding_of(text.encode("utf-32-le")) == "utf-32-le"
    assert wide_encoding_of(text.encode("utf-32-be")) == "utf-32-be"
    assert wide_encoding_of(text.encode()) is None
    assert wide_encoding_of("Müller,Zoë\n".encode("latin-1")) is None


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 20])
@pytest.mark.parametrize(
    ("data", "seen", "rewrite"),
    [
        (b"a\r\nb\nc\rd\r\n\r\ne\r", (True, True, True), True),
        (b"a\r\nb\r\n\r\nc\r\n", (True, False, False), False),
        (b"a\nb\n\nc", (False, False, True), False),
        (b"a\rb\rc\r", (False, True, False), True),
        (b"a\r\nb\r\nc\nd", (True, False, True), True),
    ],
)
def test_line_endings_are_seen_across_chunk_boundaries(size, data, seen, rewrite):
    endings = _Endings()
    for start in range(0, len(data), size):
        endings.feed(data[start : start + size])
    endings.finish()
    assert (endings.crlf, endings.cr, endings.lf) == seen
    assert endings.need_rewrite is rewrite


def test_a_rewritten_copy_is_deleted_after_reading(tmp_path):
    source = tmp_path / GEO_22
    source.write_bytes(b"a,b\r1,2\r\n3,4\n")
    scratch = tmp_path / "scratch"
    with readable_path(StoredFile(source, "none"), scratch) as (path, compression):
        assert path.parent == scratch and compression == "none"
        assert path.read_bytes() == b"a,b\n1,2\n3,4\n"
    assert not list(scratch.iterdir())
    source.write_bytes(b"a,b\r\n1,2\r\n")
    with readable_path(StoredFile(source, "none"), scratch) as (path, _):
        assert path == source  # nothing to rewrite: DuckDB reads the file itself


PROVIDER_21 = "MUP_PHY_R23_P05_V10_D21_Prov_Svc.csv"


def provider_lines(n: int) -> list[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PROVIDER_HEADER)
    writer.writerows(provider_rows(n, random.Random(5)))
    return buffer.getvalue().split("\n")[:-1]


def quarantine(env) -> list[tuple]:
    return env.query("SELECT line_number, reasons, row_data FROM utilization.quarantine ORDER BY line_number")


@pytest.mark.parametrize("rows", [5_000, pytest.param(100_000, marks=pytest.mark.slow)])  # slow: a 100,000-row file
def test_an_unterminated_quote_loses_no_other_line(pipeline_env, rows):
    lines = provider_lines(rows)
    broken = 3  # the header is line 1
    lines[broken - 1] = lines[broken - 1].replace(",", ',"', 1)
    (pipeline_env.utilization_dir / PROVIDER_21).write_text("".join(line + "\n" for line in lines))
    status, loaded, quarantined, _ = load(pipeline_env)[PROVIDER_21]
    assert status == "loaded" and (loaded, quarantined) == (rows - 1, 1)
    assert loaded + quarantined == len(lines) - 1  # every data line accounted for
    [(number, reasons, text)] = quarantine(pipeline_env)
    assert (number, text) == (broken, lines[broken - 1])  # its own number, its own text
    assert "unterminated" in reasons
    following = next(csv.reader([lines[broken]]))
    names = pipeline_env.query(
        "SELECT count(*) FROM utilization.physician_provider_service WHERE npi = ? AND hcpcs_code = ? "
        "AND place_of_service = ?",
        [following[0], following[17], following[20]],
    )
    assert names == [(1,)]  # the next valid line loaded


def test_quarantine_rows_show_their_own_line_among_blank_lines_and_crlf(pipeline_env):
    lines = provider_lines(50)
    lines[10] = lines[10].replace(",", ',"', 1)  # the line-exact read's own quarantine row, line 12
    lines[20] = lines[20] + ",extra"  # after it, DuckDB's reject from the copy must keep line 22
    text = "\r\n".join(lines[:5]) + "\r\n\r\n" + "\r\n".join(lines[5:]) + "\r\n"
    (pipeline_env.utilization_dir / PROVIDER_21).write_bytes(text.encode())
    status, loaded, quarantined, _ = load(pipeline_env)[PROVIDER_21]
    assert (status, loaded + quarantined, quarantined) == ("loaded", 50, 2)
    assert [(n, t) for n, _, t in quarantine(pipeline_env)] == [(12, lines[10]), (22, lines[20])]


def test_count_data_lines_skips_blank_lines_across_chunks(tmp_path, monkeypatch):
    from pipeline.utilization import line_exact

    path = tmp_path / "x.csv"
    path.write_bytes(b"h\n1\n\n2\r\n\r\n3\n\n\n4")
    assert line_exact.count_data_lines(path) == 4
    monkeypatch.setattr(line_exact, "_CHUNK", 1)
    assert line_exact.count_data_lines(path) == 4
    path.write_bytes(b"h\n")
    assert line_exact.count_data_lines(path) == 0
    path.write_bytes(b"")
    assert line_exact.count_data_lines(path) == 0


def test_thousands_separators_in_numeric_columns_load_with_their_values(pipeline_env):
    rows = geo_rows(random.Random(1), 2022)
    benes, services, charge = (GEO_HEADER.index(c) for c in ("Tot_Benes", "Tot_Srvcs", "Avg_Sbmtd_Chrg"))
    rows[0][benes], rows[0][services], rows[0][charge] = "1,204", "1,250.5", "1,250.00"
    rows[1][charge] = "12,345,678.25"
    rows[2][benes] = "1,2,3"  # not a number with thousands separators: still quarantined
    rows[3][charge] = "12,34"
    rows[4][GEO_HEADER.index("HCPCS_Desc")] = "Ablate 1,204"  # text columns keep their commas
    rows[5][benes] = "1,204"
    with (pipeline_env.utilization_dir / GEO_22).open("w", newline="") as handle:  # Excel quotes what has a comma
        csv.writer(handle).writerows([GEO_HEADER, *rows])
    status, loaded, quarantined, _ = load(pipeline_env)[GEO_22]
    assert (status, loaded, quarantined) == ("loaded", len(rows) - 2, 2)
    got = pipeline_env.query(
        "SELECT total_beneficiaries, total_services, avg_submitted_charge FROM utilization.physician_geo_service "
        "WHERE data_year = 2022 AND hcpcs_code = ? AND place_of_service = ? AND geo_code IS NOT DISTINCT FROM ?",
        [rows[0][3], rows[0][6], rows[0][1] or None],
    )
    assert got == [(1204, 1250.5, 1250.0)]
    charges = {c for (c,) in pipeline_env.query("SELECT avg_submitted_charge FROM utilization.physician_geo_service")}
    assert 12345678.25 in charges
    descs = {d for (d,) in pipeline_env.query("SELECT hcpcs_desc FROM utilization.physician_geo_service")}
    assert "Ablate 1,204" in descs
    assert sorted(n for n, _, _ in quarantine(pipeline_env)) == [4, 5]  # own line numbers of "1,2,3" and "12,34"


@pytest.mark.parametrize(
    ("value", "number"),
    [("1,204", True), ("-1,204", True), ("1,250.00", True), ("12,345,678.9", True), ("1,2,3", False),
     ("12,34", False), (",123", False), ("1234,567", False), ("1,234.", False), ("1.234,56", False)],
)  # fmt: skip
def test_the_thousands_rule(value, number):
    from pipeline.utilization.line_exact import THOUSANDS

    assert bool(THOUSANDS.fullmatch(value)) is number


GEO_21_ZIP = GEO_21.replace(".csv", ".zip")


def scratch_files(env) -> list:
    scratch = env.warehouse_path.parent / (env.warehouse_path.name + ".tmp") / "utilization"
    return sorted(scratch.iterdir()) if scratch.exists() else []


def test_a_zip_that_expands_past_the_ratio_cap_is_rejected_and_its_scratch_deleted(pipeline_env):
    lines = geo_lines(2021)
    bomb = lines[0] + "\n" + (lines[1] + "\n") * 40_000  # about 4 MB of one line: compresses ~1000 times
    with zipfile.ZipFile(pipeline_env.utilization_dir / GEO_21_ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(GEO_21, bomb)
    status, loaded, _, error = load(pipeline_env)[GEO_21_ZIP]
    assert (status, loaded) == ("rejected", 0)
    assert "CPT_ZIP_MAX_RATIO" in error and "100 times" in error and "partial copy was deleted" in error
    assert scratch_files(pipeline_env) == []
    assert load(pipeline_env)["MUP_PHY_R25_P05_V20_D23_Geo.csv"][0] == "loaded"


def test_the_expanded_size_cap_is_set_by_its_environment_variable(pipeline_env, monkeypatch):
    lines = geo_lines(2021)
    with zipfile.ZipFile(pipeline_env.utilization_dir / GEO_21_ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(GEO_21, "".join(line + "\n" for line in lines))
    monkeypatch.setenv("CPT_ZIP_MAX_EXPANDED_BYTES", "1000")
    status, loaded, _, error = load(pipeline_env)[GEO_21_ZIP]
    assert (status, loaded) == ("rejected", 0)
    assert "expands past 1,000 bytes" in error and "CPT_ZIP_MAX_EXPANDED_BYTES" in error
    assert scratch_files(pipeline_env) == []
    monkeypatch.delenv("CPT_ZIP_MAX_EXPANDED_BYTES")
    (pipeline_env.utilization_dir / GEO_21_ZIP).touch()
    assert load(pipeline_env)[GEO_21_ZIP][:2] == ("loaded", len(lines) - 1)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 9, 64])
def test_count_data_lines_agrees_with_a_line_by_line_count(tmp_path, monkeypatch, size):
    from pipeline.utilization import line_exact

    rng = random.Random(size)
    data = b"header\n" + bytes(rng.choice(b"ab,\n\n\r\n") for _ in range(500))
    data = data.replace(b"\r", b"\r\n").replace(b"\r\n\n", b"\r\n")  # only LF and CRLF ends, as after readable_path
    (tmp_path / "x.csv").write_bytes(data)
    expected = sum(1 for line in data.split(b"\n")[1:] if line.rstrip(b"\r"))
    monkeypatch.setattr(line_exact, "_CHUNK", size)
    assert line_exact.count_data_lines(tmp_path / "x.csv") == expected


def test_an_unterminated_quote_in_a_file_without_other_quotes_swallows_nothing(pipeline_env):
    lines = geo_lines(2022)
    lines[4] = lines[4].replace(",", ',"', 2)[:-3]  # line 5: a quote opens and never closes; no later line has one
    lines[4] = lines[4].replace(',"', ",", 1)
    fields = lines[29].split(",")
    fields[GEO_HEADER.index("Tot_Srvcs")] = "lots"
    lines[29] = ",".join(fields)  # line 30: refused by DuckDB when it reads the line-exact copy
    (pipeline_env.utilization_dir / GEO_22).write_text("".join(line + "\n" for line in lines))
    status, loaded, quarantined, _ = load(pipeline_env)[GEO_22]
    assert (status, loaded, quarantined) == ("loaded", len(lines) - 3, 2)  # without the line-exact read: 3 loaded
    assert [(n, t) for n, _, t in quarantine(pipeline_env)] == [(5, lines[4]), (30, lines[29])]


def test_a_stray_quote_that_duckdb_reports_without_its_text_is_shown_with_it(pipeline_env):
    lines = provider_lines(1_000)
    lines[1] = lines[1].replace(',"Office', ',"Office"x', 1)  # line 2: DuckDB's reject carries no line text
    (pipeline_env.utilization_dir / PROVIDER_21).write_text("".join(line + "\n" for line in lines))
    status, loaded, quarantined, _ = load(pipeline_env)[PROVIDER_21]
    assert (status, loaded, quarantined) == ("loaded", 999, 1)
    [(number, reasons, text)] = quarantine(pipeline_env)
    assert (number, text) == (2, lines[1]) and "unreadable line" in reasons


def test_a_quoted_value_with_a_line_break_stays_one_record(pipeline_env):
    rows = geo_rows(random.Random(1), 2022)
    rows[3][GEO_HEADER.index("HCPCS_Desc")] = "Ablate\nrenal tumor"  # valid CSV: a quoted line break
    lines = geo_lines(2022)
    lines[10] = lines[10].replace(",", ',"', 1)  # and an unterminated quote, whose next line is valid
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([GEO_HEADER, *rows[:8]])
    text = buffer.getvalue() + "".join(line + "\n" for line in lines[9:])  # line 10 on: geo_lines' own rows
    (pipeline_env.utilization_dir / GEO_22).write_text(text)
    status, loaded, quarantined, _ = load(pipeline_env)[GEO_22]
    records = 8 + len(lines) - 9
    assert (status, loaded + quarantined, quarantined) == ("loaded", records, 1)
    [(number, _, bad)] = quarantine(pipeline_env)
    assert (number, bad) == (12, lines[10])  # one more physical line than records before it
    descs = {d for (d,) in pipeline_env.query("SELECT hcpcs_desc FROM utilization.physician_geo_service")}
    assert "Ablate\nrenal tumor" in descs


def test_a_line_break_record_never_swallows_a_line_that_is_a_record_itself(tmp_path):
    from pipeline.utilization.line_exact import line_exact_copy

    source = tmp_path / "x.csv"
    source.write_bytes(b'h1,h2,h3\na,b,"c\nx,y,z"\n1,"2\n2",3\n')
    header = [("h1", "VARCHAR"), ("h2", "VARCHAR"), ("h3", "VARCHAR")]
    with line_exact_copy(source, "none", "utf-8", header, ",", tmp_path / "s") as (copy, bad, data_lines):
        assert [(line.number, line.text) for line in bad] == [(2, 'a,b,"c')]
        assert copy.read_text() == 'h1,h2,h3\n\nx,y,z"\n1,"2\n2",3\n'
        assert data_lines == 3
