"""A table's contract is its pandera model; everything else is derived from it.

The model declares, once: columns, types, nullability and descriptions; column
checks (``pa.Field``); the key (``unique=True`` on one field or ``Config.unique``);
cross-column row rules (``row_rule``: a ``@pa.dataframe_check`` whose one
definition is a SQL predicate); and references to other tables
(``references(...)`` in a field's metadata, the one thing pandera cannot
express).  ``Config.metadata = {"ddl_primary_key": False}`` leaves the key out of
the DDL where it cannot be a PRIMARY KEY (NULL key parts) or would cost too much
on ten million rows; it is still checked.  A field's ``metadata={"compression": "zstd"}``
stores that column with DuckDB's ``USING COMPRESSION`` (the parse cache's JSON).

From the model this module derives the DDL, the ``COMMENT ON`` statements, the
pandas dtypes and the SQL predicates.  The SQL predicates are a translation of
the pandera checks (a property test proves they accept and reject the same
rows), so one contract validates a small frame and a ten-million-row table alike.
"""

from __future__ import annotations

import hashlib
import re
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import pandera.pandas as pa
from pandera.api.extensions import register_check_method

from pipeline.validation import reasons

_STRATEGIES = "pandera.strategies.pandas_strategies"


@contextmanager
def _without_data_synthesis():
    """pandera's ``register_check_method`` imports its hypothesis-based data synthesis module for the two
    functions that attach a strategy or a constraint to a check, which these checks have none of; hypothesis
    costs ~0.4 s of every process that imports the contracts (the pipeline, each document worker). A stand-in
    module answers that one import while the checks are registered; anything importing the real module later
    (the property tests) gets it, since the stand-in is removed and never bound to ``pandera.strategies``."""
    if _STRATEGIES in sys.modules:
        yield
        return

    def needs_hypothesis(*_args, **_kwargs):
        raise RuntimeError("a check registered here was given a strategy or constraint: import hypothesis first")

    stand_in = types.ModuleType(_STRATEGIES)
    stand_in.register_check_strategy = stand_in.register_check_constraint = needs_hypothesis
    sys.modules[_STRATEGIES] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(_STRATEGIES) is stand_in:
            del sys.modules[_STRATEGIES]


# pandera dtype -> (DuckDB type, pandas dtype used to build frames). The one type map.
_TYPES = {
    "str": ("VARCHAR", "object"),
    "Int64": ("BIGINT", "Int64"),
    "int64": ("BIGINT", "Int64"),
    "Int32": ("INTEGER", "Int32"),
    "int32": ("INTEGER", "Int32"),
    "float64": ("DOUBLE", "float64"),
    "Float64": ("DOUBLE", "float64"),
    "boolean": ("BOOLEAN", "boolean"),
    "bool": ("BOOLEAN", "boolean"),
    "datetime64[ns]": ("TIMESTAMP", "datetime64[ns]"),
    "datetime64[us]": ("TIMESTAMP", "datetime64[ns]"),
}
_PANDAS_FOR_SQL = {sql: pandas for sql, pandas in _TYPES.values()} | {"DATE": "datetime64[ns]"}
LIST_OF_TEXT = {"sql_type": "VARCHAR[]"}
SUPERSET_TWINS = "superset_twins"


def list_of_text(*twins: str) -> dict:
    """A VARCHAR[] column for BI users, with the text or long-form columns ('schema.table.column') that stand in
    for it in Superset: duckdb-engine reports DuckDB lists as NullType, which Superset can neither filter nor
    chart. docs/bi_tools.md lists every such column with its twins."""
    return {**LIST_OF_TEXT, SUPERSET_TWINS: twins}


def fullmatch(series, *, pattern: str):
    """The whole value matches ``pattern``: no trailing newline slips through, as with ``str_matches``."""
    return series.str.fullmatch(pattern).fillna(False).astype(bool)


def finite(series):
    """No NaN or infinity (CMS files never carry them; averaging over one would poison every total)."""
    import numpy as np

    return series.isna() | np.isfinite(series.astype("float64"))


def list_items_match(value, *, pattern: str) -> bool:
    """Every element of a list cell fully matches ``pattern`` (used for VARCHAR[] columns)."""
    return value is None or all(isinstance(item, str) and re.fullmatch(pattern, item) for item in value)


with _without_data_synthesis():
    register_check_method(fullmatch, statistics=["pattern"], check_type="vectorized")
    register_check_method(finite, check_type="vectorized")
    register_check_method(list_items_match, statistics=["pattern"], check_type="element_wise")


def references(target: str, **more) -> dict:
    """Field metadata: this column's values exist in ``schema.table.column`` (element-wise for list columns)."""
    return {"references": target, **more}


def row_rule(name: str, sql: str, description: str):
    """A rule across columns, written once as a SQL predicate that is true for a valid row.

    pandera evaluates it on a frame through an in-memory DuckDB, and the warehouse checks
    run the same text, so ``Model.validate(frame)`` and the SQL checks cannot disagree.
    """

    def check(cls, frame):
        return _evaluate_predicate(frame, sql)

    check.__name__ = re.sub(r"\W+", "_", name)
    return pa.dataframe_check(check, name=name, description=description, statistics={"sql": sql})


def _evaluate_predicate(frame, sql: str):
    import duckdb
    import pandas as pd

    if frame.empty:
        return pd.Series([], dtype=bool, index=frame.index)
    con = duckdb.connect()
    try:
        con.register("frame", frame.reset_index(drop=True).assign(_row=range(len(frame))))
        valid = con.execute(f"SELECT coalesce({sql}, false) FROM frame ORDER BY _row").fetchnumpy()
    finally:
        con.close()
    return pd.Series(next(iter(valid.values())).astype(bool), index=frame.index)


@dataclass(frozen=True)
class ForeignKey:
    column: str
    ref_table: str
    ref_column: str
    element_wise: bool = False


@dataclass(frozen=True)
class RowRule:
    name: str
    sql: str
    description: str


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    sql_type: str
    pandas_dtype: str
    nullable: bool
    description: str
    checks: tuple[tuple[str, str], ...]  # (rule name, SQL predicate that is true when valid)
    compression: str | None = None  # field metadata ``compression``: how DuckDB stores the column (e.g. zstd)


class TableContract:
    """Everything derived from one pandera model."""

    def __init__(
        self,
        model: type[pa.DataFrameModel],
        primary_key: tuple[str, ...] = (),
        foreign_keys: tuple[ForeignKey, ...] = (),
        row_rules: tuple[RowRule, ...] = (),
        enforce_primary_key: bool | None = None,
    ):
        # Transitional: declarations not yet moved into a model are merged with what the model declares.
        self.model = model
        self._declared = (tuple(primary_key), tuple(foreign_keys), tuple(row_rules), enforce_primary_key)
        self._schema = model.to_schema()
        if not self._schema.name or "." not in self._schema.name:
            raise ValueError(f"{model.__name__}: Config.name must be 'schema.table'")

    def __repr__(self) -> str:
        return f"TableContract({self.table})"

    @property
    def schema(self) -> pa.DataFrameSchema:
        return self._schema

    @property
    def table(self) -> str:
        return self.schema.name

    @property
    def schema_name(self) -> str:
        return self.table.split(".")[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".")[1]

    @property
    def description(self) -> str:
        return " ".join((self.model.__doc__ or "").split())

    @property
    def options(self) -> dict:
        return dict(getattr(self.model.Config, "metadata", None) or {})

    @cached_property
    def primary_key(self) -> tuple[str, ...]:
        """``Config.unique``, else the one field declared ``unique=True``; () for a table without a key."""
        if self._declared[0]:
            return self._declared[0]
        if self.schema.unique:
            return tuple(self.schema.unique)
        unique = [name for name, column in self.schema.columns.items() if column.unique]
        return tuple(unique[:1])

    @property
    def unique_keys(self) -> list[tuple[str, ...]]:
        keys = [self.primary_key] if self.primary_key else []
        keys += [(name,) for name, column in self.schema.columns.items() if column.unique]
        return list(dict.fromkeys(keys))

    @cached_property
    def foreign_keys(self) -> tuple[ForeignKey, ...]:
        fks = []
        for column in self.columns:
            target = (self.schema.columns[column.name].metadata or {}).get("references")
            if target:
                ref_schema, ref_table, ref_column = target.split(".")
                fks.append(
                    ForeignKey(column.name, f"{ref_schema}.{ref_table}", ref_column, column.sql_type.endswith("[]"))
                )
        return tuple(fks) + self._declared[1]

    @cached_property
    def row_rules(self) -> tuple[RowRule, ...]:
        return (
            tuple(
                RowRule(check.name, check.statistics["sql"], check.description or check.name)
                for check in self.schema.checks
                if "sql" in (check.statistics or {})
            )
            + self._declared[2]
        )

    @cached_property
    def columns(self) -> list[ColumnSpec]:
        specs = []
        for name, column in self.schema.columns.items():
            metadata = column.metadata or {}
            sql_type = metadata.get("sql_type") or _TYPES.get(str(column.dtype), (None,))[0]
            if sql_type is None:
                raise ValueError(f"{self.table}.{name}: no SQL type for {column.dtype}; set metadata sql_type")
            checks = tuple((check_label(check), check_sql(name, check)) for check in column.checks)
            pandas_dtype = _PANDAS_FOR_SQL.get(sql_type, "object")
            specs.append(
                ColumnSpec(
                    name,
                    sql_type,
                    pandas_dtype,
                    column.nullable,
                    column.description or "",
                    checks,
                    metadata.get("compression"),
                )  # fmt: skip
            )
        return specs

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.columns)

    @property
    def ddl_primary_key(self) -> tuple[str, ...]:
        """The key the DDL declares as PRIMARY KEY (empty where ``ddl_primary_key`` leaves it out)."""
        ddl_key = self.options.get("ddl_primary_key", True) if self._declared[3] is None else self._declared[3]
        return self.primary_key if ddl_key else ()

    def create_table_sql(
        self, qualified_name: str | None = None, *, if_not_exists: bool = False, primary_key: bool = True
    ) -> str:
        """``CREATE OR REPLACE`` for tables rebuilt from their sources; ``if_not_exists`` for bookkeeping, whose
        rows must survive every run.  ``primary_key=False``: without it, for a table filled first and keyed once
        full (``add_primary_key_sql``)."""
        cols = [
            f"{c.name} {c.sql_type}{'' if c.nullable else ' NOT NULL'}"
            + (f" USING COMPRESSION {c.compression}" if c.compression else "")
            for c in self.columns
        ]
        if self.ddl_primary_key and primary_key:
            cols.append(f"PRIMARY KEY ({', '.join(self.ddl_primary_key)})")
        body = ",\n    ".join(cols)
        create = "CREATE TABLE IF NOT EXISTS" if if_not_exists else "CREATE OR REPLACE TABLE"
        return f"{create} {qualified_name or self.table} (\n    {body}\n)"

    def add_primary_key_sql(self, qualified_name: str | None = None) -> str | None:
        """The ``ALTER TABLE`` that gives a table made with ``primary_key=False`` the key its DDL declares (None
        when it declares none): the same constraint, and its NOT NULLs, as ``create_table_sql`` makes."""
        if not self.ddl_primary_key:
            return None
        return f"ALTER TABLE {qualified_name or self.table} ADD PRIMARY KEY ({', '.join(self.ddl_primary_key)})"

    def comment_statements(self, qualified_name: str | None = None) -> list[tuple[str, list]]:
        """(sql, params) pairs; DuckDB ``COMMENT ON`` does not accept bind parameters, so literals are escaped."""
        name = qualified_name or self.table
        statements = [f"COMMENT ON TABLE {name} IS {sql_literal(self.description)}"]
        for column in self.columns:
            statements.append(f"COMMENT ON COLUMN {name}.{column.name} IS {sql_literal(column.description)}")
        return [(sql, []) for sql in statements]

    # Two digests, because two kinds of stored record depend on two different parts of the contract.

    @cached_property
    def ddl_digest(self) -> str:
        """Changes whenever the statements that create and document the table change (CREATE TABLE and every
        COMMENT ON): a stored copy built under another one is stale. A mart is rebuilt when it moves
        (``internal.mart_builds``), and the publish rewrites the table in full (``internal.snapshot_tables``).
        Rules are left out: a new check changes no stored row, so no copy needs rebuilding for it."""
        text = "\n".join([self.create_table_sql(), *(sql for sql, _ in self.comment_statements())])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @cached_property
    def rules_digest(self) -> str:
        """Changes whenever what the contract accepts changes: columns, types, nullability, column checks, row
        rules and keys. A record that rows passed the contract (``internal.verified_partitions``) is valid only
        under the rules it was verified with. Descriptions are left out: editing the data dictionary must not
        make the checks re-scan ten million verified rows."""
        rules = [f"{name}\t{predicate}" for name, predicate, _ in self.violation_rules()]
        keys = [",".join(key) for key in self.unique_keys]
        text = "\n".join([self.create_table_sql(), *rules, *keys])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def violation_rules(self) -> list[tuple[str, str, str]]:
        """(rule, SQL predicate true for a *violating* row, SQL of the reason a violating row is rejected with)
        for every nullability, column check and row rule. Keys and references are checked separately."""
        rules: list[tuple[str, str, str]] = []
        for column in self.columns:
            if not column.nullable:
                rule = reasons.missing_value(column.name)
                rules.append((rule, f"{column.name} IS NULL", reasons.MISSING_VALUE.sql(column=column.name)))
            for label, predicate in column.checks:
                rule = reasons.check_failed(column.name, label)
                reason = reasons.CHECK_FAILED.sql(column=column.name, check=label, value=reasons.Sql(column.name))
                rules.append((rule, f"{column.name} IS NOT NULL AND NOT ({predicate})", reason))
        for row_rule in self.row_rules:
            rule = reasons.row_rule_broken(row_rule.name)
            rules.append(
                (rule, f"NOT coalesce({row_rule.sql}, false)", reasons.ROW_RULE_BROKEN.sql(rule=row_rule.name))
            )
        return rules


def sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def check_label(check: pa.Check) -> str:
    return check.name


def check_sql(column: str, check: pa.Check) -> str:
    """SQL predicate, true when ``column`` passes ``check`` (nulls are handled by the caller, as pandera does)."""
    stats = check.statistics or {}
    name = check.name
    if name == "fullmatch":
        return (
            _fixed_width_glob(column, stats["pattern"])
            or f"regexp_full_match({column}, {sql_literal(stats['pattern'])})"
        )
    if name == "str_matches":  # pandera anchors at the start only; every contract pattern starts with ^
        return (
            _fixed_width_glob(column, stats["pattern"]) or f"regexp_matches({column}, {sql_literal(stats['pattern'])})"
        )
    if name == "isin":
        return f"{column} IN ({', '.join(sql_literal(v) for v in stats['allowed_values'])})"
    if name in _COMPARISONS:
        return f"{column} {_COMPARISONS[name]} {sql_literal(stats['min_value'] if 'min_value' in stats else stats['max_value'])}"
    if name == "in_range":
        low = ">=" if stats.get("include_min", True) else ">"
        high = "<=" if stats.get("include_max", True) else "<"
        return f"{column} {low} {sql_literal(stats['min_value'])} AND {column} {high} {sql_literal(stats['max_value'])}"
    if name == "str_length":
        parts = [f"length({column}) >= {stats['min_value']}"] if stats.get("min_value") is not None else []
        parts += [f"length({column}) <= {stats['max_value']}"] if stats.get("max_value") is not None else []
        return " AND ".join(parts) or "true"
    if name == "finite":
        return f"isfinite({column})"
    if name == "list_items_match":
        pattern = sql_literal(stats["pattern"])
        return f"len(list_filter({column}, lambda x: x IS NULL OR NOT regexp_full_match(x, {pattern}))) = 0"
    raise ValueError(f"check {name!r} on {column} has no SQL translation; add one in table_contract.check_sql")


_COMPARISONS = {
    "greater_than_or_equal_to": ">=",
    "greater_than": ">",
    "less_than_or_equal_to": "<=",
    "less_than": "<",
}
_CLASS_RUN = re.compile(r"(\[[0-9A-Za-z-]+\])(?:\{(\d+)\})?")


def _fixed_width_glob(column: str, pattern: str) -> str | None:
    """Code formats like ``^[0-9]{4}[0-9A-Z]$`` (or alternatives of them) as GLOB, which DuckDB evaluates
    about ten times faster than a regular expression over millions of rows. None if not of that shape."""
    if not pattern.startswith("^") or not pattern.endswith("$"):
        return None
    body = pattern[1:-1]
    if body.startswith("(?:") and body.endswith(")"):
        body = body[3:-1]
    globs = []
    for alternative in body.split("|"):
        runs = _CLASS_RUN.findall(alternative)
        if not runs or "".join(f"{cls}{{{n}}}" if n else cls for cls, n in runs) != alternative:
            return None
        globs.append("".join(cls * int(n or 1) for cls, n in runs))
    return "(" + " OR ".join(f"{column} GLOB {sql_literal(glob)}" for glob in globs) + ")"
