"""Validate frames against their pandera contracts *before* they are written.

Rows that fail are removed from the frame and returned as rejected rows with
the rule they broke, so BI users never see them and nothing is lost: the
rejected rows land in ``core.rejected_rows`` and the owning document is marked
partial with the reason.  A failure that is not about a row (a missing column,
a wrong dtype) is a bug in the pipeline, not bad data, and raises.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.pandas as pa

from pipeline.contracts.table_contract import TableContract


@dataclass
class GateResult:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)
    problems_by_document: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def gate_frame(contract: TableContract, frame: pd.DataFrame, result: GateResult) -> pd.DataFrame:
    """Validate one frame; failing rows go to ``result`` and the clean frame is returned (and stored)."""
    reasons: dict[int, list[str]] = defaultdict(list)
    try:
        contract.model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        structural = cases[cases["index"].isna()]
        if len(structural):
            raise RuntimeError(f"{contract.table}: frame does not match its contract:\n{structural}") from errors
        for row in cases.itertuples(index=False):
            column = row.column if isinstance(row.column, str) else "row"
            reasons[int(row.index)].append(f"{column} failed {row.check} (value {row.failure_case!r})")
    for rule, index in _row_rule_failures(contract, frame):
        reasons[index].append(f"row rule '{rule}' failed")
    for fk in contract.foreign_keys:
        ref_schema_table = fk.ref_table
        if ref_schema_table not in result.frames or fk.element_wise:
            continue
        allowed = set(result.frames[ref_schema_table][fk.ref_column].dropna())
        missing = ~frame[fk.column].isin(allowed) & frame[fk.column].notna()
        for index in frame.index[missing]:
            reasons[int(index)].append(f"{fk.column} {frame.at[index, fk.column]!r} not in {fk.ref_table}")
    if reasons:
        bad = frame.loc[sorted(reasons)]
        for index, row in bad.iterrows():
            reason = "; ".join(dict.fromkeys(reasons[int(index)]))
            document_id = row.get("document_id")
            record = {k: (None if _isna(v) else v) for k, v in row.items()}
            result.rejected.append(
                {
                    "table_name": contract.table,
                    "document_id": document_id if isinstance(document_id, str) else None,
                    "row_json": json.dumps(record, default=str, ensure_ascii=False),
                    "reason": reason,
                }
            )
            if isinstance(document_id, str):
                result.problems_by_document[document_id].append(f"a {contract.table} row was not loaded: {reason}")
        frame = frame.drop(index=bad.index).reset_index(drop=True)
    result.frames[contract.table] = frame
    return frame


def _row_rule_failures(contract: TableContract, frame: pd.DataFrame) -> list[tuple[str, int]]:
    """Cross-column rules are written once, in SQL; evaluate them on the frame with an in-memory DuckDB."""
    if not contract.row_rules or frame.empty:
        return []
    con = duckdb.connect()
    try:
        con.register("frame", frame.assign(_frame_index=frame.index))
        return [
            (rule.name, int(index))
            for rule in contract.row_rules
            for (index,) in con.execute(
                f"SELECT _frame_index FROM frame WHERE NOT coalesce({rule.sql}, false)"
            ).fetchall()
        ]
    finally:
        con.close()


def _isna(value) -> bool:
    if isinstance(value, list | tuple):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
