"""Failure semantics of the utilization load: infrastructure faults lose nothing and fail the run; bad content is
recorded on its file; an empty folder is refused; links and FIFOs are never read."""

from __future__ import annotations

import errno
import os
import random
import threading

import dagster as dg
import pytest

from pipeline.defs.resources import WarehouseResource
from pipeline.inputs.source_folder import SourceFolderMissing
from pipeline.utilization import loader
from tests.conftest import run_pipeline
from tests.synthetic.cms import GEO_HEADER, PROVIDER_HEADER, geo_rows, provider_rows, write_csv

SAMPLE = "MUP_PHY_R25_P05_V20_D23_Geo.csv"
PROVIDER = "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv"


def snapshot(env) -> dict:
    """Everything a reload must not lose: rows per table and file, and each file's record."""
    return {
        "geo": env.query("SELECT source_file, count(*) FROM utilization.physician_geo_service GROUP BY 1 ORDER BY 1"),
        "provider": env.query(
            "SELECT source_file, count(*) FROM utilization.physician_provider_service GROUP BY 1 ORDER BY 1"
        ),
        "files": env.query("SELECT file_name, status, rows_loaded, sha256 FROM utilization.source_files ORDER BY 1"),
    }


def failure_text(result) -> str:
    return "\n".join(event.event_specific_data.error.to_string() for event in result.get_step_failure_events())


def touch(path, seconds_later: int = 10) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + seconds_later))


@pytest.fixture
def loaded_env(pipeline_env):
    write_csv(pipeline_env.utilization_dir / PROVIDER, PROVIDER_HEADER, provider_rows(20_000, random.Random(2)))
    assert run_pipeline(pipeline_env, "group:utilization").success
    return pipeline_env


def test_injected_fault_during_reload_of_a_touched_file_loses_nothing(loaded_env, monkeypatch):
    before = snapshot(loaded_env)
    touch(loaded_env.utilization_dir / SAMPLE)

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault: worker crashed")

    monkeypatch.setattr(loader, "quarantine_failing_rows", broken)
    result = run_pipeline(loaded_env, "group:utilization", raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"loading utilization file {SAMPLE}" in text and "injected fault: worker crashed" in text
    assert "cannot rollback" not in text
    assert snapshot(loaded_env) == before
    monkeypatch.undo()
    assert run_pipeline(loaded_env, "group:utilization").success
    after = snapshot(loaded_env)
    assert after["geo"] == before["geo"] and after["provider"] == before["provider"]


def test_out_of_memory_during_reload_loses_nothing_and_names_the_file(loaded_env):
    before = snapshot(loaded_env)
    touch(loaded_env.utilization_dir / PROVIDER)
    tiny = dict(loaded_env.resources)
    tiny["warehouse"] = WarehouseResource(
        database=str(loaded_env.warehouse_path),
        serving_path=str(loaded_env.serving_path),
        lock_timeout_seconds=60,
        connection_config={"memory_limit": "16MB", "preserve_insertion_order": False},  # CPT_DUCKDB_MEMORY_LIMIT=16MB
    )
    from pipeline.definitions import ASSETS, CHECKS

    result = dg.materialize([*ASSETS, *CHECKS], resources=tiny, selection="group:utilization", raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"loading utilization file {PROVIDER}" in text and "Out of Memory" in text
    assert snapshot(loaded_env) == before
    assert run_pipeline(loaded_env, "group:utilization").success
    assert snapshot(loaded_env)["provider"] == before["provider"]


def test_rejected_new_content_keeps_the_rows_loaded_earlier(loaded_env):
    before = snapshot(loaded_env)
    path = loaded_env.utilization_dir / SAMPLE
    write_csv(path, [h if h != "Tot_Benes" else "Total_Beneficiaries" for h in GEO_HEADER], [])
    assert run_pipeline(loaded_env, "group:utilization").success
    [(status, error, rows, layout, year)] = loaded_env.query(
        "SELECT status, error, rows_loaded, layout, data_year FROM utilization.source_files WHERE file_name = ?",
        [SAMPLE],
    )
    assert (layout, year) == ("geo_service", 2023)
    kept = dict(before["geo"])[SAMPLE]
    assert status == "rejected" and "unexpected: Total_Beneficiaries" in error
    assert f"the {kept:,} rows loaded earlier from this file are kept" in error and rows == kept
    assert snapshot(loaded_env)["geo"] == before["geo"]
    write_csv(path, GEO_HEADER, geo_rows(random.Random(9), 2023))
    assert run_pipeline(loaded_env, "group:utilization").success
    assert loaded_env.query("SELECT status FROM utilization.source_files WHERE file_name = ?", [SAMPLE]) == [
        ("loaded",)
    ]


def test_a_read_error_on_one_file_rejects_only_that_file(loaded_env, monkeypatch):
    before = snapshot(loaded_env)
    touch(loaded_env.utilization_dir / SAMPLE)
    read_header_line = loader.read_header_line

    def flaky(stored):  # a test double for a disk returning EIO on one file
        if stored.path.name == SAMPLE:
            raise OSError(errno.EIO, "Input/output error", str(stored.path))
        return read_header_line(stored)

    monkeypatch.setattr(loader, "read_header_line", flaky)
    assert run_pipeline(loaded_env, "group:utilization").success
    files = {name: (status, error) for name, status, error in loaded_env.query(
        "SELECT file_name, status, error FROM utilization.source_files")}  # fmt: skip
    assert files[SAMPLE][0] == "rejected" and "Input/output error" in files[SAMPLE][1]
    assert files[PROVIDER][0] == "loaded"
    assert snapshot(loaded_env)["provider"] == before["provider"]


def test_a_folder_without_cms_files_is_refused_unless_a_shrink_is_allowed(loaded_env, monkeypatch):
    before = snapshot(loaded_env)
    for path in loaded_env.utilization_dir.iterdir():
        path.unlink()
    (loaded_env.utilization_dir / "README.md").write_text("mount point")
    result = run_pipeline(loaded_env, "group:utilization", raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    rows = sum(count for _, count in before["geo"] + before["provider"])
    assert str(loaded_env.utilization_dir) in text and f"holds {rows:,} rows from 2 files" in text
    assert "CPT_ALLOW_SHRINK=1" in text
    assert snapshot(loaded_env) == before
    monkeypatch.setenv("CPT_ALLOW_SHRINK", "1")
    assert run_pipeline(loaded_env, "group:utilization").success
    assert snapshot(loaded_env)["geo"] == snapshot(loaded_env)["provider"] == []


def test_one_file_removed_on_purpose_takes_its_rows(loaded_env):
    before = snapshot(loaded_env)
    (loaded_env.utilization_dir / PROVIDER).unlink()
    assert run_pipeline(loaded_env, "group:utilization").success
    assert snapshot(loaded_env)["provider"] == [] and snapshot(loaded_env)["geo"] == before["geo"]
    # The removal is logged as the explained cause of the shrink (the publish guard accepts it).
    [(removed_rows, sources)] = loaded_env.query(
        "SELECT removed_rows, removed_sources FROM internal.table_change_log "
        "WHERE table_name = 'utilization.physician_provider_service' AND removed_rows > 0"
    )
    assert (removed_rows, sources) == (dict(before["provider"])[PROVIDER], [PROVIDER])


def test_a_missing_folder_fails_naming_it(pipeline_env):
    pipeline_env.utilization_dir.rename(pipeline_env.root / "elsewhere")
    result = run_pipeline(pipeline_env, "group:utilization", raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert SourceFolderMissing.__name__ in text and str(pipeline_env.utilization_dir) in text


def test_links_and_fifos_are_recorded_as_skipped_and_never_read(pipeline_env, tmp_path):
    outside = write_csv(
        tmp_path / "outside" / "MUP_PHY_R25_P05_V20_D22_Geo.csv", GEO_HEADER, geo_rows(random.Random(4))
    )
    (pipeline_env.utilization_dir / outside.name).symlink_to(outside)
    (pipeline_env.utilization_dir / "subfolder_link").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D21_Geo.csv")
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=run_pipeline(pipeline_env, "group:utilization")))
    worker.daemon = True
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "a FIFO in the folder must not block the run"
    assert outcome["result"].success
    files = {name: (status, error, sha) for name, status, error, sha in pipeline_env.query(
        "SELECT file_name, status, error, sha256 FROM utilization.source_files")}  # fmt: skip
    assert files[outside.name] == ("skipped", "symbolic link: not followed", None)
    assert files["subfolder_link"] == ("skipped", "symbolic link: not followed", None)
    assert files["MUP_PHY_R25_P05_V20_D21_Geo.csv"] == ("skipped", "named pipe (FIFO): not read", None)
    assert pipeline_env.query("SELECT DISTINCT data_year FROM utilization.physician_geo_service") == [(2023,)]


def test_a_truncated_gzip_and_an_empty_zip_are_rejected_and_the_rest_loads(pipeline_env):
    import gzip
    import zipfile

    data = gzip.compress(b"\n".join([",".join(GEO_HEADER).encode()] + [b",".join(r.encode() for r in row)
                                     for row in geo_rows(random.Random(3), 2022)]))  # fmt: skip
    (pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D22_Geo.csv.gz").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(pipeline_env.utilization_dir / "MUP_PHY_R24_P05_V10_D21_Geo.zip", "w") as archive:
        archive.writestr("notice.pdf", b"%PDF")
    assert run_pipeline(pipeline_env, "group:utilization").success
    files = {name: (status, error) for name, status, error in pipeline_env.query(
        "SELECT file_name, status, error FROM utilization.source_files")}  # fmt: skip
    assert files["MUP_PHY_R24_P05_V10_D22_Geo.csv.gz"][0] == "rejected"
    assert files["MUP_PHY_R24_P05_V10_D21_Geo.zip"] == (
        "rejected",
        ".zip holds no .csv or .txt file (it holds: notice.pdf)",
    )
    assert files[SAMPLE][0] == "loaded"
    assert pipeline_env.query("SELECT DISTINCT data_year FROM utilization.physician_geo_service") == [(2023,)]
