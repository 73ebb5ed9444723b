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
