"""Seams that fail loudly: one way to open a transaction, one way to ask whether a table exists, one contract per
table the pipeline creates (its own ``internal`` bookkeeping included), and digests that move with exactly what the
records stored under them depend on."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from pipeline.contracts import ALL_CONTRACTS, BOOKKEEPING_CONTRACTS
from pipeline.contracts.bookkeeping_tables import (
    CHANGE_LOG_CONTRACT,
    MART_BUILDS_CONTRACT,
    PARSE_CACHE_CONTRACT,
    SERVING_FILE_BOOKKEEPING,
    VERIFIED_PARTITIONS_CONTRACT,
    WORKING_FILE_BOOKKEEPING,
)
from pipeline.contracts.table_contract import TableContract, row_rule
from pipeline.warehouse.tables import create_missing_table, table_exists, transaction
from tests.table_shape import table_shape

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
# The one module that opens transactions and probes the catalog; the one module that writes table DDL.
WAREHOUSE = PIPELINE / "warehouse"
DDL_MODULE = PIPELINE / "contracts" / "table_contract.py"

TRANSACTION_STATEMENT = re.compile(
    r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK|ABORT|END\s+TRANSACTION)\b", re.IGNORECASE
)
TRANSACTION_METHODS = {"begin", "commit", "rollback"}
SQL_METHODS = {"execute", "executemany", "sql", "query"}
ONE_TABLE_PROBE = re.compile(
    r"(duckdb_tables\(\)|information_schema\.tables).*\btable_name\s*(=|IN\b)", re.IGNORECASE | re.DOTALL
)
PERSISTENT_TABLE_DDL = re.compile(r"\bCREATE\s+(OR\s+REPLACE\s+)?TABLE\b", re.IGNORECASE)

# --- the code: scanned, so a new hand-written copy of a seam fails here ----------------------------------


# Runs as a script under the lake's own DuckDB (1.5.5) in its own environment, where nothing of `pipeline` can be
# imported: it writes the lake (not a contract table of the working file) with its own SQL. Its transaction is
# tested against a real Postgres catalog (tests/pipeline/test_lake.py).
STANDALONE = {PIPELINE / "publishing" / "lake_worker.py"}


def _modules(exclude: Path | None = None) -> list[Path]:
    return sorted(
        p for p in PIPELINE.rglob("*.py") if (exclude is None or exclude not in p.parents) and p not in STANDALONE
    )


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal, f-strings with their holes shown as ``{}`` (adjacent literals are one string)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
            found.append((node.lineno, text))
    return found


def _where(module: Path, line: int) -> str:
    return f"{module.relative_to(PIPELINE.parent)}:{line}"


def _transaction_lines(source: str) -> list[int]:
    """``con.execute("BEGIN TRANSACTION")`` (any statement that opens or ends one) and ``con.begin()`` alike."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        opens_or_ends = (node.func.attr in TRANSACTION_METHODS and not node.args) or (
            node.func.attr in SQL_METHODS
            and node.args
            and any(TRANSACTION_STATEMENT.match(text) for _, text in _strings(node.args[0]))
        )
        if opens_or_ends:
            lines.append(node.lineno)
    return sorted(lines)


def test_transactions_are_opened_only_by_the_warehouse_helper():
    """``with transaction(con):`` everywhere: one place decides how a failure rolls back and what it re-raises."""
    sites = [
        _where(module, line)
        for module in _modules(exclude=WAREHOUSE)
        for line in _transaction_lines(module.read_text())
    ]
    assert not sites, f"use pipeline.warehouse.tables.transaction instead of hand-written transactions: {sites}"


def test_one_table_probes_go_through_table_exists():
    sites = [
        _where(module, line)
        for module in _modules(exclude=WAREHOUSE)
        for line, text in _strings(ast.parse(module.read_text()))
        if ONE_TABLE_PROBE.search(text)
    ]
    assert not sites, f"use pipeline.warehouse.tables.table_exists instead of a catalog probe: {sites}"


def test_tables_are_created_only_from_contracts():
    """Inline ``CREATE TABLE`` text is a table without a contract (TEMP scratch tables excepted)."""
    sites = [
        _where(module, line)
        for module in _modules()
        if module != DDL_MODULE
        for line, text in _strings(ast.parse(module.read_text()))
        if PERSISTENT_TABLE_DDL.search(text)
    ]
    assert not sites, f"declare the table as a contract and create it with warehouse.tables: {sites}"


def test_the_scans_find_what_they_look_for():
    """The patterns above, on the shapes they replaced: a scan that matches nothing would pass forever."""
    old = ast.parse(
        'con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?")\n'
        'con.execute(f"CREATE TABLE IF NOT EXISTS {T} (a VARCHAR)")\n'
    )
    texts = [text for _, text in _strings(old)]
    hand_written = 'con.execute("BEGIN TRANSACTION")\ncon.execute("commit")\ncon.rollback()\nclock.lap("commit")\n'
    assert _transaction_lines(hand_written) == [1, 2, 3]
    assert any(ONE_TABLE_PROBE.search(t) for t in texts)
    assert any(PERSISTENT_TABLE_DDL.search(t) for t in texts)
    assert not PERSISTENT_TABLE_DDL.search("CREATE OR REPLACE TEMP TABLE _gate AS SELECT 1")
    assert not ONE_TABLE_PROBE.search("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?")


# --- the transaction helper ----------------------------------------------------------------------------


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (x INTEGER)")
    yield connection
    connection.close()


def test_transaction_commits_the_block(con):
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    con.execute("BEGIN TRANSACTION")  # no transaction is left open: this would fail inside one
    con.execute("ROLLBACK")


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_transaction_rolls_back_and_re_raises_the_same_error(con, error):
    with pytest.raises(type(error)) as raised, transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        raise error
    assert raised.value is error
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    con.execute("BEGIN TRANSACTION")  # rolled back, not left open
    con.execute("ROLLBACK")


def test_a_failed_rollback_never_masks_the_original_error():
    class RollbackFails:
        def __init__(self):
            self.statements = []

        def execute(self, sql):
            self.statements.append(sql)
            if sql == "ROLLBACK":
                raise duckdb.TransactionException("no transaction is active")

    fake = RollbackFails()
    with pytest.raises(ValueError, match="disk full") as raised, transaction(fake):
        raise ValueError("disk full")
    assert fake.statements == ["BEGIN TRANSACTION", "ROLLBACK"]
    assert any("the rollback also failed" in note for note in raised.value.__notes__)


def test_a_failed_commit_is_rolled_back():
    class CommitFails:
        def __init__(self):
            self.statements = []

        def execute(self, sql):
            self.statements.append(sql)
            if sql == "COMMIT":
                raise duckdb.IOException("No space left on device")

    fake = CommitFails()
    with pytest.raises(duckdb.IOException), transaction(fake):
        pass
    assert fake.statements == ["BEGIN TRANSACTION", "COMMIT", "ROLLBACK"]


# --- table_exists and the bookkeeping tables ------------------------------------------------------------


def test_table_exists(con, tmp_path):
    assert table_exists(con, "main.t")
    assert not table_exists(con, "main.missing")
    assert not table_exists(con, CHANGE_LOG_CONTRACT)
    create_missing_table(con, CHANGE_LOG_CONTRACT)
    assert table_exists(con, CHANGE_LOG_CONTRACT) and table_exists(con, CHANGE_LOG_CONTRACT.table)
    con.execute(f"ATTACH '{tmp_path / 'other.duckdb'}' AS other")
    con.execute("CREATE SCHEMA other.internal")
    con.execute("CREATE TABLE other.internal.parse_cache (sha256 VARCHAR)")
    # An unqualified name resolves to the current database; a same-named table in an attached file is not it.
    assert not table_exists(con, PARSE_CACHE_CONTRACT)
    assert table_exists(con, PARSE_CACHE_CONTRACT, database="other")
    assert not table_exists(con, "main.t", database="other")
    with pytest.raises(ValueError, match="schema.table"):
        table_exists(con, "t")


def test_a_bookkeeping_table_is_created_once_and_never_replaced(con):
    assert create_missing_table(con, MART_BUILDS_CONTRACT)
    con.execute(f"INSERT INTO {MART_BUILDS_CONTRACT.table} VALUES ('marts.x', '{{}}', 'abc')")
    assert not create_missing_table(con, MART_BUILDS_CONTRACT)
    con.execute(MART_BUILDS_CONTRACT.create_table_sql(if_not_exists=True))  # the DDL itself never replaces either
    assert con.execute(f"SELECT count(*) FROM {MART_BUILDS_CONTRACT.table}").fetchone()[0] == 1


# The DDL these tables were created with before they had contracts: warehouses created then must keep working.
LEGACY_DDL = {
    CHANGE_LOG_CONTRACT.table: "CREATE TABLE internal.table_change_log (table_name VARCHAR NOT NULL, "
    "version BIGINT NOT NULL, changed_at TIMESTAMP NOT NULL, removed_rows BIGINT NOT NULL, "
    "removed_sources VARCHAR[] NOT NULL, PRIMARY KEY (table_name, version))",
    MART_BUILDS_CONTRACT.table: "CREATE TABLE internal.mart_builds "
    "(mart VARCHAR PRIMARY KEY, inputs VARCHAR, contract_digest VARCHAR)",
    VERIFIED_PARTITIONS_CONTRACT.table: "CREATE TABLE internal.verified_partitions (table_name VARCHAR NOT NULL, "
    "source_file VARCHAR NOT NULL, data_year INTEGER NOT NULL, row_count BIGINT NOT NULL, "
    "contract_digest VARCHAR NOT NULL, verified_by VARCHAR NOT NULL, verified_at TIMESTAMP NOT NULL, "
    "PRIMARY KEY (table_name, source_file, data_year))",
    PARSE_CACHE_CONTRACT.table: "CREATE TABLE internal.parse_cache "
    "(sha256 VARCHAR PRIMARY KEY, parser_version VARCHAR, payload VARCHAR)",
}


@pytest.mark.parametrize("contract", WORKING_FILE_BOOKKEEPING, ids=lambda c: c.table)
def test_bookkeeping_contracts_match_the_legacy_ddl(contract):
    """Same columns, types, nullability and key as the table an older version created, which is kept as it is
    (``create_missing_table`` leaves it alone) and read and written by position."""
    legacy, current = duckdb.connect(), duckdb.connect()
    try:
        legacy.execute("CREATE SCHEMA internal")
        legacy.execute(LEGACY_DDL[contract.table])
        assert not create_missing_table(legacy, contract)
        create_missing_table(current, contract)
        assert table_shape(current, contract.table) == table_shape(legacy, contract.table)
    finally:
        legacy.close()
        current.close()


def test_bookkeeping_is_not_published():
    assert not {c.table for c in BOOKKEEPING_CONTRACTS} & {c.table for c in ALL_CONTRACTS}
    assert {c.schema_name for c in BOOKKEEPING_CONTRACTS} == {"internal"}
    assert "internal" not in {c.schema_name for c in ALL_CONTRACTS}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from tests.conftest import make_pipeline_env, run_pipeline

    env = make_pipeline_env(tmp_path_factory.mktemp("seams"))
    assert run_pipeline(env).success
    return env


def _tables(env, *, serving: bool) -> set[str]:
    return {t for (t,) in env.query("SELECT schema_name || '.' || table_name FROM duckdb_tables()", serving=serving)}


def test_every_table_the_pipeline_creates_has_a_contract(built):
    published = {c.table for c in ALL_CONTRACTS}
    working = _tables(built, serving=False)
    assert working - published == {c.table for c in WORKING_FILE_BOOKKEEPING}
    assert _tables(built, serving=True) - published == {c.table for c in SERVING_FILE_BOOKKEEPING}


@pytest.mark.parametrize("contract", BOOKKEEPING_CONTRACTS, ids=lambda c: c.table)
def test_bookkeeping_tables_have_their_contracts_columns(built, contract):
    serving = contract in SERVING_FILE_BOOKKEEPING
    schema, name = contract.schema_name, contract.table_name
    actual = built.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
        serving=serving,
    )
    assert actual == [(c.name, c.sql_type) for c in contract.columns]
    [(rows,)] = built.query(f"SELECT count(*) FROM {contract.table}", serving=serving)
    assert rows > 0, f"the sample run wrote nothing to {contract.table}: the test proves nothing about it"


# --- the two digests of a contract ----------------------------------------------------------------------


class Things(pa.DataFrameModel):
    """Things."""

    code: Series[str] = pa.Field(str_length={"min_value": 1}, description="A code.")
    amount: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="An amount.")

    class Config:
        name = "test.things"


class SameThings(Things):
    """Things."""

    class Config:
        name = "test.things"


class DescribedOtherwise(Things):
    """Things, described otherwise."""

    code: Series[str] = pa.Field(str_length={"min_value": 1}, description="A code, described otherwise.")

    class Config:
        name = "test.things"


class CheckedOtherwise(Things):
    """Things."""

    code: Series[str] = pa.Field(str_length={"min_value": 2}, description="A code.")

    class Config:
        name = "test.things"


class WithRowRule(Things):
    """Things."""

    positive = row_rule("positive", "amount IS NULL OR amount > 0", "Amounts are positive.")

    class Config:
        name = "test.things"


class WithColumn(Things):
    """Things."""

    note: Series[str] = pa.Field(nullable=True, description="A note.")

    class Config:
        name = "test.things"


class Retyped(Things):
    """Things."""

    amount: Series[pd.Int32Dtype] = pa.Field(nullable=True, description="An amount.")

    class Config:
        name = "test.things"


class Keyed(Things):
    """Things."""

    code: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True, description="A code.")

    class Config:
        name = "test.things"


BASE = TableContract(Things)


def _moved(model) -> set[str]:
    other = TableContract(model)
    return {name for name in ("ddl_digest", "rules_digest") if getattr(other, name) != getattr(BASE, name)}


@pytest.mark.parametrize(
    ("model", "moved"),
    [
        (SameThings, set()),
        (DescribedOtherwise, {"ddl_digest"}),  # a dictionary edit re-verifies nothing
        (CheckedOtherwise, {"rules_digest"}),  # a new rule rebuilds no copy
        (WithRowRule, {"rules_digest"}),
        (WithColumn, {"ddl_digest", "rules_digest"}),
        (Retyped, {"ddl_digest", "rules_digest"}),
        (Keyed, {"ddl_digest", "rules_digest"}),
    ],
    ids=lambda value: getattr(value, "__name__", None) or ",".join(sorted(value)) or "none",
)
def test_each_digest_moves_with_what_depends_on_it(model, moved):
    assert _moved(model) == moved


def test_bookkeeping_rows_are_inserted_by_name_and_a_wrong_key_raises():
    """Bookkeeping rows name their columns: a dict in any order lands under the right names, ``NOW`` is the
    database's clock, and a misspelt key raises instead of leaving a column empty."""
    import duckdb

    from pipeline.contracts.bookkeeping_tables import CHANGE_LOG_CONTRACT
    from pipeline.warehouse.tables import NOW, RowKeysMismatch, create_missing_table, ensure_schemas, insert_rows

    con = duckdb.connect()
    ensure_schemas(con, "internal")
    create_missing_table(con, CHANGE_LOG_CONTRACT)
    row = {
        "removed_sources": ["a.csv"],
        "removed_rows": 7,
        "changed_at": NOW,
        "version": 42,
        "table_name": "core.codes",
    }
    insert_rows(con, CHANGE_LOG_CONTRACT, [row])
    assert con.execute(
        f"SELECT table_name, version, removed_rows, removed_sources, changed_at IS NOT NULL FROM {CHANGE_LOG_CONTRACT.table}"
    ).fetchall() == [("core.codes", 42, 7, ["a.csv"], True)]
    misspelt = {**{k: v for k, v in row.items() if k != "removed_rows"}, "removed_row": 7}
    with pytest.raises(RowKeysMismatch, match="removed_row"):
        insert_rows(con, CHANGE_LOG_CONTRACT, [misspelt])
