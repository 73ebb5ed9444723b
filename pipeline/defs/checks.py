"""Dagster-facing views of the table contracts: asset specs, column schemas, source assets and asset checks."""

import hashlib
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import dagster as dg
from dagster_pandera import pandera_schema_to_dagster_type

from pipeline.contracts.table_contract import TableContract
from pipeline.defs.resources import WAREHOUSE_POOL, LimitsResource, WarehouseResource
from pipeline.settings import REPO_ROOT
from pipeline.validation import reasons
from pipeline.validation.contract_checks import ContractReport, evaluate_contract, evaluate_references

OWNERS = ["team:revenue-cycle-data"]
CODE_REFERENCES = "dagster/code_references"
# Dagster 1.13 has no group descriptions; each asset carries its group's in metadata, and the README lists them.
GROUP_DESCRIPTIONS = {
    "sources": "Folders the pipeline reads: overview documents, CMS utilization files, reference CSVs.",
    "core": "Documents parsed into codes, modifiers, payers and care sites, and the bridges between them.",
    "utilization": "CMS Medicare Physician & Other Practitioners files, loaded and validated in DuckDB.",
    "marts": "BI-ready joins of codes and utilization (scalar columns only, filterable in Superset).",
    "marts_lists": "The list-valued columns of the marts (VARCHAR[]), for SQL and Python users; not for Superset, "
    "which cannot filter list columns (marts.code_overview carries them as text).",
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


def source_digest(*paths: Path) -> str:
    """Digest of source files (a directory: every .py and .sql file under it), for code versions."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.suffix in (".py", ".sql")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(REPO_ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def code_references(*paths: Path) -> dg.CodeReferencesMetadataValue:
    """Links, in the asset's page, to the files that define what the asset holds (SQL, Python)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # code references are beta in Dagster 1.13
        return dg.CodeReferencesMetadataValue(
            code_references=[
                dg.LocalFileCodeReference(file_path=str(path), label=path.relative_to(REPO_ROOT).as_posix())
                for path in paths
            ]
        )


def module_file(module) -> Path:
    return Path(module.__file__).resolve()


def asset_spec(
    contract: TableContract,
    *,
    group: str,
    deps=(),
    kinds=("duckdb",),
    code_version: str = "",
    code_files: tuple[Path, ...] = (),
) -> dg.AssetSpec:
    """``code_version``: a digest of the code that writes the table; with the contract's DDL digest it is the
    asset's code version, so Dagster never falls back to the run id (which made every run look like new code).
    ``code_files``: the files linked from the asset (its SQL, the Python that writes it), beside the contract."""
    contract_file = module_file(sys.modules[contract.model.__module__])
    return dg.AssetSpec(
        key=asset_key(contract),
        group_name=group,
        description=contract.description,
        deps=list(deps),
        kinds=set(kinds),
        owners=OWNERS,
        code_version=f"{contract.ddl_digest}:{code_version}" if code_version else contract.ddl_digest,
        metadata={
            "dagster/column_schema": column_schema(contract),
            "dagster/table_name": contract.table,
            "primary_key": ", ".join(contract.primary_key) or "(none)",
            "group_description": GROUP_DESCRIPTIONS[group],
            CODE_REFERENCES: code_references(*code_files, contract_file),
        },
    )


def table_data_version(versions: dict[str, int], table: str) -> dg.DataVersion:
    """A table's data version is its latest version in ``internal.table_change_log``: it moves only when a
    writer changed the table's rows, so a run that changes nothing shows no new data downstream."""
    return dg.DataVersion(str(versions.get(table, 0)))


SAMPLE_CELL_CHARS = 300


def sample_table(sample: list[dict]) -> dg.TableMetadataValue:
    """Failing rows as a table in the check's metadata: each row's key columns, every rule it breaks, the row."""
    columns = list(sample[0]) if sample else ["failed_rules"]
    schema = dg.TableSchema(columns=[dg.TableColumn(name=c, type="string") for c in columns])
    records = [dg.TableRecord({c: _cell(row.get(c)) for c in columns}) for row in sample]
    return dg.MetadataValue.table(records=records, schema=schema)


def _cell(value) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SAMPLE_CELL_CHARS else text[: SAMPLE_CELL_CHARS - 1] + "…"


def report_to_check_result(report: ContractReport) -> dg.AssetCheckResult:
    """``failing_rows`` counts each failing row once; ``hits_per_rule`` says how many rows (for a reference:
    distinct missing values; for a key: duplicated keys) each failing rule caught; ``sample`` shows failing rows."""
    metadata: dict = {"rows_checked": report.rows, "rules_checked": len(report.results)}
    if report.failing_rows is not None:
        metadata["failing_rows"] = report.failing_rows
    else:  # the columns do not match the contract: no row was checked
        metadata["failing_columns"] = sum(r.failing_rows for r in report.failures)
    if report.rows_scanned is not None:
        metadata["rows_scanned"] = report.rows_scanned
        metadata["scope"] = report.scope or "every row of the table"
    if report.failures:
        metadata["hits_per_rule"] = dg.MetadataValue.json({r.rule: r.failing_rows for r in report.failures})
        metadata["sample"] = sample_table(report.sample)
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
