"""The publish guard: an unexplained shrink or an empty source folder never replaces the BI snapshot."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.defs.resources import LimitsResource
from pipeline.publishing.guard import (
    OK,
    OVERRIDDEN,
    PROBLEM_TABLES,
    REFUSED,
    FolderState,
    PublishRefused,
    decide,
    folder_state,
    guard_publish,
)
from pipeline.publishing.snapshot import inspect_publish
from pipeline.settings import ALLOW_SHRINK_ENV
from pipeline.warehouse.change_log import record_change
from tests.conftest import run_pipeline

T = "utilization.physician_geo_service"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder(kind="documents", exists=True, has_files=True) -> FolderState:
    return FolderState(kind, Path(f"/data/{kind}"), exists, has_files)


# --- the decision (pure) --------------------------------------------------------------------------------


def test_an_unexplained_shrink_past_the_fraction_is_refused_and_says_how_much():
    decision = decide({T: 1000}, {T: 400}, {}, [], max_shrink=0.5)
    assert not decision.allowed
    [delta] = decision.deltas
    assert (delta.old_rows, delta.new_rows, delta.verdict) == (1000, 400, REFUSED)
    assert "600 of 1,000 rows (60%)" in delta.why
    assert T in decision.message() and ALLOW_SHRINK_ENV in decision.message()


def test_removed_files_explain_a_shrink():
    decision = decide({T: 1000}, {T: 400}, {T: 600}, [], max_shrink=0.5)
    assert decision.allowed and not decision.overridden
    assert decision.deltas[0].verdict == OK
    assert "| 1,000 | 400 | 600 | ok |" in decision.markdown()


def test_a_shrink_within_the_fraction_is_accepted_and_the_fraction_is_a_setting():
    assert decide({T: 1000}, {T: 600}, {}, [], max_shrink=0.5).allowed
    assert not decide({T: 1000}, {T: 600}, {}, [], max_shrink=0.3).allowed


def test_becoming_empty_is_refused_even_when_any_fraction_is_allowed():
    decision = decide({T: 3}, {T: 0}, {T: 1}, [], max_shrink=1.0)
    assert not decision.allowed
    assert "would become empty" in decision.deltas[0].why


@pytest.mark.parametrize("table", sorted(PROBLEM_TABLES))
def test_problem_tables_may_empty(table):
    assert decide({table: 50}, {table: 0}, {}, []).allowed


@given(old=st.integers(1, 10**9), new=st.integers(0, 10**9), max_shrink=st.floats(0, 1))
def test_explaining_every_lost_row_always_allows(old, new, max_shrink):
    assert decide({T: old}, {T: new}, {T: max(0, old - new)}, [], max_shrink=max_shrink).allowed


@given(old=st.integers(0, 10**9), extra=st.integers(0, 10**9))
def test_growth_and_new_tables_are_always_accepted(old, extra):
    decision = decide({T: old}, {T: old + extra, "marts.new_table": extra}, {}, [], max_shrink=0.0)
    assert decision.allowed
    assert {d.table: d.old_rows for d in decision.deltas}["marts.new_table"] is None


@pytest.mark.parametrize(("exists", "word"), [(False, "missing"), (True, "empty")])
def test_a_missing_or_empty_folder_is_refused_while_the_snapshot_has_its_data(exists, word):
    old = {"core.documents": 8}
    decision = decide(old, {"core.documents": 8}, {"core.documents": 8}, [folder(exists=exists, has_files=False)])
    assert not decision.allowed
    assert f"documents folder /data/documents is {word}" in decision.message()
    # Nothing to lose: a first run on an empty folder is fine.
    assert decide({}, {"core.documents": 0}, {}, [folder(exists=exists, has_files=False)]).allowed


def test_the_override_allows_and_says_so():
    decision = decide({T: 1000}, {T: 0}, {}, [folder("utilization", has_files=False)], allow_shrink=True)
    assert decision.allowed and decision.overridden
    assert decision.deltas[0].verdict == OVERRIDDEN
    assert decision.summary() == "accepted by override"


def test_folder_state_ignores_hidden_files(tmp_path):
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("x")
    assert not folder_state("documents", tmp_path).has_files
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "32994.txt").write_text("x")
    assert folder_state("documents", tmp_path).has_files
    assert not folder_state("documents", tmp_path / "absent").exists


# --- wired to the working file and the snapshot --------------------------------------------------------


@pytest.fixture
def published(pipeline_env):
    assert run_pipeline(pipeline_env).success
    return pipeline_env


def _guard(env, **kwargs):
    con = duckdb.connect(str(env.warehouse_path))
    try:
        inputs = inspect_publish(con, env.serving_path)
        return guard_publish(
            con, inputs, {"documents": env.documents_dir, "utilization": env.utilization_dir}, **kwargs
        )
    finally:
        con.close()


def _drop_most_geo_rows(env) -> tuple[int, int]:
    con = duckdb.connect(str(env.warehouse_path))
    try:
        before = con.execute(f"SELECT count(*) FROM {T}").fetchone()[0]
        con.execute(f"DELETE FROM {T} WHERE geo_level = 'State'")
        after = con.execute(f"SELECT count(*) FROM {T}").fetchone()[0]
        return before, after
    finally:
        con.close()


def test_guard_refuses_an_unexplained_shrink_and_accepts_it_once_a_removal_explains_it(published):
    before, after = _drop_most_geo_rows(published)
    assert after < before / 2, "the sample must lose more than half its geography rows for this test"
    with pytest.raises(PublishRefused) as refused:
        _guard(published)
    assert f"{T}: would lose {before - after:,} of {before:,} rows" in str(refused.value)
    con = duckdb.connect(str(published.warehouse_path))
    try:
        record_change(con, T, removed_rows=before - after, removed_sources=["state_file.csv"])
    finally:
        con.close()
    decision = _guard(published)
    delta = {d.table: d for d in decision.deltas}[T]
    assert (delta.old_rows, delta.new_rows, delta.explained_rows, delta.verdict) == (before, after, before - after, OK)


def test_max_shrink_setting_from_the_environment(published, monkeypatch):
    before, after = _drop_most_geo_rows(published)
    monkeypatch.setenv("CPT_PUBLISH_MAX_SHRINK", str(round((before - after) / before + 0.01, 3)))
    assert _guard(published, max_shrink=LimitsResource.from_env().publish_max_shrink).allowed


def _serving_failure(result):
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "serving__cpt_analytics"
    return failure.step_failure_data


def _guard_metadata(result) -> str:
    [materialization] = [
        m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == "serving/cpt_analytics"
    ]
    return materialization.materialization.metadata["publish_guard"].value


def _empty(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink() if path.is_file() else shutil.rmtree(path)


def test_an_emptied_documents_folder_is_refused_by_the_guard(published):
    """Even when every removed file is explained (a writer that logs them all), an empty folder is refused."""
    documents = published.query("SELECT count(*) FROM core.documents", serving=True)[0][0]
    _empty(published.documents_dir)
    with pytest.raises(PublishRefused) as refused:
        _guard(published)
    message = str(refused.value)
    assert f"documents folder {published.documents_dir} is empty" in message
    assert f"holds {documents:,} of its files" in message
    assert ALLOW_SHRINK_ENV in message


@pytest.mark.slow  # a build, then the guard inside a second whole run
def test_an_emptied_documents_folder_fails_the_run_and_keeps_the_snapshot(published):
    before = file_sha256(published.serving_path)
    _empty(published.documents_dir)
    result = run_pipeline(published, raise_on_error=False)
    assert not result.success
    # The documents writer may refuse first; otherwise the publish guard does. Either way the message says
    # which folder and how to override.
    [failure] = result.get_step_failure_events()
    data = failure.step_failure_data
    message = data.user_failure_data.description if data.user_failure_data else data.error.to_string()
    assert str(published.documents_dir) in message and ALLOW_SHRINK_ENV in message
    if failure.step_key == "serving__cpt_analytics":
        assert "core.documents" in data.user_failure_data.metadata["publish_guard"].value
    assert file_sha256(published.serving_path) == before
    assert not any(e.is_step_success for e in result.all_events if e.step_key == "serving__cpt_analytics")


@pytest.mark.slow  # a build, then the guard inside a second whole run
def test_a_missing_documents_folder_publishes_nothing(published):
    before = file_sha256(published.serving_path)
    published.documents_dir.rename(published.root / "unmounted")
    assert not run_pipeline(published, raise_on_error=False).success
    assert file_sha256(published.serving_path) == before


@pytest.mark.slow  # a build, then the guard inside a second whole run
def test_the_environment_override_publishes_an_intended_empty_folder(published, monkeypatch):
    for path in published.utilization_dir.iterdir():
        path.unlink()
    monkeypatch.setenv(ALLOW_SHRINK_ENV, "1")
    result = run_pipeline(published)
    assert "accepted by override" in _guard_metadata(result)
    assert published.query("SELECT count(*) FROM utilization.source_files", serving=True) == [(0,)]


@pytest.mark.slow  # a build, then the guard inside a second whole run
def test_the_run_config_override_publishes_a_refused_shrink(published):
    """Only the serving step runs, on a working file that lost most of a table without an explanation."""
    from pipeline.definitions import ASSETS, CHECKS

    before_rows, after_rows = _drop_most_geo_rows(published)
    before = file_sha256(published.serving_path)

    def publish_only(run_config=None):
        return dg.materialize(
            [*ASSETS, *CHECKS],
            resources=published.resources,
            selection="serving/cpt_analytics",
            run_config=run_config,
            raise_on_error=False,
        )

    refused = publish_only()
    assert not refused.success
    assert file_sha256(published.serving_path) == before
    allowed = publish_only({"resources": {"overrides": {"config": {"allow_shrink": True}}}})
    assert allowed.success
    metadata = _guard_metadata(allowed)
    assert "accepted by override" in metadata
    assert f"| `{T}` | {before_rows:,} | {after_rows:,} | 0 | {OVERRIDDEN}:" in metadata
    assert published.query(f"SELECT count(*) FROM {T}", serving=True) == [(after_rows,)]


@pytest.mark.slow  # a build, then the guard inside a second whole run
def test_removing_one_document_on_purpose_is_published(published):
    documents = published.query("SELECT count(*) FROM core.documents", serving=True)[0][0]
    (published.documents_dir / "20982_bone_rfa.txt").unlink()
    result = run_pipeline(published)
    metadata = _guard_metadata(result)
    assert "Publish guard: accepted**" in metadata
    assert f"| `core.documents` | {documents:,} | {documents - 1:,} |" in metadata
    assert published.query("SELECT count(*) FROM core.documents", serving=True) == [(documents - 1,)]
