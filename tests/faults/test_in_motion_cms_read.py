"""Issue 16, reading CMS files: valid CSV with any line ending or a wide encoding loads, an unterminated quote
costs exactly its own line, a zip bomb is refused; none of them fails the run or loses served data."""

from __future__ import annotations

import codecs
import csv
import io
import random
import zipfile

import pytest

from tests.conftest import run_pipeline
from tests.faults.test_fault_injection import serving_state, working_counts
from tests.synthetic.cms import PROVIDER_HEADER, provider_rows

# Slow: fault-injection and inputs-in-motion scenarios, each building and publishing the whole sample
# warehouse and running the pipeline again one to three times; the full suite runs them.
pytestmark = pytest.mark.slow

PROVIDER = "MUP_PHY_R24_P05_V10_D22_Prov_Svc.csv"
PROVIDER_TABLE = "utilization.physician_provider_service"
ROWS = 3_000


@pytest.fixture
def published(pipeline_env):
    assert run_pipeline(pipeline_env).success
    return pipeline_env


def provider_text(rows: int = ROWS) -> list[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PROVIDER_HEADER)
    writer.writerows(provider_rows(rows, random.Random(16)))
    return buffer.getvalue().split("\n")[:-1]


def served_changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: after.get(table, 0) - count for table, count in before.items() if after.get(table, 0) != count}


def file_record(env) -> tuple:
    [row] = env.query(
        "SELECT status, rows_loaded, rows_quarantined, error FROM utilization.source_files WHERE file_name LIKE ?",
        [PROVIDER.replace(".csv", "%")],
        serving=True,
    )
    return row


FORMS = {
    "CR-only (CSV Macintosh)": lambda lines: "\r".join(lines).encode(),
    "mixed CRLF and LF": lambda lines: "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines)),
    "UTF-16 with BOM": lambda lines: "".join(line + "\r\n" for line in lines).encode("utf-16"),
    "UTF-16 without BOM": lambda lines: "".join(line + "\n" for line in lines).encode("utf-16-le"),
    "UTF-32": lambda lines: "".join(line + "\n" for line in lines).encode("utf-32"),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_valid_csv_in_any_line_ending_or_wide_encoding_is_published_whole(published, form):
    before_hash, before = serving_state(published.serving_path)
    lines = provider_text()
    data = FORMS[form](lines)
    (published.utilization_dir / PROVIDER).write_bytes(data if isinstance(data, bytes) else data.encode())
    assert run_pipeline(published).success  # CR-only used to fail the whole run as an infrastructure failure
    after_hash, after = serving_state(published.serving_path)
    assert after_hash != before_hash
    assert served_changes(before, after) == {PROVIDER_TABLE: ROWS, "utilization.source_files": 1}
    assert file_record(published) == ("loaded", ROWS, 0, None)


def test_an_unterminated_quote_costs_only_its_own_line(published):
    _, before = serving_state(published.serving_path)
    lines = provider_text()
    lines[5] = lines[5].replace(",", ',"', 1)  # line 6 of the file
    (published.utilization_dir / PROVIDER).write_text("".join(line + "\n" for line in lines))
    assert run_pipeline(published).success
    _, after = serving_state(published.serving_path)
    assert served_changes(before, after) == {
        PROVIDER_TABLE: ROWS - 1,
        "utilization.quarantine": 1,
        "utilization.source_files": 1,
    }
    assert file_record(published)[:3] == ("loaded", ROWS - 1, 1)
    [(line, text)] = published.query("SELECT line_number, row_data FROM utilization.quarantine", serving=True)
    assert (line, text) == (6, lines[5])


def test_a_zip_bomb_and_broken_utf16_are_rejected_and_served_data_stays(published):
    lines = provider_text()
    (published.utilization_dir / PROVIDER).write_text("".join(line + "\n" for line in lines))
    assert run_pipeline(published).success
    before_hash, before = serving_state(published.serving_path)
    working = working_counts(published)
    # The year's file is replaced by a zip that expands 1000 times, and another year by broken UTF-16.
    (published.utilization_dir / PROVIDER).unlink()
    with zipfile.ZipFile(published.utilization_dir / PROVIDER.replace(".csv", ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(PROVIDER, lines[0] + "\n" + (lines[1] + "\n") * 40_000)
    broken = codecs.BOM_UTF16_LE + "".join(line + "\n" for line in lines).encode("utf-16-le")
    broken += "\ud800".encode("utf-16-le", "surrogatepass") + b"x\x00"  # a lone surrogate: not UTF-16
    (published.utilization_dir / PROVIDER.replace("_D22_", "_D21_")).write_bytes(broken)
    assert run_pipeline(published).success  # content problems: recorded on the files, never a run failure
    _, after = serving_state(published.serving_path)
    files = dict(
        published.query("SELECT file_name, error FROM utilization.source_files WHERE status = 'rejected'", serving=True)
    )
    assert "CPT_ZIP_MAX_RATIO" in files[PROVIDER.replace(".csv", ".zip")]
    assert "UTF-16" in files[PROVIDER.replace("_D22_", "_D21_")]
    # The removed .csv takes its rows (a removal on purpose); nothing else is lost or half loaded.
    assert served_changes(before, after) == {PROVIDER_TABLE: -ROWS, "utilization.source_files": 1}
    assert working_counts(published)[PROVIDER_TABLE] == working[PROVIDER_TABLE] - ROWS
    assert before_hash != serving_state(published.serving_path)[0]
