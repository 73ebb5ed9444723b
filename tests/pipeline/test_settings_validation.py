"""Configuration that cannot work is refused at start, with a message that says why (issue 16, point 8)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipeline.core.reference_data import load_reference_data
from pipeline.defs import cli
from pipeline.settings import SettingsError, validate_settings
from tests.conftest import REFERENCE, run_pipeline
from tests.faults.test_fault_injection import failure_text, serving_state
from tests.pipeline.conftest import run_sensor


@pytest.fixture
def config(tmp_path) -> dict[str, str]:
    """A configuration that works: every folder and file under tmp_path, a copy of the reference data."""
    for folder in ("documents", "utilization"):
        (tmp_path / folder).mkdir()
    shutil.copytree(REFERENCE, tmp_path / "reference")
    return {
        "CPT_DOCUMENTS_DIR": str(tmp_path / "documents"),
        "CPT_UTILIZATION_DIR": str(tmp_path / "utilization"),
        "CPT_REFERENCE_DIR": str(tmp_path / "reference"),
        "CPT_WAREHOUSE_PATH": str(tmp_path / "wh" / "cpt.duckdb"),
        "CPT_SERVING_PATH": str(tmp_path / "serving" / "cpt.duckdb"),
    }


def test_the_default_configuration_passes():
    assert validate_settings({}) == []


def test_a_working_configuration_passes(config):
    assert validate_settings(config) == []


def _symlinked_documents(tmp: Path, config: dict[str, str]) -> dict[str, str]:
    (tmp / "looks_outside").symlink_to(config["CPT_DOCUMENTS_DIR"])
    return {"CPT_SERVING_PATH": str(tmp / "looks_outside" / "cpt.duckdb")}


def _documents_given_through_a_link(tmp: Path, config: dict[str, str]) -> dict[str, str]:
    (tmp / "docs_link").symlink_to(config["CPT_DOCUMENTS_DIR"])
    return {"CPT_DOCUMENTS_DIR": str(tmp / "docs_link"), "CPT_SERVING_PATH": config["CPT_DOCUMENTS_DIR"] + "/x.duckdb"}


def _same_file_through_a_link(tmp: Path, config: dict[str, str]) -> dict[str, str]:
    (tmp / "wh").mkdir(exist_ok=True)
    (tmp / "alias").symlink_to(tmp / "wh")
    return {"CPT_SERVING_PATH": str(tmp / "alias" / "cpt.duckdb")}


def _reference_line(tmp: Path, config: dict[str, str], data: bytes) -> dict[str, str]:
    path = Path(config["CPT_REFERENCE_DIR"]) / "payers.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"Cigna Healthcare", data)
    path.write_bytes(b"\n".join(lines))
    return {}


REFUSALS = {
    "trailing space in CPT_SERVING_PATH": (
        lambda tmp, c: {"CPT_SERVING_PATH": c["CPT_SERVING_PATH"] + " "},
        "CPT_SERVING_PATH='",
        "leading or trailing whitespace",
    ),
    "leading space in CPT_DOCUMENTS_DIR": (
        lambda tmp, c: {"CPT_DOCUMENTS_DIR": " " + c["CPT_DOCUMENTS_DIR"]},
        "CPT_DOCUMENTS_DIR=' ",
        "leading or trailing whitespace",
    ),
    "serving = working": (
        lambda tmp, c: {"CPT_SERVING_PATH": c["CPT_WAREHOUSE_PATH"]},
        "CPT_SERVING_PATH and CPT_WAREHOUSE_PATH are the same file",
        "replace the working file",
    ),
    "serving = working through a symlink": (
        _same_file_through_a_link,
        "CPT_SERVING_PATH and CPT_WAREHOUSE_PATH are the same file",
        "its own path",
    ),
    "serving inside the documents folder": (
        lambda tmp, c: {"CPT_SERVING_PATH": c["CPT_DOCUMENTS_DIR"] + "/bi/cpt.duckdb"},
        "CPT_SERVING_PATH",
        "inside the source folder CPT_DOCUMENTS_DIR",
    ),
    "working file inside the utilization folder": (
        lambda tmp, c: {"CPT_WAREHOUSE_PATH": c["CPT_UTILIZATION_DIR"] + "/cpt.duckdb"},
        "CPT_WAREHOUSE_PATH",
        "inside the source folder CPT_UTILIZATION_DIR",
    ),
    "working file inside the reference folder": (
        lambda tmp, c: {"CPT_WAREHOUSE_PATH": c["CPT_REFERENCE_DIR"] + "/cpt.duckdb"},
        "CPT_WAREHOUSE_PATH",
        "inside the source folder CPT_REFERENCE_DIR",
    ),
    "serving inside the documents folder through a symlink": (
        _symlinked_documents,
        "inside the source folder CPT_DOCUMENTS_DIR",
        "through a symlink",
    ),
    "serving inside the documents folder, which is given through a symlink": (
        _documents_given_through_a_link,
        "inside the source folder CPT_DOCUMENTS_DIR",
        "put it outside the source folders",
    ),
    "serving file named as the working file's write-ahead log": (
        lambda tmp, c: {"CPT_SERVING_PATH": c["CPT_WAREHOUSE_PATH"] + ".wal"},
        "CPT_SERVING_PATH",
        "its write-ahead log, lock or spill folder",
    ),
    "serving path that is a folder": (
        lambda tmp, c: (tmp / "bi").mkdir() or {"CPT_SERVING_PATH": str(tmp / "bi")},
        "is a folder; it must name a DuckDB file",
        "",
    ),
    "documents folder = utilization folder": (
        lambda tmp, c: {"CPT_UTILIZATION_DIR": c["CPT_DOCUMENTS_DIR"]},
        "is the same folder as",
        "each source folder must be its own",
    ),
    "utilization folder inside the documents folder": (
        lambda tmp, c: (
            (Path(c["CPT_DOCUMENTS_DIR"]) / "cms").mkdir() or {"CPT_UTILIZATION_DIR": c["CPT_DOCUMENTS_DIR"] + "/cms"}
        ),
        "is nested with",
        "",
    ),
    "memory limit too small to run": (
        lambda tmp, c: {"CPT_DUCKDB_MEMORY_LIMIT": "1KB"},
        "CPT_DUCKDB_MEMORY_LIMIT='1KB' is too small for the pipeline",
        "at least 8 MiB",
    ),
    "memory limit below the minimum": (
        lambda tmp, c: {"CPT_DUCKDB_MEMORY_LIMIT": "4MiB"},
        "is too small for the pipeline (DuckDB grants 4,194,304 bytes",
        "",
    ),
    "memory limit DuckDB does not take": (
        lambda tmp, c: {"CPT_DUCKDB_MEMORY_LIMIT": "lots"},
        "CPT_DUCKDB_MEMORY_LIMIT='lots' is not a memory limit DuckDB accepts",
        "2GB",
    ),
    "integer that does not parse": (
        lambda tmp, c: {"CPT_PUBLISH_FULL_REBUILD_ROWS": "1e6"},
        "CPT_PUBLISH_FULL_REBUILD_ROWS='1e6' is not an integer",
        "",
    ),
    "integer out of range": (
        lambda tmp, c: {"CPT_PUBLISH_COMPACT_EVERY": "0"},
        "CPT_PUBLISH_COMPACT_EVERY='0' must be at least 1",
        "",
    ),
    "lock timeout that does not parse": (
        lambda tmp, c: {"CPT_WRITER_LOCK_TIMEOUT_SECONDS": "6h"},
        "CPT_WRITER_LOCK_TIMEOUT_SECONDS='6h' is not an integer",
        "",
    ),
    "shrink fraction that does not parse": (
        lambda tmp, c: {"CPT_PUBLISH_MAX_SHRINK": "50%"},
        "CPT_PUBLISH_MAX_SHRINK='50%' is not a number",
        "",
    ),
    "shrink fraction above 1": (
        lambda tmp, c: {"CPT_PUBLISH_MAX_SHRINK": "1.5"},
        "CPT_PUBLISH_MAX_SHRINK='1.5' must be a fraction between 0 and 1",
        "",
    ),
    "per-file shrink fraction": (
        lambda tmp, c: {"CPT_UTILIZATION_MAX_FILE_SHRINK": "most"},
        "CPT_UTILIZATION_MAX_FILE_SHRINK='most' is not a number",
        "",
    ),
    "quarantine fraction above 1": (
        lambda tmp, c: {"CPT_UTILIZATION_MAX_QUARANTINE_FRACTION": "2"},
        "CPT_UTILIZATION_MAX_QUARANTINE_FRACTION='2' must be a fraction",
        "",
    ),
    "zip expansion cap not positive": (
        lambda tmp, c: {"CPT_ZIP_MAX_EXPANDED_BYTES": "-1"},
        "CPT_ZIP_MAX_EXPANDED_BYTES='-1' must be at least 1",
        "",
    ),
    "zip ratio not positive": (
        lambda tmp, c: {"CPT_ZIP_MAX_RATIO": "0"},
        "CPT_ZIP_MAX_RATIO='0' must be a positive number",
        "",
    ),
    "reference CSV that decodes as nothing": (
        lambda tmp, c: _reference_line(tmp, c, b"Cigna \x81\x8d"),
        "payers.csv cannot be decoded: payers.csv line 3: byte 0x81 is not UTF-8",
        "Windows-1252",
    ),
    "a log level that is not one": (
        lambda tmp, c: {"CPT_LOG_LEVEL": "LOUD"},
        "CPT_LOG_LEVEL='LOUD' is not a log level",
        "DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ),
    "reference CSV with the wrong columns": (
        lambda tmp, c: (Path(c["CPT_REFERENCE_DIR"]) / "modifiers.csv").write_text("code,text\n99,x\n") and {},
        "modifiers.csv: columns ['code', 'text']",
        "",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_configuration_that_cannot_work_is_refused(config, tmp_path, case):
    change, message, why = REFUSALS[case]
    environ = {**config, **change(tmp_path, config)}
    with pytest.raises(SettingsError) as refused:
        validate_settings(environ)
    text = str(refused.value)
    assert message in text and why in text
    assert len(refused.value.problems) == 1, refused.value.problems


def test_a_reference_csv_saved_by_excel_as_cp1252_is_read_with_a_note(config):
    reference = Path(config["CPT_REFERENCE_DIR"])
    path = reference / "payers.csv"
    path.write_bytes(path.read_bytes().replace(b"Cigna Healthcare", "Cigna Santé".encode("cp1252")))
    notes = validate_settings(config)
    assert len(notes) == 1 and "payers.csv" in notes[0] and "line 3" in notes[0] and "Windows-1252" in notes[0]
    names = {row["payer_name"] for row in load_reference_data(reference).payers}
    assert "Cigna Santé" in names


def test_the_cli_exits_2_with_the_reason(config, monkeypatch, capsys):
    for name, value in {**config, "CPT_SERVING_PATH": config["CPT_DOCUMENTS_DIR"] + "/cpt.duckdb"}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["build"]) == 2
    err = capsys.readouterr().err
    assert "configuration refused" in err and "inside the source folder CPT_DOCUMENTS_DIR" in err
    assert not Path(config["CPT_WAREHOUSE_PATH"]).exists()


def test_the_sensor_requests_nothing_and_says_why(config, monkeypatch):
    for name, value in {**config, "CPT_WAREHOUSE_PATH": config["CPT_SERVING_PATH"]}.items():
        monkeypatch.setenv(name, value)
    (Path(config["CPT_DOCUMENTS_DIR"]) / "new.txt").write_text("CPT 12345: a new document\n")
    result = run_sensor()
    assert result.run_requests == []
    assert "are the same file" in result.skip_reason.skip_message


def test_a_run_whose_serving_file_is_inside_the_documents_folder_is_refused(pipeline_env, monkeypatch):
    assert run_pipeline(pipeline_env).success
    before = serving_state(pipeline_env.serving_path)
    inside = pipeline_env.documents_dir / "bi" / "cpt.duckdb"
    inside.parent.mkdir()
    shutil.copy2(pipeline_env.serving_path, inside)
    pipeline_env.serving_path = inside
    for name, value in pipeline_env.env_vars.items():  # as deployed: both resources come from the environment
        monkeypatch.setenv(name, value)
    result = run_pipeline(pipeline_env, raise_on_error=False)
    assert not result.success
    text = failure_text(result) + "".join(
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.event_type_value == "RESOURCE_INIT_FAILURE"
    )
    assert "inside the source folder CPT_DOCUMENTS_DIR" in text, text[:2000]
    assert serving_state(inside) == before
    assert os.path.getsize(inside) > 0


# --- the DuckLake target ------------------------------------------------------------------------------------------------


def test_a_half_configured_or_unknown_lake_is_refused_at_start():
    with pytest.raises(SettingsError, match="CPT_LAKE_DATA_PATH is not"):
        validate_settings({"CPT_LAKE_CATALOG": "postgres:dbname=x"}, check_reference=False)
    with pytest.raises(SettingsError, match="not a DuckLake catalog"):
        validate_settings({"CPT_LAKE_CATALOG": "mysql:db", "CPT_LAKE_DATA_PATH": "/x"}, check_reference=False)
    with pytest.raises(SettingsError, match="CPT_LAKE_CATALOG is not"):
        validate_settings({"CPT_LAKE_DATA_PATH": "/x"}, check_reference=False)
    assert validate_settings({"CPT_LAKE_CATALOG": "sqlite:/m.sqlite", "CPT_LAKE_DATA_PATH": "/x"}) == []


def test_the_lake_commands_without_a_lake_say_how_to_configure_one(monkeypatch, capsys):
    monkeypatch.delenv("CPT_LAKE_CATALOG", raising=False)
    monkeypatch.delenv("CPT_LAKE_DATA_PATH", raising=False)
    assert cli.main(["lake", "history"]) == 2
    assert "set CPT_LAKE_CATALOG and CPT_LAKE_DATA_PATH" in capsys.readouterr().err


def test_lake_uri_prints_the_read_only_uri(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CPT_LAKE_CATALOG", "postgres:dbname=cpt host=db.internal user=reader")
    monkeypatch.setenv("CPT_LAKE_DATA_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("CPT_LAKE_EXTENSION_DIR", str(tmp_path / "ext"))
    assert cli.main(["lake", "uri"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"duckdb:///ducklake:postgres:dbname=cpt host=db.internal user=reader?access_mode=read_only"
        f"&extension_directory={tmp_path / 'ext'}&autoinstall_known_extensions=false"
    )
