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
from tests.synthetic.cms import GEO_HEADER, geo_rows

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


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_line_endings_are_counted_across_chunk_boundaries(size):
    data = b"a\r\nb\nc\rd\r\n\r\ne\r"
    endings = _Endings()
    for start in range(0, len(data), size):
        endings.feed(data[start : start + size])
    endings.finish()
    assert (endings.crlf, endings.lf, endings.cr) == (3, 1, 2)
    assert endings.need_rewrite


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
