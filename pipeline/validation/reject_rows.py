"""The one way rows reach a reject table, for documents (``core.rejected_rows``) and CMS files (``utilization.quarantine``).

``move_failing_rows`` moves every row of a table that fails its contract (a column check, a row rule, its key, a
reference) to a reject table, with every reason in the wording of ``reasons``. One scan counts the failures and
the key shortfall; the clean case, almost always, stops there, so a ten-million-row file costs a single scan.
Reasons, duplicate groups and the move run only when something fails.

``insert_rejects`` is the only statement that writes into a reject table: the moved rows, and the lines of a CMS
file DuckDB could not read at all (``pipeline/utilization/file_load.py``, ``line_exact.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.contracts.table_contract import ForeignKey, TableContract, sql_literal
from pipeline.validation import reasons
from pipeline.validation.contract_checks import duplicate_keys_sql, key_shortfall_sql

_FAILING = "_failing_rows"


@dataclass(frozen=True)
class RejectTarget:
    """A reject table and what its own columns hold for the rows of one load.

    ``columns``: reject column -> SQL expression, over the rejected row as ``t`` for a moved row (e.g.
    ``t.document_id``) or a constant (the file's name, layout, data year)."""

    table: str
    columns: dict[str, str]


def insert_rejects(con, target: RejectTarget, source: str, values: dict[str, str], params=()) -> None:
    """INSERT into ``target.table`` from ``source``: ``target.columns`` plus ``values`` (line_number, reasons,
    row_data as SQL over ``source``)."""
    columns = {**target.columns, **values}
    con.execute(
        f"INSERT INTO {target.table} ({', '.join(columns)}) SELECT {', '.join(columns.values())} FROM {source}",
        list(params),
    )


def move_failing_rows(
    con, contract: TableContract, target: RejectTarget, *, relation: str | None = None, scope: str | None = None
) -> int:
    """Move the rows of ``relation`` (default: the contract's table) that fail the contract to ``target``;
    returns how many moved.

    ``scope`` (a predicate over the table's columns) limits the scan to the rows just loaded, e.g. one file's data
    year: the rows already there were validated by their own load. Key duplicates are searched within the scope
    too (CMS keys include the data year). Every copy of a duplicate key is rejected: none can be trusted.
    References resolve against the referenced tables as they are now (gate referenced tables first). Runs inside
    the caller's transaction; no cleanup on failure, since further statements in an aborted transaction would
    raise a secondary error that hides the real one (the temp table goes with the rollback or the next call).
    """
    relation = relation or contract.table
    where = f"WHERE {scope}" if scope else ""
    failures = [(pred, f"CASE WHEN {pred} THEN {reason} END") for _, pred, reason in contract.violation_rules()]
    failures += [reference_failure(fk, i) for i, fk in enumerate(contract.foreign_keys)]
    any_fail = " OR ".join(f"({predicate})" for predicate, _ in failures) or "false"
    keys = contract.unique_keys
    source = f"{relation} t{reference_lists(contract)}"
    counts = [f"count_if({any_fail})"] + [key_shortfall_sql(key) for key in keys]
    failing, *shortfalls = con.execute(f"SELECT {', '.join(counts)} FROM {source} {where}").fetchone()
    if not failing and not any(shortfalls):
        return 0
    row_reasons = f"concat_ws({sql_literal(reasons.SEPARATOR)}, {', '.join(reason for _, reason in failures)})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_FAILING} AS SELECT t.rowid AS rid, 0 AS position, {row_reasons} AS reasons "
        f"FROM {source} WHERE ({any_fail}){f' AND ({scope})' if scope else ''}"
    )
    scoped = f"(SELECT * FROM {relation} {where})"
    for position, (key, shortfall) in enumerate(zip(keys, shortfalls, strict=True), start=1):
        if not shortfall:
            continue
        join = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in key)
        reason = sql_literal(reasons.duplicate_key(key))
        con.execute(
            f"INSERT INTO {_FAILING} SELECT t.rid, {position}, {reason} "
            f"FROM (SELECT rowid AS rid, * FROM {relation} {where}) t "
            f"JOIN ({duplicate_keys_sql(key, scoped)}) d ON {join}"
        )
    moved = con.execute(f"SELECT count(DISTINCT rid) FROM {_FAILING}").fetchone()[0]
    every_reason = (
        f"SELECT rid, string_agg(reasons, {sql_literal(reasons.SEPARATOR)} ORDER BY position) AS reasons "
        f"FROM {_FAILING} GROUP BY rid"
    )
    insert_rejects(
        con,
        target,
        f"{relation} t JOIN ({every_reason}) f ON t.rowid = f.rid",
        {"line_number": "NULL", "reasons": "f.reasons", "row_data": "to_json(t)::VARCHAR"},
    )
    con.execute(f"DELETE FROM {relation} WHERE rowid IN (SELECT rid FROM {_FAILING})")
    con.execute(f"DROP TABLE {_FAILING}")
    return moved


def reference_failure(fk: ForeignKey, index: int) -> tuple[str, str]:
    """(predicate true for a row with a value its referenced table lacks, the reasons naming each such value)."""
    parts = {"column": fk.column, "ref_table": fk.ref_table, "ref_column": fk.ref_column}
    if not fk.element_wise:
        predicate = (
            f"{fk.column} IS NOT NULL AND {fk.column} NOT IN "
            f"(SELECT {fk.ref_column} FROM {fk.ref_table} WHERE {fk.ref_column} IS NOT NULL)"
        )
        reason = reasons.UNRESOLVED_REFERENCE.sql(value=reasons.Sql(fk.column), **parts)
        return predicate, f"CASE WHEN {predicate} THEN {reason} END"
    # Subqueries are not allowed inside list lambdas: the referenced values come in as a list, joined once.
    missing = f"list_filter({fk.column}, lambda x: x IS NOT NULL AND NOT list_contains(_references_{index}, x))"
    reason = reasons.UNRESOLVED_REFERENCE.sql(value=reasons.Sql("x"), **parts)
    each = f"list_transform({missing}, lambda x: {reason})"
    return f"len({missing}) > 0", f"nullif(array_to_string({each}, {sql_literal(reasons.SEPARATOR)}), '')"


def reference_lists(contract: TableContract) -> str:
    return "".join(
        f", (SELECT coalesce(list({fk.ref_column}), []) AS _references_{i} FROM {fk.ref_table} "
        f"WHERE {fk.ref_column} IS NOT NULL)"
        for i, fk in enumerate(contract.foreign_keys)
        if fk.element_wise
    )


@dataclass(frozen=True)
class Rejection:
    source: str | None
    reasons: str


def gate_table(con, contract: TableContract, *, source_column: str | None, reject_table: str) -> list[Rejection]:
    """Move the rows of a freshly written table that fail its contract to ``reject_table``; returns what was
    rejected, by source. The document load empties the reject table first and gates each table once, so its
    rejects for this table are the ones just moved."""
    source = f"t.{source_column}" if source_column else "NULL"
    target = RejectTarget(reject_table, {"table_name": sql_literal(contract.table), "source_file": source})
    if not move_failing_rows(con, contract, target):
        return []
    rows = con.execute(
        f"SELECT source_file, reasons FROM {reject_table} WHERE table_name = ? ORDER BY ALL",
        [contract.table],
    ).fetchall()
    return [Rejection(source_value, reason) for source_value, reason in rows]
