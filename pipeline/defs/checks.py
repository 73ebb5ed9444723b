"""Dagster-facing views of the table contracts: asset specs, column schemas, source assets and asset checks."""

import warnings
from collections.abc import Callable

import dagster as dg
from dagster_pandera import pandera_schema_to_dagster_type

from pipeline.contracts.table_contract import TableContract
from pipeline.defs.resources import WAREHOUSE_POOL, LimitsResource, WarehouseResource
from pipeline.validation import reasons
from pipeline.validation.contract_checks import ContractReport, RuleResult, evaluate_contract, evaluate_references

OWNERS = ["team:revenue-cycle-data"]
# Dagster 1.13 has no group descriptions; each asset carries its group's in metadata, and the README lists them.
GROUP_DESCRIPTIONS = {
    "sources": "Folders the pipeline reads: overview documents, CMS utilization files, reference CSVs.",
    "core": "Documents parsed into codes, modifiers, payers and care sites, and the bridges between them.",
    "utilization": "CMS Medicare Physician & Other Practitioners files, loaded and validated in DuckDB.",
    "marts": "BI-ready joins of codes and utilization (scalar columns only, filterable in Superset).",
    "serving": "The read-only DuckDB file BI tools open, replaced atomically after every blocking check passed.",
}
SOURCES = {
    "documents": "Overview documents, one per billing code (CPT_DOCUMENTS_DIR): text, Markdown or saved web pages.",
    "utilization": "CMS utilization files as downloaded (CPT_UTILIZATION_DIR): CSV, tab-delimited TXT, .csv.gz, .zip.",
    "reference": "Curated reference CSVs (CPT_REFERENCE_DIR): payers and aliases, care sites, modifiers, POS, FIPS.",
}


def source_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["sources", name])


SOURCE_ASSETS = [
    dg.AssetSpec(
        key=source_key(name),
        group_name="sources",
        description=description,
        kinds={"folder"},
        owners=OWNERS,
        metadata={"group_description": GROUP_DESCRIPTIONS["sources"]},
    )
    for name, description in SOURCES.items()
]


def asset_key(contract: TableContract) -> dg.AssetKey:
    """schema/table, or schema/<asset_name> where a model names its asset (the table name stays in metadata)."""
    return dg.AssetKey([contract.schema_name, contract.options.get("asset_name", contract.table_name)])


def table_asset_key(table: str) -> dg.AssetKey:
    from pipeline.contracts import CONTRACTS_BY_TABLE

    contract = CONTRACTS_BY_TABLE.get(table)
    return asset_key(contract) if contract is not None else dg.AssetKey(table.split("."))


def column_schema(contract: TableContract) -> dg.TableSchema:
    """dagster-pandera's view of the model (checks per column), with the DuckDB types BI users see."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        pandera_schema = pandera_schema_to_dagster_type(contract.model).metadata["schema"].schema
    sql_types = {c.name: c.sql_type for c in contract.columns}
    single_key = contract.primary_key[0] if len(contract.primary_key) == 1 else None
    # Each table-level rule as the reason its rows are rejected with and its check fails with (docs/inputs.md).
    rules = [reasons.duplicate_key(contract.primary_key)] if len(contract.primary_key) > 1 else []
    rules += [reasons.unresolved_reference(fk.column, fk.ref_table, fk.ref_column) for fk in contract.foreign_keys]
    rules += [f"{reasons.row_rule_broken(rule.name)}: {rule.description}" for rule in contract.row_rules]
    table_rules = [f"reject reason: {rule}" for rule in rules]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=sql_types[column.name],
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.constraints.nullable,
                    unique=column.constraints.unique or column.name == single_key,
                    other=column.constraints.other,
                ),
            )
            for column in pandera_schema.columns
        ],
        constraints=dg.TableConstraints(other=table_rules),
    )


def asset_spec(contract: TableContract, *, group: str, deps=(), kinds=("duckdb",)) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=asset_key(contract),
        group_name=group,
        description=contract.description,
        deps=list(deps),
        kinds=set(kinds),
        owners=OWNERS,
        metadata={
            "dagster/column_schema": column_schema(contract),
            "dagster/table_name": contract.table,
            "primary_key": ", ".join(contract.primary_key) or "(none)",
            "group_description": GROUP_DESCRIPTIONS[group],
        },
    )


def sample_table(result: RuleResult) -> dg.MetadataValue:
    """Failing rows as a Markdown table, readable without clicking through JSON."""
    if not result.sample:
        return dg.MetadataValue.md("(no sample)")
    columns = list(result.sample[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in result.sample:
        cells = (str(row.get(c, "")).replace("|", "/").replace("\n", " ")[:120] for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def report_to_check_result(report: ContractReport) -> dg.AssetCheckResult:
    failing = sum(r.failing_rows for r in report.failures)
    metadata: dict = {"rows_checked": report.rows, "rules_checked": len(report.results), "failing_rows": failing}
    if report.rows_scanned is not None:
        metadata["rows_scanned"] = report.rows_scanned
        metadata["scope"] = report.scope or "every row of the table"
    for result in report.failures:
        metadata[f"failing_rows: {result.rule}"] = result.failing_rows
        metadata[f"sample: {result.rule}"] = sample_table(result)
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.summary(),
        metadata=metadata,
    )


def contract_checks(
    contracts: tuple[TableContract, ...] | list[TableContract],
    *,
    name: str,
    extra_specs: tuple[tuple[dg.AssetCheckSpec, Callable], ...] = (),
) -> dg.AssetChecksDefinition:
    """Blocking checks derived from the contracts, run as one step with one connection.

    Per table: ``contract`` (types, formats, enums, row rules, key uniqueness) and, where the
    table has foreign keys, ``references``.  ``extra_specs`` adds checks with their own evaluators.  Every
    evaluator takes the connection and ``CPT_CONTRACT_CHECKS_FULL_SCAN`` (from the ``limits`` resource).
    """
    specs: list[dg.AssetCheckSpec] = []
    evaluators: dict[dg.AssetCheckKey, Callable] = {}
    for contract in contracts:
        for spec, evaluator in _specs_for(contract):
            specs.append(spec)
            evaluators[spec.key] = evaluator
    for spec, evaluator in extra_specs:
        specs.append(spec)
        evaluators[spec.key] = evaluator

    @dg.multi_asset_check(specs=specs, name=name, can_subset=True, pool=WAREHOUSE_POOL)
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, limits: LimitsResource):
        with warehouse.connect() as con:
            for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
                result = evaluators[check_key](con, limits.contract_checks_full_scan)
                yield dg.AssetCheckResult(
                    asset_key=check_key.asset_key,
                    check_name=check_key.name,
                    passed=result.passed,
                    severity=result.severity,
                    description=result.description,
                    metadata=result.metadata,
                )

    return _checks


def _specs_for(contract: TableContract) -> list[tuple[dg.AssetCheckSpec, Callable]]:
    key = asset_key(contract)
    contract_spec = dg.AssetCheckSpec(
        "contract",
        asset=key,
        blocking=True,
        description=f"Types, formats, enums, row rules and key uniqueness of {contract.table} (from its pandera model).",
    )
    pairs = [
        (
            contract_spec,
            lambda con, full_scan, c=contract: report_to_check_result(
                evaluate_contract(con, c, full_scan=full_scan, record_verified=True)
            ),
        )
    ]
    if contract.foreign_keys:
        refs = ", ".join(f"{fk.column}→{fk.ref_table}" for fk in contract.foreign_keys)
        references_spec = dg.AssetCheckSpec(
            "references",
            asset=key,
            blocking=True,
            description=f"Referential integrity of {contract.table}: {refs}.",
            additional_deps=[
                table_asset_key(fk.ref_table) for fk in contract.foreign_keys if fk.ref_table != contract.table
            ],
        )
        pairs.append(
            (references_spec, lambda con, _full_scan, c=contract: report_to_check_result(evaluate_references(con, c)))
        )
    return pairs
