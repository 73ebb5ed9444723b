"""Evaluate a table contract inside DuckDB, as SQL generated from its pandera model.

Used by the asset checks on every table and by the utilization loader to
quarantine failing rows.  One scan computes the count of every rule and the
key-uniqueness shortfall; samples and exact duplicate groups are fetched only
for what fails, so a clean ten-million-row table costs a single scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.contracts.table_contract import TableContract

SAMPLE_ROWS = 5


@dataclass
class RuleResult:
    rule: str
    failing_rows: int
    sample: list[dict] = field(default_factory=list)


@dataclass
class ContractReport:
    table: str
    rows: int
    results: list[RuleResult]

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if r.failing_rows]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.passed:
            return f"{self.table}: {self.rows} rows, all {len(self.results)} rules pass"
        parts = [f"{r.rule}: {r.failing_rows} rows" for r in self.failures]
        return f"{self.table}: " + "; ".join(parts)


def reasons_sql(contract: TableContract) -> tuple[str, str]:
    """(expression listing the failed rule names of a row, predicate true for any failing row)."""
    rules = contract.violation_rules()
    cases = ", ".join(f"CASE WHEN {pred} THEN '{name.replace(chr(39), chr(39) * 2)}' END" for name, pred in rules)
    any_fail = " OR ".join(f"({pred})" for _, pred in rules) or "false"
    return f"concat_ws('; ', {cases})", any_fail


def unique_keys(contract: TableContract) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    if contract.primary_key:
        keys.append(contract.primary_key)
    if contract.schema.unique:
        keys.append(tuple(contract.schema.unique))
    keys += [(name,) for name, col in contract.schema.columns.items() if col.unique]
    return list(dict.fromkeys(keys))


def key_shortfall_sql(columns: tuple[str, ...] | list[str]) -> str:
    """Rows minus distinct 64-bit key hashes: 0 means the key is unique (a positive value is a duplicate or,
    rarely, a hash collision, which the exact GROUP BY then settles). Much cheaper than grouping wide keys."""
    return f"count(*) - count(DISTINCT hash({', '.join(columns)}))"


def check_rules_and_keys(con, contract: TableContract, relation: str | None = None) -> tuple[int, list[RuleResult]]:
    """Every row rule and key-uniqueness count in a single scan; samples only for what fails."""
    relation = relation or contract.table
    rules = contract.violation_rules()
    keys = unique_keys(contract)
    expressions = [f"count_if({pred})" for _, pred in rules] + [key_shortfall_sql(k) for k in keys] + ["count(*)"]
    values = con.execute(f"SELECT {', '.join(expressions)} FROM {relation}").fetchone()
    results = []
    for (name, pred), count in zip(rules, values[: len(rules)], strict=True):
        results.append(RuleResult(name, count, _sample(con, f"SELECT * FROM {relation} WHERE {pred}") if count else []))
    for key, shortfall in zip(keys, values[len(rules) : -1], strict=True):
        cols = ", ".join(key)
        sql = f"SELECT {cols}, count(*) AS copies FROM {relation} GROUP BY ALL HAVING count(*) > 1"
        count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0] if shortfall else 0
        results.append(RuleResult(f"unique ({cols})", count, _sample(con, sql) if count else []))
    return values[-1], results


def check_foreign_keys(con, contract: TableContract, relation: str | None = None) -> list[RuleResult]:
    relation = relation or contract.table
    results = []
    for fk in contract.foreign_keys:
        source = f"(SELECT unnest({fk.column}) AS {fk.column} FROM {relation})" if fk.element_wise else relation
        sql = (
            f"SELECT DISTINCT {fk.column} FROM {source} s WHERE {fk.column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {fk.ref_table} r WHERE r.{fk.ref_column} = s.{fk.column})"
        )
        count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        results.append(
            RuleResult(
                f"{fk.column} references {fk.ref_table}.{fk.ref_column}", count, _sample(con, sql) if count else []
            )
        )
    return results


def check_column_types(con, contract: TableContract, relation: str | None = None) -> list[RuleResult]:
    schema, table = (relation or contract.table).split(".")
    actual = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
    )
    wrong = [
        {"column": c.name, "expected": c.sql_type, "actual": actual.get(c.name, "missing")}
        for c in contract.columns
        if actual.get(c.name) != c.sql_type
    ]
    return [RuleResult("columns and types match the contract", len(wrong), wrong[:SAMPLE_ROWS])]


def evaluate_contract(con, contract: TableContract) -> ContractReport:
    """Types, column rules, row rules and key uniqueness of a table (no foreign keys)."""
    results = check_column_types(con, contract)
    if results[0].failing_rows:
        rows = con.execute(f"SELECT count(*) FROM {contract.table}").fetchone()[0]
        return ContractReport(contract.table, rows, results)
    rows, rule_results = check_rules_and_keys(con, contract)
    return ContractReport(contract.table, rows, results + rule_results)


def evaluate_references(con, contract: TableContract) -> ContractReport:
    rows = con.execute(f"SELECT count(*) FROM {contract.table}").fetchone()[0]
    return ContractReport(contract.table, rows, check_foreign_keys(con, contract))


def _sample(con, sql: str) -> list[dict]:
    cursor = con.execute(f"{sql} LIMIT {SAMPLE_ROWS}")
    names = [d[0] for d in cursor.description]
    return [{n: _jsonable(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)
