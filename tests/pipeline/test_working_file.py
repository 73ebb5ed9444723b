"""The working file is created in the format a full publish can copy as is (no row re-encoded)."""

from __future__ import annotations

from pipeline.defs.resources import WarehouseResource
from pipeline.publishing.snapshot import copyable_working_file


def test_a_new_working_file_can_be_published_as_a_plain_copy(tmp_path):
    resource = WarehouseResource(database=str(tmp_path / "wh.duckdb"), serving_path=str(tmp_path / "s.duckdb"))
    with resource.connect() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        path, free_fraction = copyable_working_file(con)
    assert path == tmp_path / "wh.duckdb"
    assert 0 <= free_fraction < 1


def test_a_run_keeps_what_it_started_with_out_of_the_collectors_sight_and_hands_it_back(tmp_path):
    """A full collection in the run walks only what the run made: the heap at its start is frozen while it runs
    (``gc.freeze``), and unfrozen when it ends, so nothing of it outlives the run out of the collector's reach."""
    import gc

    import dagster as dg

    seen: list[int] = []

    @dg.asset
    def frozen_while_running(warehouse: WarehouseResource) -> None:
        seen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    resource = WarehouseResource(database=str(tmp_path / "wh.duckdb"), serving_path=str(tmp_path / "s.duckdb"))
    assert dg.materialize([frozen_while_running], resources={"warehouse": resource}).success
    assert seen and seen[0] > 10_000  # the imports and Dagster's run state, not a handful of objects
    assert gc.get_freeze_count() == 0
