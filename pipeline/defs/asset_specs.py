"""Dagster-facing views of the table contracts: asset keys and specs, column schemas, source assets, code
references and data versions (the asset checks are in checks.py)."""

import hashlib
import sys
import warnings
from pathlib import Path

import dagster as dg
from dagster_pandera import pandera_schema_to_dagster_type

from pipeline.contracts.table_contract import TableContract
from pipeline.settings import REPO_ROOT
from pipeline.validation import reasons

OWNERS = ["team:revenue-cycle-data"]
CODE_REFERENCES = "dagster/code_references"
# Dagster 1.13 has no group descriptions; each asset carries its group's in metadata, and the README lists them.
GROUP_DESCRIPTIONS = {
    "sources": "Folders the pipeline reads: overview documents, CMS utilization files, reference CSVs.",
    "core": "Documents parsed into codes, modifiers, payers and care sites, and the bridges between them.",
    "utilization": "CMS Medicare Physician & Other Practitioners files, loaded and validated in DuckDB.",
    "medicare": "CMS payment policy files (PFS relative values, OPPS Addendum B, ASC Addendum AA) as published.",
    "marts": "BI-ready joins of codes and utilization (scalar columns only, filterable in Superset).",
    "marts_lists": "The list-valued columns of the marts (VARCHAR[]), for SQL and Python users; not for Superset, "
    "which cannot filter list columns (marts.code_overview carries them as text).",
    "serving": "The read-only DuckDB file BI tools open, replaced atomically after every blocking check passed.",
}
SOURCES = {
    "documents": "Overview documents, one per billing code (CPT_DOCUMENTS_DIR): text, Markdown or saved web pages.",
    "utilization": "CMS utilization files as downloaded (CPT_UTILIZATION_DIR): CSV, tab-delimited TXT, .csv.gz, .zip.",
    "medicare_policy": "CMS fee schedules as downloaded (CPT_MEDICARE_POLICY_DIR): PPRRVU csv/txt/xlsx and the RVU "
    "zips, OPPS Addendum B, ASC Addendum AA.",
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
