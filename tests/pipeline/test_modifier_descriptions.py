"""core.modifiers takes each modifier's description from the HCPCS Level II file where it has the modifier (its
newest release), else from the project's reference list, else from the document; description_source says which."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb

from pipeline.contracts.coding_edit_tables import HCPCS_LEVEL2_CONTRACT
from pipeline.documents.modifier_descriptions import describe_modifiers, official_modifier_descriptions
from pipeline.warehouse.tables import create_table, ensure_schemas, insert_rows
from tests.conftest import run_pipeline
from tests.synthetic.coding_edits import SAMPLE_HCPCS


def _hcpcs_row(code: str, kind: str, release: str, text: str) -> dict:
    return {
        "hcpcs_code": code, "record_kind": kind, "release": release, "long_description": text,
        "short_description": text[:28], "betos": None, "coverage_code": None, "add_date": date(2000, 1, 1),
        "effective_date": date(2000, 1, 1), "termination_date": None, "source_file": f"HCPC{release}.txt",
    }  # fmt: skip


def test_the_newest_release_describes_and_the_reference_and_document_stay_the_fallbacks():
    con = duckdb.connect()
    ensure_schemas(con, "medicare")
    assert official_modifier_descriptions(con) == {}  # no HCPCS table yet: every description stays as it was
    create_table(con, HCPCS_LEVEL2_CONTRACT)
    insert_rows(
        con,
        HCPCS_LEVEL2_CONTRACT,
        [
            _hcpcs_row("XS", "modifier", "2026-01", "Separate structure (older text)"),
            _hcpcs_row("XS", "modifier", "2026-04", "Separate structure, a service distinct by organ"),
            _hcpcs_row("JW", "modifier", "2026-01", "Drug amount discarded (only in the older release)"),
            _hcpcs_row("G0463", "code", "2026-07", "A code row of a newer release: not a modifier text"),
        ],
    )
    official = official_modifier_descriptions(con)
    assert official == {"XS": "Separate structure, a service distinct by organ"}
    rows = [
        {"modifier_code": "XS", "description": "Separate structure", "in_reference": True},
        {"modifier_code": "25", "description": "Significant, separate E/M service", "in_reference": True},
        {"modifier_code": "JW", "description": "Discarded drug, as the document says", "in_reference": False},
        {"modifier_code": "Q9", "description": None, "in_reference": False},
    ]
    describe_modifiers(rows, official)
    assert [(r["description"], r["description_source"]) for r in rows] == [
        ("Separate structure, a service distinct by organ", "hcpcs_level2"),
        ("Significant, separate E/M service", "reference"),
        ("Discarded drug, as the document says", "document"),
        (None, None),
    ]


def test_core_modifiers_take_the_hcpcs_text_once_the_file_is_loaded(pipeline_env):
    query = (
        "SELECT modifier_code, description, description_source FROM core.modifiers WHERE modifier_code IN ('RT', '50')"
    )
    run_pipeline(pipeline_env, "group:core")
    before = dict((code, (text, source)) for code, text, source in pipeline_env.query(query))
    assert before["RT"][1] == before["50"][1] == "reference"
    run_pipeline(pipeline_env, "group:medicare")
    run_pipeline(pipeline_env, "group:core")
    after = dict((code, (text, source)) for code, text, source in pipeline_env.query(query))
    [official_rt] = [e.long_description for e in SAMPLE_HCPCS if e.code == "RT"]
    assert after["RT"] == (official_rt, "hcpcs_level2")
    assert after["50"] == before["50"]  # a CPT modifier: the HCPCS file does not list it
    versions = "SELECT max(version) FROM internal.table_change_log WHERE table_name = 'core.modifiers'"
    [(version,)] = pipeline_env.query(versions)
    run_pipeline(pipeline_env, "group:core")  # nothing changed: the table keeps its version
    assert pipeline_env.query(versions) == [(version,)]


def test_a_new_hcpcs_file_reruns_core_in_the_medicare_job():
    from pipeline.definitions import defs
    from pipeline.defs.automation import medicare_policy_changed

    job = defs.resolve_job_def(medicare_policy_changed.name)
    assert dg.AssetKey(["core", "modifiers"]) in job.asset_layer.selected_asset_keys
