"""Snapshot of the asset graph: keys, groups, dependencies and checks. A change here is a contract change
for BI users and operators; update deliberately with UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def current_graph() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in graph.asset_check_keys if c.asset_key == key),
            "blocking_checks": sorted(
                c.name for c in graph.asset_check_keys if c.asset_key == key and graph.get(c).blocking
            ),
            "columns": [c.name for c in node.metadata["dagster/column_schema"].columns]
            if "dagster/column_schema" in node.metadata
            else None,
        }
    return assets


def test_asset_graph_matches_snapshot():
    graph = current_graph()
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(graph, indent=2) + "\n")
    assert graph == json.loads(SNAPSHOT.read_text())


def test_every_table_asset_has_descriptions_and_a_blocking_contract_check():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        if key.path[0] == "serving":
            continue
        assert "contract" in current_graph()[key.to_user_string()]["blocking_checks"], key
        for column in node.metadata["dagster/column_schema"].columns:
            assert column.description, f"{key.to_user_string()}.{column.name}"
