"""Dagster-facing views of the table contracts: asset specs, column schemas and asset checks."""


import dagster as dg

from pipeline.contract_checks import ContractReport, evaluate_contract, evaluate_references
from pipeline.contracts.table_contract import TableContract
from pipeline.resources import WarehouseResource


def asset_key(contract: TableContract) -> dg.AssetKey:
    return dg.AssetKey([contract.schema_name, contract.table_name])


def column_schema(contract: TableContract) -> dg.TableSchema:
    unique = {name for name, col in contract.schema.columns.items() if col.unique}
    if len(contract.primary_key) == 1:
        unique.add(contract.primary_key[0])
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.sql_type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=c.name in unique),
            )
            for c in contract.columns
        ]
    )


def asset_spec(contract: TableContract, *, group: str, deps=(), kinds=("duckdb",)) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=asset_key(contract),
        group_name=group,
        description=contract.description,
        deps=list(deps),
        kinds=set(kinds),
        metadata={
            "dagster/column_schema": column_schema(contract),
            "dagster/table_name": contract.table,
            "primary_key": ", ".join(contract.primary_key) or "(none)",
        },
    )


def report_to_check_result(report: ContractReport) -> dg.AssetCheckResult:
    metadata: dict = {"rows_checked": report.rows, "rules_checked": len(report.results)}
    for result in report.failures:
        metadata[f"failing: {result.rule}"] = dg.MetadataValue.json(
            {"failing_rows": result.failing_rows, "sample": result.sample}
        )
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.summary(),
        metadata=metadata,
    )


def contract_checks(contract: TableContract) -> list[dg.AssetChecksDefinition]:
    """Blocking checks derived from the contract: one for the table itself, one for its foreign keys."""
    key = asset_key(contract)
    checks = []

    @dg.asset_check(
        asset=key,
        name="contract",
        blocking=True,
        description=f"Types, formats, enums, row rules and key uniqueness of {contract.table} (from its pandera model).",
    )
    def _contract_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            return report_to_check_result(evaluate_contract(con, contract))

    checks.append(_contract_check)
    if contract.foreign_keys:
        refs = ", ".join(f"{fk.column}→{fk.ref_table}" for fk in contract.foreign_keys)

        @dg.asset_check(
            asset=key,
            name="references",
            blocking=True,
            description=f"Referential integrity of {contract.table}: {refs}.",
            additional_deps=[dg.AssetKey(fk.ref_table.split(".")) for fk in contract.foreign_keys],
        )
        def _references_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
            with warehouse.connect() as con:
                return report_to_check_result(evaluate_references(con, contract))

        checks.append(_references_check)
    return checks
