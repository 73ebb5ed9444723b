"""Asset checks derived from the table contracts: the blocking `contract` and `references` checks of every table."""

import json
from collections.abc import Callable

import dagster as dg

from pipeline.contracts.table_contract import TableContract
from pipeline.defs.asset_specs import asset_key, table_asset_key
from pipeline.defs.resources import WAREHOUSE_POOL, LimitsResource, WarehouseResource
from pipeline.validation.contract_checks import ContractReport, evaluate_contract, evaluate_references

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


def quarantine_check(contract: TableContract, quarantine: str) -> tuple[dg.AssetCheckSpec, Callable]:
    """A warning (not blocking) on the contract's table when lines meant for it failed the contract and were moved
    to ``quarantine``, with the first of them (file, line, reasons, the line itself)."""
    table = contract.table
    spec = dg.AssetCheckSpec(
        "no_quarantined_rows",
        asset=asset_key(contract),
        blocking=False,
        description=f"Warns when lines meant for {table} failed the contract and were moved to {quarantine}.",
    )

    def evaluate(con, _full_scan: bool) -> dg.AssetCheckResult:
        count = con.execute(f"SELECT count(*) FROM {quarantine} WHERE table_name = ?", [table]).fetchone()[0]
        sample = con.execute(
            f"SELECT source_file, line_number, reasons, row_data FROM {quarantine} WHERE table_name = ? "
            "ORDER BY source_file, line_number LIMIT 10",
            [table],
        ).fetchall()
        return dg.AssetCheckResult(
            passed=count == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{count} lines quarantined" if count else "no lines quarantined",
            metadata={
                "quarantined_rows": count,
                "sample": dg.MetadataValue.json(
                    [{"file": f, "line": line, "reasons": r, "row": d} for f, line, r, d in sample]
                ),
            },
        )

    return spec, evaluate
