"""The SQL of one file's load: read it into its table, then move what fails the contract to quarantine.

Quarantine holds one row per bad line, listing every reason: lines DuckDB cannot read (grouped from
``store_rejects``, which reports one row per faulty value), and typed rows that fail a column check,
a row rule, a reference or the grain key.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.contract_checks import duplicate_keys_sql, key_shortfall_sql, reasons_sql
from pipeline.contracts.table_contract import sql_literal
from pipeline.contracts.utilization_tables import QUARANTINE_CONTRACT
from pipeline.utilization.cms_layouts import Layout

QUARANTINE = QUARANTINE_CONTRACT.table
_REJECTS, _REJECT_SCANS = "_csv_rejects", "_csv_reject_scans"
_GEO_CODE = "Rndrng_Prvdr_Geo_Cd"
_GEO_LEVEL = "Rndrng_Prvdr_Geo_Lvl"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


STAGING = "_utilization_staging"


def create_staging(con, layout: Layout) -> str:
    """An empty copy of the table without its NOT NULL constraints, so lines missing a required value can be
    loaded, then quarantined like any other failure (a NOT NULL violation would refuse the whole file)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGING} AS SELECT * FROM {layout.table} LIMIT 0")
    return STAGING


def publish_staging(con, layout: Layout) -> None:
    con.execute(f"INSERT INTO {layout.table} SELECT * FROM {STAGING}")
    con.execute(f"DROP TABLE {STAGING}")


def insert_from_file(con, candidate, path: Path, compression: str, relation: str) -> tuple[str, int]:
    """Insert the file's rows; (encoding used, unreadable lines quarantined). Retries as latin-1 if not UTF-8."""
    layout, year = candidate.header.layout, candidate.year
    _insert(con, candidate, path, compression, "utf-8", relation)
    if _has_encoding_errors(con):
        # Not UTF-8 (older CMS files carry latin-1 names): read it again, so no line is lost to its encoding.
        con.execute(f"DELETE FROM {relation} WHERE data_year = ?", [year])
        _insert(con, candidate, path, compression, "latin-1", relation)
        return "latin-1", _quarantine_unreadable(con, layout, candidate.name, year)
    return "utf-8", _quarantine_unreadable(con, layout, candidate.name, year)


def _insert(con, candidate, path: Path, compression: str, encoding: str, relation: str) -> None:
    layout = candidate.header.layout
    mapped = [column for column in candidate.header.columns if column.target is not None]
    types = ", ".join(f"{sql_literal(c.header)}: {sql_literal(c.sql_type)}" for c in candidate.header.columns)
    targets = [c.target for c in mapped] + ["data_year", "source_file"]
    values = [f"src.{quote_identifier(c.header)}" for c in mapped]
    values += [str(int(candidate.year)), sql_literal(candidate.name)]
    join = ""
    if "geo_type" in layout.contract.column_names:
        targets.append("geo_type")
        values.append(_geo_type_sql(candidate))
        join = f"LEFT JOIN utilization.geographies AS g ON g.geo_code = src.{_header_of(candidate, _GEO_CODE)}"
    _drop_rejects(con)
    con.execute(
        f"INSERT INTO {relation} ({', '.join(targets)}) SELECT {', '.join(values)} "
        f"FROM read_csv({sql_literal(str(path))}, header = true, auto_detect = false, "
        f"delim = {sql_literal(candidate.delimiter)}, quote = '\"', escape = '\"', columns = {{{types}}}, "
        f"compression = {sql_literal('gzip' if compression == 'gzip' else 'none')}, "
        f"encoding = {sql_literal(encoding)}, store_rejects = true, "
        f"rejects_table = '{_REJECTS}', rejects_scan = '{_REJECT_SCANS}') AS src {join}"
    )


def _header_of(candidate, cms_name: str) -> str:
    column = next(c for c in candidate.header.columns if c.header.strip().casefold() == cms_name.casefold())
    return quote_identifier(column.header)


def _geo_type_sql(candidate) -> str:
    """National rows are national, blank-coded State rows unknown, others the reference's type (NULL if absent)."""
    level, code = _header_of(candidate, _GEO_LEVEL), _header_of(candidate, _GEO_CODE)
    return (
        f"CASE WHEN src.{level} = 'National' THEN 'national' WHEN src.{code} IS NULL THEN 'unknown' ELSE g.geo_type END"
    )


def _has_encoding_errors(con) -> bool:
    return con.execute(f"SELECT count(*) FROM {_REJECTS} WHERE error_type = 'INVALID ENCODING'").fetchone()[0] > 0


def _drop_rejects(con) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}")
    con.execute(f"DROP TABLE IF EXISTS {_REJECT_SCANS}")


def _quarantine_unreadable(con, layout: Layout, file_name: str, year: int) -> int:
    """One quarantine row per unreadable line, however many of its values DuckDB could not read."""
    lines = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT scan_id, file_id, line FROM {_REJECTS})").fetchone()[0]
    if lines:
        con.execute(
            f"INSERT INTO {QUARANTINE} (table_name, source_file, layout, data_year, line_number, reasons, row_data) "
            f"SELECT {sql_literal(layout.table)}, {sql_literal(file_name)}, {sql_literal(layout.name)}, {int(year)}, "
            "line, string_agg('unreadable value: ' || error_type || ' in ' || coalesce(column_name, '?') || ': ' "
            "|| error_message, '; ' ORDER BY column_idx), any_value(csv_line) "
            f"FROM {_REJECTS} GROUP BY scan_id, file_id, line"
        )
    _drop_rejects(con)
    return lines


def quarantine_failing_rows(con, layout: Layout, file_name: str, year: int, relation: str) -> int:
    """Move rows failing a rule, a reference or the grain key to quarantine; returns how many rows moved."""
    contract, table = layout.contract, relation
    reasons, any_fail = _reasons_with_references(contract)
    key = list(contract.primary_key)
    shortfall = key_shortfall_sql(key) if key else "0"
    # One scan answers "is anything wrong?"; the clean case (almost always) stops here.
    failing, duplicates = con.execute(
        f"SELECT count_if({any_fail}), {shortfall} FROM {table} WHERE data_year = {int(year)}"
    ).fetchone()
    if not failing and not duplicates:
        return 0
    this_year = f"(SELECT * FROM {table} WHERE data_year = {int(year)})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _failing AS SELECT rowid AS rid, {reasons} AS reasons "
        f"FROM {table} WHERE data_year = {int(year)} AND ({any_fail})"
    )
    if duplicates:
        join = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in key)
        label = sql_literal(f"duplicate grain key ({', '.join(key)})")
        con.execute(
            f"INSERT INTO _failing SELECT t.rowid, {label} "
            f"FROM {table} t JOIN ({duplicate_keys_sql(tuple(key), this_year)}) d ON {join} "
            f"WHERE t.data_year = {int(year)}"
        )
    return _move_failing(con, layout, file_name, year, relation)


def _reasons_with_references(contract) -> tuple[str, str]:
    """The contract's reasons, plus one naming the value for each reference that does not resolve."""
    reasons, any_fail = reasons_sql(contract)
    extra_reasons, extra_fail = [], []
    for fk in contract.foreign_keys:
        missing = (
            f"({fk.column} IS NOT NULL AND {fk.column} NOT IN "
            f"(SELECT {fk.ref_column} FROM {fk.ref_table} WHERE {fk.ref_column} IS NOT NULL))"
        )
        label = f"'{fk.column} ' || {fk.column} || ' is not in {fk.ref_table} (sources/reference)'"
        extra_reasons.append(f"CASE WHEN {missing} THEN {label} END")
        extra_fail.append(missing)
    if not extra_reasons:
        return reasons, any_fail
    return f"concat_ws('; ', {', '.join(extra_reasons)}, {reasons})", " OR ".join([f"({any_fail})", *extra_fail])


def _move_failing(con, layout: Layout, file_name: str, year: int, table: str) -> int:
    count = con.execute("SELECT count(DISTINCT rid) FROM _failing").fetchone()[0]
    con.execute(
        f"INSERT INTO {QUARANTINE} (table_name, source_file, layout, data_year, line_number, reasons, row_data) "
        f"SELECT {sql_literal(layout.table)}, {sql_literal(file_name)}, {sql_literal(layout.name)}, {int(year)}, NULL, "
        f"f.reasons, to_json(t)::VARCHAR FROM {table} t "
        "JOIN (SELECT rid, string_agg(reasons, '; ') AS reasons FROM _failing GROUP BY rid) f ON t.rowid = f.rid"
    )
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rid FROM _failing)")
    con.execute("DROP TABLE _failing")
    return count
