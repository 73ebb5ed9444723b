"""Evaluate table contracts inside DuckDB, as SQL generated from their pandera models.

This is the one validation mechanism of the warehouse:
- before a load is committed, ``reject_rows.move_failing_rows`` moves every row that
  fails a column check, a row rule, its key or a reference, with all its reasons, to
  the layer's reject table, and the rest stays;
- the blocking asset checks run ``evaluate_contract`` / ``evaluate_references`` on
  the written tables: the same generated SQL, re-verifying after the write, and rules
  named in the wording of the rejected rows' reasons (``reasons``).
One scan computes the count of every rule and the key-uniqueness shortfall; samples
and exact duplicate groups are fetched only for what fails, so a clean
ten-million-row table costs a single scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.contracts.table_contract import TableContract, sql_literal
from pipeline.validation import reasons, verified_partitions

SAMPLE_ROWS = 5


@dataclass
class RuleResult:
    """``failing_rows``: the rule's hits, counted in ``unit`` (rows; for a key, duplicated keys; for a reference,
    distinct missing values)."""

    rule: str
    failing_rows: int
    sample: list[dict] = field(default_factory=list)
    unit: str = "row"


@dataclass
class ContractReport:
    """``results`` count hits per rule (a row breaking two rules is a hit of each); ``failing_rows`` counts each
    failing row once, and ``sample`` shows some of them: key columns, every rule the row breaks, the row.
    ``failing_rows`` is None when the table's columns do not match the contract (no row is checked then)."""

    table: str
    rows: int
    results: list[RuleResult]
    rows_scanned: int | None = None  # None: every row was scanned
    scope: str = ""  # what was scanned, when not every row
    failing_rows: int | None = 0
    sample: list[dict] = field(default_factory=list)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if r.failing_rows]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        scope = f" ({self.scope})" if self.scope else ""
        if self.passed and self.rows_scanned == 0 and self.rows:
            return f"{self.table}: {plural(self.rows, 'row')}; {self.scope}"
        if self.passed:
            return f"{self.table}: {plural(self.rows, 'row')}, all {plural(len(self.results), 'rule')} pass{scope}"
        failures = "; ".join(f"{r.rule}: {plural(r.failing_rows, r.unit)}" for r in self.failures)
        if self.failing_rows is None:
            return f"{self.table}: {failures}{scope}"
        return f"{self.table}: {plural(self.failing_rows, 'failing row')} ({failures}){scope}"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def key_shortfall_sql(columns: tuple[str, ...] | list[str]) -> str:
    """Rows minus distinct 64-bit key hashes: 0 means the key is unique (a positive value is a duplicate or,
    rarely, a hash collision, which the exact GROUP BY then settles). Much cheaper than grouping wide keys."""
    return f"count(*) - count(DISTINCT hash({', '.join(columns)}))"


def duplicate_keys_sql(columns: tuple[str, ...], relation: str) -> str:
    cols = ", ".join(columns)
    return f"SELECT {cols}, count(*) AS copies FROM {relation} GROUP BY ALL HAVING count(*) > 1"


def sample_key(contract: TableContract) -> tuple[str, ...]:
    """The columns that identify a row in a sample: the primary key, else the first unique column."""
    keys = contract.unique_keys
    return keys[0] if keys else ()


def distinct_failing_rows(
    con,
    contract: TableContract,
    relation: str,
    rules: list[tuple[str, str]],
    duplicate_keys: list[tuple[str, ...]] = (),
    *,
    references: bool = False,
) -> tuple[int, list[dict]]:
    """Rows of ``relation`` breaking any of ``rules`` ((rule, predicate true for a failing row)) or holding a
    duplicated key, each counted once; a sample of them with their key, the rules each breaks, and the row."""
    from pipeline.validation.reject_rows import reference_lists  # reject_rows imports this module

    copies = [f"count(*) OVER (PARTITION BY {', '.join(key)}) AS _copies_{i}" for i, key in enumerate(duplicate_keys)]
    rules = list(rules) + [(reasons.duplicate_key(key), f"_copies_{i} > 1") for i, key in enumerate(duplicate_keys)]
    base = f"(SELECT *, {', '.join(copies)} FROM {relation})" if copies else relation
    source = f"{base} t{reference_lists(contract) if references else ''}"
    any_fail = " OR ".join(f"({predicate})" for _, predicate in rules) or "false"
    count = con.execute(f"SELECT count(*) FROM {source} WHERE {any_fail}").fetchone()[0]
    if not count:
        return 0, []
    key = sample_key(contract)
    broken = ", ".join(f"CASE WHEN {predicate} THEN {sql_literal(rule)} END" for rule, predicate in rules)
    row = "{" + ", ".join(f"{sql_literal(c)}: t.{c}" for c in contract.column_names) + "}"
    order = ", ".join(f"t.{c}" for c in key) or "1"
    selected = [
        *(f"t.{c} AS {c}" for c in key),
        f"concat_ws('; ', {broken}) AS failed_rules",
        f"to_json({row})::VARCHAR AS row",
    ]
    cursor = con.execute(
        f"SELECT {', '.join(selected)} FROM {source} WHERE {any_fail} ORDER BY {order} LIMIT {SAMPLE_ROWS}"
    )
    names = [d[0] for d in cursor.description]
    return count, [{n: _jsonable(v) for n, v in zip(names, values, strict=True)} for values in cursor.fetchall()]


def check_rules_and_keys(con, contract: TableContract, relation: str | None = None) -> tuple[int, list[RuleResult]]:
    """Every row rule and key-uniqueness count in a single scan; samples only for what fails."""
    relation = relation or contract.table
    rules = contract.violation_rules()
    keys = contract.unique_keys
    expressions = [f"count_if({pred})" for _, pred, _ in rules] + [key_shortfall_sql(k) for k in keys] + ["count(*)"]
    values = con.execute(f"SELECT {', '.join(expressions)} FROM {relation}").fetchone()
    results = []
    for (name, pred, _), count in zip(rules, values[: len(rules)], strict=True):
        results.append(RuleResult(name, count, _sample(con, f"SELECT * FROM {relation} WHERE {pred}") if count else []))
    for key, shortfall in zip(keys, values[len(rules) : -1], strict=True):
        sql = duplicate_keys_sql(key, relation)
        count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0] if shortfall else 0
        results.append(RuleResult(reasons.duplicate_key(key), count, _sample(con, sql) if count else [], "key"))
    return values[-1], results


def missing_references_sql(contract: TableContract, fk, relation: str) -> str:
    """Distinct values of ``fk.column`` in ``relation`` that its referenced table lacks."""
    source = f"(SELECT unnest({fk.column}) AS {fk.column} FROM {relation})" if fk.element_wise else relation
    return (
        f"SELECT DISTINCT {fk.column} FROM {source} s WHERE {fk.column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {fk.ref_table} r WHERE r.{fk.ref_column} = s.{fk.column})"
    )


def check_foreign_keys(con, contract: TableContract, relation: str | None = None) -> list[RuleResult]:
    relation = relation or contract.table
    results = []
    for fk in contract.foreign_keys:
        sql = missing_references_sql(contract, fk, relation)
        count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        rule = reasons.unresolved_reference(fk.column, fk.ref_table, fk.ref_column)
        results.append(RuleResult(rule, count, _sample(con, sql) if count else [], "missing value"))
    return results


def check_column_types(con, contract: TableContract, relation: str | None = None) -> list[RuleResult]:
    schema, table = (relation or contract.table).split(".")
    # duckdb_columns() holds the rows information_schema.columns shows (its non-internal ones), read in a
    # third of the time: the view is rebuilt on every query, for each of the ~40 tables checked per run.
    actual = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE NOT internal AND schema_name = ? "
            "AND table_name = ?",
            [schema, table],
        ).fetchall()
    )
    wrong = [
        {"column": c.name, "expected": c.sql_type, "actual": actual.get(c.name, "missing")}
        for c in contract.columns
        if actual.get(c.name) != c.sql_type
    ]
    return [RuleResult("columns and types match the contract", len(wrong), wrong[:SAMPLE_ROWS], "column")]


def evaluate_contract(
    con, contract: TableContract, *, full_scan: bool = False, record_verified: bool = False
) -> ContractReport:
    """Types, column rules, row rules and key uniqueness of a table (no foreign keys).

    Partitioned tables (see ``verified_partitions``) scan only the partitions not verified yet, unless
    ``full_scan`` (the pipeline passes ``CPT_CONTRACT_CHECKS_FULL_SCAN``). ``record_verified`` (the pipeline's check, on
    its read-write connection) records the partitions a passing scan covered; without it nothing is written,
    so a read-only connection can evaluate too."""
    results = check_column_types(con, contract)
    if results[0].failing_rows:
        rows = con.execute(f"SELECT count(*) FROM {contract.table}").fetchone()[0]
        return ContractReport(contract.table, rows, results, failing_rows=None, sample=results[0].sample)
    if verified_partitions.is_partitioned(contract):
        return _evaluate_partitions(con, contract, results, full_scan=full_scan, record_verified=record_verified)
    rows, rule_results = check_rules_and_keys(con, contract)
    report = ContractReport(contract.table, rows, results + rule_results)
    _add_failing_rows(con, contract, contract.table, report)
    return report


def _add_failing_rows(con, contract: TableContract, relation: str, report: ContractReport) -> None:
    """Fill in the distinct failing rows and their sample, only when some rule failed (the clean case costs
    nothing more than its one scan)."""
    failed = {r.rule for r in report.failures}
    if not failed:
        return
    rules = [(rule, predicate) for rule, predicate, _ in contract.violation_rules() if rule in failed]
    keys = [key for key in contract.unique_keys if reasons.duplicate_key(key) in failed]
    report.failing_rows, report.sample = distinct_failing_rows(con, contract, relation, rules, keys)


def _evaluate_partitions(
    con, contract: TableContract, results: list[RuleResult], *, full_scan: bool, record_verified: bool
) -> ContractReport:
    """Scan the data years holding a partition without a valid verification (keys include the year, so a
    duplicate can only sit within one year); record what was scanned once it all passes."""
    present = con.execute(f"SELECT source_file, data_year, count(*) FROM {contract.table} GROUP BY ALL").fetchall()
    trusted = {} if full_scan else verified_partitions.verified(con, contract)
    unverified = [(file, year, rows) for file, year, rows in present if trusted.get((file, year)) != rows]
    total = sum(rows for _, _, rows in present)
    scanned_years = {year for _, year, _ in unverified}
    years = sorted(scanned_years)
    if not years:
        rule_results = [RuleResult(name, 0) for name, _, _ in contract.violation_rules()]
        rule_results += [RuleResult(reasons.duplicate_key(key), 0) for key in contract.unique_keys]
        scope = (
            f"rules not re-evaluated: each of the {plural(len(present), 'partition')} was verified by its load or "
            "an earlier check and has not changed since"
            if present
            else ""
        )
        return ContractReport(contract.table, total, results + rule_results, rows_scanned=0, scope=scope)
    year_list = ", ".join(str(int(year)) for year in years)
    relation = f"(SELECT * FROM {contract.table} WHERE data_year IN ({year_list}))"
    scanned, rule_results = check_rules_and_keys(con, contract, relation)
    report = ContractReport(contract.table, total, results + rule_results, rows_scanned=scanned)
    _add_failing_rows(con, contract, relation, report)
    if scanned < total:
        report.scope = (
            f"scanned {plural(scanned, 'row')} of data years {year_list}; the other "
            f"{plural(total - scanned, 'row')} were verified when loaded or by an earlier check"
        )
    if report.passed and record_verified:
        in_scanned_years = [p for p in present if p[1] in scanned_years]
        verified_partitions.record(con, contract, in_scanned_years, "contract check")
    return report


def evaluate_references(con, contract: TableContract) -> ContractReport:
    """Hits per reference are the distinct missing values; the failing rows are the rows holding one."""
    from pipeline.validation.reject_rows import reference_failure  # reject_rows imports this module

    rows = con.execute(f"SELECT count(*) FROM {contract.table}").fetchone()[0]
    report = ContractReport(contract.table, rows, check_foreign_keys(con, contract))
    failed = {r.rule for r in report.failures}
    rules = [
        (rule, reference_failure(fk, i)[0])
        for i, fk in enumerate(contract.foreign_keys)
        if (rule := reasons.unresolved_reference(fk.column, fk.ref_table, fk.ref_column)) in failed
    ]
    if rules:
        report.failing_rows, report.sample = distinct_failing_rows(
            con, contract, contract.table, rules, references=True
        )
    return report


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
