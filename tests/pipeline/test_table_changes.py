"""The change log: which removals excuse a shrink, and which tables changed since a snapshot."""

from __future__ import annotations

import duckdb
import pytest

from pipeline.publishing.guard import REFUSED, decide
from pipeline.warehouse.change_log import changed_since, explained_removals, latest_versions, record_change
from pipeline.warehouse.tables import ensure_schemas

TABLE = "utilization.physician_geo_service"


@pytest.fixture
def con():
    connection = duckdb.connect()
    ensure_schemas(connection, "internal")
    yield connection
    connection.close()


def test_a_removal_already_in_the_snapshot_does_not_excuse_a_new_shrink(con):
    published = record_change(con, TABLE, removed_rows=600, removed_sources=["a.csv"])
    snapshot_versions = {TABLE: published}  # the snapshot was built after that removal
    explained = explained_removals(con, snapshot_versions)
    assert explained == {}
    # The table shrinks again with no new removal: the old excuse must not count twice.
    excuses = {table: rows for table, (rows, _files) in explained.items()}
    decision = decide({TABLE: 1000}, {TABLE: 300}, excuses, [], max_shrink=0.5)
    assert [d.verdict for d in decision.deltas] == [REFUSED]


def test_removals_after_the_snapshot_are_summed_with_their_files(con):
    published = record_change(con, TABLE)
    record_change(con, TABLE, removed_rows=200, removed_sources=["a.csv"])
    record_change(con, TABLE, removed_rows=300, removed_sources=["b.csv"])
    record_change(con, "core.codes", removed_rows=5, removed_sources=["x.html"])
    explained = explained_removals(con, {TABLE: published})
    assert explained[TABLE] == (500, ["a.csv", "b.csv"])
    assert explained["core.codes"] == (5, ["x.html"])  # not in the snapshot yet: every removal counts


def test_versions_only_grow_and_changed_since_compares_them(con):
    first = record_change(con, TABLE)
    second = record_change(con, TABLE)
    assert second > first and latest_versions(con) == {TABLE: second}
    assert changed_since(con, {TABLE: first}, [TABLE, "core.codes"]) == {TABLE, "core.codes"}
    assert changed_since(con, {TABLE: second}, [TABLE]) == set()


def test_the_guard_asks_only_for_removals_after_the_published_versions(con, tmp_path):
    """Wired end to end through ``guard_publish``: a removal the snapshot already reflects excuses nothing."""
    from pipeline.publishing.guard import PublishRefused, guard_publish
    from pipeline.publishing.snapshot import PreviousSnapshot, PublishInputs, SnapshotTable

    published = record_change(con, TABLE, removed_rows=600, removed_sources=["a.csv"])
    previous = PreviousSnapshot(
        size_bytes=1,
        tables={TABLE: SnapshotTable(version=published, contract_digest="d", rows=1000)},
        row_counts={TABLE: 1000},
    )
    shrunk = PublishInputs(
        serving_path=tmp_path / "serving.duckdb",
        contracts=(),
        previous=previous,
        working_rows={TABLE: 300},
        versions={TABLE: published + 1},
        changed=frozenset({TABLE}),
    )
    with pytest.raises(PublishRefused, match="no removed file explains"):
        guard_publish(con, shrunk, {}, max_shrink=0.5)
    # A removal logged after the snapshot does excuse the same shrink.
    record_change(con, TABLE, removed_rows=700, removed_sources=["b.csv"])
    assert guard_publish(con, shrunk, {}, max_shrink=0.5).allowed
