"""The asset graph as operators see it in the Dagster UI: keys, groups, lineage and checks.

The snapshot is a contract for operators; a change is deliberate. Regenerate it with
``uv run python -m tests.test_asset_graph_snapshot`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from pipeline.contracts import ALL_CONTRACTS
from pipeline.contracts.mart_tables import MART_CONTRACTS
from pipeline.definitions import defs
from pipeline.defs.asset_specs import SOURCE_ASSETS, asset_key, table_asset_key
from pipeline.defs.checks import report_to_check_result
from pipeline.marts.build import mart_inputs
from pipeline.validation.contract_checks import ContractReport, RuleResult

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
    assert SNAPSHOT.exists(), "no snapshot: run `uv run python -m tests.test_asset_graph_snapshot` and review it"
    assert current_graph() == json.loads(SNAPSHOT.read_text())


def test_every_table_asset_has_descriptions_owners_and_a_blocking_contract_check():
    graph = defs.resolve_asset_graph()
    assets = current_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners, key
        if key.path[0] in ("serving", "sources", "lake"):
            continue
        assert "contract" in assets[key.to_user_string()]["blocking_checks"], key
        for column in node.metadata["dagster/column_schema"].columns:
            assert column.description, f"{key.to_user_string()}.{column.name}"


def test_sources_are_upstream_assets_where_the_lineage_starts():
    graph = defs.resolve_asset_graph()
    sources = {spec.key for spec in SOURCE_ASSETS}
    assert all(graph.get(key).group_name == "sources" and not graph.get(key).parent_keys for key in sources)
    for contract in ALL_CONTRACTS:
        if contract.schema_name in ("core", "utilization"):
            parents = graph.get(asset_key(contract)).parent_keys
            assert parents & sources, f"{contract.table} does not start from a source folder"


def test_each_mart_depends_on_exactly_the_tables_its_sql_reads():
    graph = defs.resolve_asset_graph()
    for contract in MART_CONTRACTS:
        parents = graph.get(asset_key(contract)).parent_keys
        assert parents == {table_asset_key(table) for table in mart_inputs(contract)}, contract.table
    # The SQL is really parsed: code_utilization reads the geography table and not the provider table.
    code_utilization = next(c for c in MART_CONTRACTS if c.table == "marts.code_utilization")
    assert "utilization.physician_geo_service" in mart_inputs(code_utilization)
    assert "utilization.physician_provider_service" not in mart_inputs(code_utilization)


def test_asset_names_stay_distinct_when_the_ui_truncates_them():
    graph = defs.resolve_asset_graph()
    for group in {key.path[0] for key in graph.get_all_asset_keys()}:
        names = [key.path[-1] for key in graph.get_all_asset_keys() if key.path[0] == group]
        shortened = {name if len(name) <= 18 else f"{name[:9]}…{name[-8:]}" for name in names}
        assert len(shortened) == len(names), group


def test_a_failing_check_carries_a_count_and_a_readable_sample():
    sample = [{"code": "BAD!", "failed_rules": "code fullmatch; code_system isin", "row": '{"code":"BAD!"}'}]
    report = ContractReport(
        "core.codes",
        3,
        [RuleResult("code fullmatch", 1), RuleResult("code_system isin", 1), RuleResult("title not null", 0)],
        failing_rows=1,
        sample=sample,
    )
    result = report_to_check_result(report)
    assert not result.passed
    assert result.metadata["failing_rows"].value == 1  # one row, though it breaks two rules
    assert result.metadata["hits_per_rule"].value == {"code fullmatch": 1, "code_system isin": 1}
    table = result.metadata["sample"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == ["code", "failed_rules", "row"]
    assert [r.data["code"] for r in table.records] == ["BAD!"]
    assert result.description == "core.codes: 1 failing row (code fullmatch: 1 row; code_system isin: 1 row)"


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(current_graph(), indent=2) + "\n")
    print(f"wrote {SNAPSHOT}")
