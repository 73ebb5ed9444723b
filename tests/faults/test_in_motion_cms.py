"""Fault injection, CMS files in motion: a cut download, a copy still being written, a header-only or junk
replacement, a placeholder-only folder, a real file named like the sample, a layout change under one name.

Each case records the serving file's hash and per-table row counts before and after (as
test_fault_injection does): content problems are recorded on their file and yesterday's rows stay;
a folder of placeholders is refused and nothing is published.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
from pathlib import Path

import pytest

from pipeline.inputs.change_detection import ObservedFile, RecordedFile, same_stat
from pipeline.utilization import completeness
from tests.conftest import run_pipeline
from tests.faults.test_fault_injection import (
    assert_nothing_published_or_lost,
    failure_text,
    serving_state,
    working_counts,
)
from tests.synthetic.cms import GEO_HEADER, PROVIDER_HEADER, geo_rows, provider_rows, write_csv

# Slow: fault-injection and inputs-in-motion scenarios, each building and publishing the whole sample
# warehouse and running the pipeline again one to three times; the full suite runs them.
pytestmark = pytest.mark.slow

SAMPLE = "MUP_PHY_R25_P05_V20_D23_Geo.csv"
PROVIDER = "MUP_PHY_R25_P05_V20_D21_Prov_Svc.csv"
OTHER_YEAR = "MUP_PHY_R25_P05_V20_D22_Prov_Svc.csv"  # a file the warehouse holds no rows of
PROVIDER_TABLE = "utilization.physician_provider_service"
GEO_TABLE = "utilization.physician_geo_service"
ROWS = 2_000


def file_record(env, name: str) -> tuple:
    [row] = env.query(
        "SELECT status, error, rows_loaded, file_size_bytes, file_modified_at, sha256, is_synthetic "
        "FROM utilization.source_files WHERE file_name = ?",
        [name],
        serving=True,
    )
    return row


def data_counts(counts: dict[str, int]) -> dict[str, int]:
    """Every table but the file records (a new file adds its record; that is the point)."""
    return {table: n for table, n in counts.items() if table != "utilization.source_files"}


def provider_lines(n: int, seed: int = 2) -> bytes:
    path = Path(f"/tmp/_provider_{n}_{seed}_{random.random()}.csv")
    try:
        return write_csv(path, PROVIDER_HEADER, provider_rows(n, random.Random(seed))).read_bytes()
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture
def published(pipeline_env):
    (pipeline_env.utilization_dir / PROVIDER).write_bytes(provider_lines(ROWS))
    assert run_pipeline(pipeline_env).success
    assert pipeline_env.query(f"SELECT count(*) FROM {PROVIDER_TABLE}", serving=True) == [(ROWS,)]
    return pipeline_env


def cut_mid_line(data: bytes, fraction: float) -> bytes:
    """Cut inside a number in the middle of a line, as an interrupted download does."""
    start = data.rindex(b"\n", 0, int(len(data) * fraction)) + 1
    line = data[start : data.index(b"\n", start)]
    middle = line.index(b",Springfield,") - 2  # inside the street number or suite, fields 7-8 of 28
    return data[: start + middle]


def cut_at_line(data: bytes, fraction: float) -> bytes:
    return data[: data.rindex(b"\n", 0, int(len(data) * fraction)) + 1]


def test_a_download_cut_mid_line_never_replaces_the_complete_file(published, monkeypatch):
    before_hash, before = serving_state(published.serving_path)
    path = published.utilization_dir / PROVIDER
    complete = path.read_bytes()
    path.write_bytes(cut_mid_line(complete, 0.6))
    assert run_pipeline(published).success
    status, error, kept, *_ = file_record(published, PROVIDER)
    assert status == "rejected" and error.startswith("cut off: last line incomplete (download interrupted?)")
    assert f"the {ROWS:,} rows loaded earlier" in error and kept == ROWS
    assert serving_state(published.serving_path)[1] == before  # every table keeps its rows

    # A second cut, this time at a line end, to 30 %: no cut line, but most rows are gone.
    path.write_bytes(cut_at_line(complete, 0.3))
    assert run_pipeline(published).success
    status, error, kept, *_ = file_record(published, PROVIDER)
    assert status == "rejected" and "lost most of its rows" in error and f"had {ROWS:,}" in error
    assert serving_state(published.serving_path)[1] == before

    monkeypatch.setenv("CPT_ALLOW_SHRINK", "1")  # the user means it
    assert run_pipeline(published).success
    status, _, loaded, *_ = file_record(published, PROVIDER)
    assert status == "loaded" and 0 < loaded < ROWS * 0.35
    assert serving_state(published.serving_path)[0] != before_hash


def test_a_complete_file_beats_a_newer_partial_copy_and_the_reason_is_true(pipeline_env):
    complete = provider_lines(ROWS)
    copy = pipeline_env.utilization_dir / PROVIDER.replace(".csv", " (1).csv")
    (pipeline_env.utilization_dir / PROVIDER).write_bytes(complete)
    copy.write_bytes(cut_mid_line(complete, 0.6))
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 300 * 10**9))  # 5 minutes newer
    assert run_pipeline(pipeline_env).success
    status, _, loaded, *_ = file_record(pipeline_env, PROVIDER)
    assert (status, loaded) == ("loaded", ROWS)
    status, error, loaded, *_ = file_record(pipeline_env, copy.name)
    assert status == "rejected" and loaded == 0
    assert f"{PROVIDER} provides provider_service data for 2021 (it is complete; {copy.name} is cut off" in error
    assert "loaded first" not in error  # both were new in this run
    assert pipeline_env.query(f"SELECT count(*) FROM {PROVIDER_TABLE}", serving=True) == [(ROWS,)]


def test_a_header_only_replacement_keeps_the_year(published):
    _, before = serving_state(published.serving_path)
    write_csv(published.utilization_dir / PROVIDER, PROVIDER_HEADER, [])
    assert run_pipeline(published).success
    status, error, kept, *_ = file_record(published, PROVIDER)
    assert status == "rejected" and "has no data rows" in error and f"had {ROWS:,}" in error and kept == ROWS
    assert serving_state(published.serving_path)[1] == before
    assert published.query(f"SELECT DISTINCT data_year FROM {PROVIDER_TABLE}", serving=True) == [(2021,)]


def append_rows(path: Path, n: int, seed: int) -> None:
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerows(list(provider_rows(ROWS + n, random.Random(seed)))[ROWS:])


@pytest.mark.parametrize("new", [False, True], ids=["replacement", "new file"])
def test_a_file_still_being_written_is_skipped_and_loaded_whole_next_run(published, monkeypatch, new):
    _, before = serving_state(published.serving_path)
    path = published.utilization_dir / (PROVIDER.replace("D21", "D22") if new else PROVIDER)
    path.write_bytes(provider_lines(ROWS, seed=7))  # a new version arrives: the copy has written 2,000 rows ...
    appended = []

    def copy_goes_on(seen: Path) -> None:  # ... and writes 500 more between the listing and the reading
        if seen == path and not appended:
            append_rows(path, 500, seed=7)
            appended.append(seen)

    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", copy_goes_on)
    assert run_pipeline(published).success
    assert appended
    status, error, kept, size, modified, sha256, _ = file_record(published, path.name)
    assert status == "skipped" and error.startswith("still being written")
    assert (size, modified, sha256) == (None, None, None)  # nothing recorded that was not read whole
    assert kept == (0 if new else ROWS)
    assert data_counts(serving_state(published.serving_path)[1]) == data_counts(before)  # the old version stays
    observed = ObservedFile(path.name, path.stat().st_size, path.stat().st_mtime_ns)
    assert not same_stat(RecordedFile(sha256, size, modified), observed)  # the sensor sees it as changed

    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", None)  # the copy finished
    assert run_pipeline(published).success
    status, _, loaded, size, _, sha256, _ = file_record(published, path.name)
    assert (status, loaded) == ("loaded", ROWS + 500)
    assert size == path.stat().st_size and sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("placeholder", ["README.txt", "cut.csv"])
def test_a_folder_of_placeholders_is_refused_like_an_empty_one(published, monkeypatch, placeholder):
    before, working = serving_state(published.serving_path), working_counts(published)
    for path in published.utilization_dir.iterdir():
        path.unlink()
    if placeholder == "README.txt":
        (published.utilization_dir / "README.txt").write_text("This folder is mounted from the CMS share.\n")
    else:  # only a CMS file cut off by an interrupted download, holding none of the warehouse's rows
        (published.utilization_dir / OTHER_YEAR).write_bytes(cut_mid_line(provider_lines(50), 0.5))
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "has no CMS files" in text and "mount" in text and "CPT_ALLOW_SHRINK=1" in text
    assert (placeholder if placeholder == "README.txt" else "cut off") in text
    assert_nothing_published_or_lost(published, before, working)

    monkeypatch.setenv("CPT_ALLOW_SHRINK", "1")  # removed on purpose; a cut file is still rejected, keeping its rows
    assert run_pipeline(published).success
    assert published.query(f"SELECT count(*) FROM {GEO_TABLE}", serving=True) == [(0,)]
    assert published.query(f"SELECT count(*) FROM {PROVIDER_TABLE}", serving=True) == [(0,)]


def test_a_missing_mount_with_a_stray_cut_copy_of_one_held_file_is_refused(published):
    """Only a cut copy of one of the held files is there, the others are gone: a mount that did not come up, not
    a content problem of one file. Nothing is removed or published."""
    before, working = serving_state(published.serving_path), working_counts(published)
    for path in published.utilization_dir.iterdir():
        path.unlink()
    (published.utilization_dir / PROVIDER).write_bytes(cut_mid_line(provider_lines(ROWS), 0.5))
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success and "has no CMS files" in failure_text(result)
    assert_nothing_published_or_lost(published, before, working)


def test_the_one_file_of_a_folder_cut_off_is_rejected_and_the_run_goes_on(published):
    """A cut download of a file the warehouse holds is a content problem of that file, not an empty folder: it is
    rejected keeping its rows, and the rest of the run (a documents change here) is published."""
    for path in published.utilization_dir.iterdir():
        if path.name != PROVIDER:
            path.unlink()
    assert run_pipeline(published).success  # the other files removed on purpose
    (published.utilization_dir / PROVIDER).write_bytes(cut_mid_line(provider_lines(ROWS), 0.6))
    next(published.documents_dir.glob("*.txt")).unlink()
    [(documents_before,)] = published.query("SELECT count(*) FROM core.documents", serving=True)
    assert run_pipeline(published).success
    status, error, kept, *_ = file_record(published, PROVIDER)
    assert (status, kept) == ("rejected", ROWS) and error.startswith("cut off"), error
    assert published.query(f"SELECT count(*) FROM {PROVIDER_TABLE}", serving=True) == [(ROWS,)]
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(documents_before - 1,)]


def test_a_file_that_is_mostly_quarantine_is_not_a_cms_file_of_this_layout(published):
    _, before = serving_state(published.serving_path)
    junk = [["not", "a", "CMS", "row", f"line {i}"] + ["x"] * 23 for i in range(99)]
    good = next(provider_rows(1, random.Random(3)))
    write_csv(published.utilization_dir / PROVIDER, PROVIDER_HEADER, [good, *junk])
    assert run_pipeline(published).success
    status, error, kept, *_ = file_record(published, PROVIDER)
    assert status == "rejected" and "not a CMS file of this layout (99 of 100 lines quarantined" in error
    assert kept == ROWS and serving_state(published.serving_path)[1] == before


def test_is_synthetic_follows_the_sample_content_not_its_name(published):
    assert file_record(published, SAMPLE)[6] is True
    assert published.query("SELECT bool_and(is_synthetic) FROM marts.code_utilization", serving=True) == [(True,)]
    # The real 2023 CMS file has the sample's name: its rows are CMS data.
    write_csv(published.utilization_dir / SAMPLE, GEO_HEADER, geo_rows(random.Random(11), 2023))
    assert run_pipeline(published).success
    status, _, _, _, _, _, synthetic = file_record(published, SAMPLE)
    assert status == "loaded" and synthetic is False
    assert published.query("SELECT bool_or(is_synthetic) FROM marts.code_utilization", serving=True) == [(False,)]


def test_a_cut_copy_of_the_sample_keeps_its_kept_rows_labelled_synthetic(published):
    """A rejected replacement does not replace the rows it would have: their label stays the one of the version
    they came from, run after run (found trying a download cut mid-line on the bundled sample)."""
    path = published.utilization_dir / SAMPLE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 37])  # cut mid-line
    for _ in range(2):
        assert run_pipeline(published).success
        status, *_, synthetic = file_record(published, SAMPLE)
        assert status == "rejected" and synthetic is True
        assert published.query("SELECT bool_and(is_synthetic) FROM marts.code_utilization", serving=True) == [(True,)]


def test_a_layout_change_under_the_same_name_withdraws_the_old_rows(published):
    name = "MUP_PHY_R25_P05_V20_D22_Geo.csv"
    write_csv(published.utilization_dir / name, GEO_HEADER, geo_rows(random.Random(4), 2022))
    assert run_pipeline(published).success
    _, before = serving_state(published.serving_path)
    geo_2022 = published.query(f"SELECT count(*) FROM {GEO_TABLE} WHERE source_file = ?", [name], serving=True)
    assert geo_2022[0][0] > 0
    (published.utilization_dir / name).write_bytes(provider_lines(300, seed=9))  # geo -> provider, same name
    assert run_pipeline(published).success
    _, after = serving_state(published.serving_path)
    assert published.query(f"SELECT count(*) FROM {GEO_TABLE} WHERE source_file = ?", [name], serving=True) == [(0,)]
    assert after[GEO_TABLE] == before[GEO_TABLE] - geo_2022[0][0]
    assert after[PROVIDER_TABLE] == before[PROVIDER_TABLE] + 300
