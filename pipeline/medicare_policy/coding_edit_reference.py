"""The two inputs of the coding-edit marts that are not CMS files: the modifier rules
(``sources/reference/modifier_rules.csv`` -> ``medicare.modifier_rules``) and the reference date edits are judged
active on (``CPT_CODING_EDITS_REFERENCE_DATE``, default today -> ``medicare.coding_edit_parameters``).

Both tables are rewritten only when their content changes, so an unchanged day rebuilds no mart.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandera.errors

from pipeline.contracts.coding_edit_tables import (
    CODING_EDIT_PARAMETERS_CONTRACT,
    MODIFIER_RULES_CONTRACT,
    ModifierRules,
)
from pipeline.core.reference_data import ReferenceDataError, read_reference_csv
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import ensure_schemas, frame_for, replace_table, table_exists, transaction

MODIFIER_RULES_FILE = "modifier_rules.csv"
# The check whose indicator is the PTP edits' modifier indicator; every other check reads medicare.pfs_rvu.
PTP_CHECK = "ncci_ptp"
PTP_VALUES = ("1", "0", "none", "no_release")
FEE_SCHEDULE_COLUMNS = (
    "status_code",
    "bilateral_indicator",
    "assistant_indicator",
    "cosurgeon_indicator",
    "team_indicator",
    "pctc_indicator",
    "global_days",
)
GENERIC_CHECKS = {"fee_schedule_status": "status_code", "unchecked": "none", "unmatched_value": "none"}


def read_modifier_rules(reference_dir: Path) -> list[dict[str, str]]:
    path = reference_dir / MODIFIER_RULES_FILE
    rows = read_reference_csv(path, tuple(MODIFIER_RULES_CONTRACT.column_names))
    try:
        ModifierRules.validate(frame_for(MODIFIER_RULES_CONTRACT, rows), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        failures = exc.failure_cases[["column", "check", "failure_case"]].head(10).to_dict("records")
        raise ReferenceDataError(f"{path}: rows break the medicare.modifier_rules contract: {failures}") from exc
    problems = [_problem(line, row) for line, row in enumerate(rows, start=2)]
    problems = [p for p in problems if p]
    if problems:
        raise ReferenceDataError(f"{path}: " + "; ".join(problems[:10]))
    return rows


def _problem(line: int, row: dict[str, str]) -> str | None:
    """A rule the mart could not apply as written (it would silently never match)."""
    check, column, value = row["check_name"], row["indicator_column"], row["indicator_value"]
    if row["modifier_code"] == "*":
        if GENERIC_CHECKS.get(check) != column:
            return f"line {line}: a '*' rule must be one of {sorted(GENERIC_CHECKS)} with its column"
        return None
    if column == "none":
        if value != "*":
            return f"line {line}: an advice rule (indicator_column none) holds for any value: indicator_value *"
        return None
    if check == PTP_CHECK:
        if column != "modifier_indicator" or value not in PTP_VALUES:
            return f"line {line}: an {PTP_CHECK} rule judges modifier_indicator, valued {', '.join(PTP_VALUES)}"
        return None
    if column not in FEE_SCHEDULE_COLUMNS[1:]:
        return f"line {line}: {column!r} is not a medicare.pfs_rvu indicator ({', '.join(FEE_SCHEDULE_COLUMNS[1:])})"
    return None


def replace_modifier_rules(con, reference_dir: Path) -> bool:
    """Rebuild medicare.modifier_rules from the reference CSV; True (and logged as a change) if it changed."""
    frame = frame_for(MODIFIER_RULES_CONTRACT, read_modifier_rules(reference_dir))
    ensure_schemas(con, MODIFIER_RULES_CONTRACT.schema_name)
    before = _content(con, MODIFIER_RULES_CONTRACT)
    with transaction(con):
        replace_table(con, MODIFIER_RULES_CONTRACT, frame)
        changed = _content(con, MODIFIER_RULES_CONTRACT) != before
        if changed:
            record_change(con, MODIFIER_RULES_CONTRACT.table)
    return changed


def record_reference_date(con, configured: date | None, today: date | None = None) -> bool:
    """Write the reference date (the configured one, else today); True (logged as a change) if it changed."""
    row = {
        "reference_date": configured or today or date.today(),
        "reference_date_source": "setting" if configured else "today",
    }
    ensure_schemas(con, CODING_EDIT_PARAMETERS_CONTRACT.schema_name)
    before = _content(con, CODING_EDIT_PARAMETERS_CONTRACT)
    wanted = [(row["reference_date"], row["reference_date_source"])]
    if before == wanted:
        return False
    with transaction(con):
        replace_table(con, CODING_EDIT_PARAMETERS_CONTRACT, frame_for(CODING_EDIT_PARAMETERS_CONTRACT, [row]))
        record_change(con, CODING_EDIT_PARAMETERS_CONTRACT.table)
    return True


def _content(con, contract) -> list[tuple] | None:
    if not table_exists(con, contract):
        return None
    return [tuple(r) for r in con.execute(f"SELECT * FROM {contract.table} ORDER BY ALL").fetchall()]
