"""The SQL of one file's load: read it into its table, then move what fails the contract to quarantine.

Quarantine holds one row per bad line, listing every reason: lines DuckDB cannot read (grouped from
``store_rejects``, which reports one row per faulty value), and typed rows that fail a column check,
a row rule, a reference or the grain key (moved by ``reject_rows.move_failing_rows``, as for documents).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.contracts.table_contract import sql_literal
from pipeline.contracts.utilization_tables import QUARANTINE_CONTRACT
from pipeline.utilization.cms_layouts import Layout
from pipeline.utilization.completeness import ContentVerdict, tail_cut_off_reason
from pipeline.utilization.file_access import FileContentError
from pipeline.utilization.in_thread import InThread
from pipeline.utilization.line_exact import (
    THOUSANDS_REJECT_SQL,
    LineExactReadNeeded,
    count_data_lines,
    count_physical_lines,
    line_exact_copy,
    quarantine_bad_lines,
)
from pipeline.validation import reasons
from pipeline.validation.reject_rows import RejectTarget, insert_rejects, move_failing_rows

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
    con.execute(f"INSERT INTO {layout.table} BY NAME SELECT * FROM {STAGING}")
    con.execute(f"DROP TABLE {STAGING}")


def insert_from_file(
    con, candidate, path: Path, compression: str, relation: str, scratch_dir: Path | None = None
) -> tuple[str, int]:
    """Insert the file's rows; (encoding used, unreadable lines quarantined). Retries as latin-1 if not UTF-8.

    Every data line is accounted for: when DuckDB's rows and rejected lines do not add up to the file's data
    lines, or a value was refused only for its thousands separators, the file is read again line-exact."""
    layout, year = candidate.header.layout, candidate.year
    # [last bytes, more before them, first NUL offset] of the text, filled by the line count on its way.
    text: list = []
    counting = InThread(count_physical_lines, path, compression, text)
    encoding = "utf-8"
    inserted = _insert(con, candidate, path, compression, encoding, relation)
    if _has_encoding_errors(con):
        # Not UTF-8 (older CMS files carry latin-1 names): read it again, so no line is lost to its encoding.
        con.execute(f"DELETE FROM {relation} WHERE data_year = ?", [year])
        encoding = "latin-1"
        inserted = _insert(con, candidate, path, compression, encoding, relation)
    lines = counting.result()
    _judge_text(candidate, compression, *text)
    try:
        _check_accounted(con, inserted, lines, lambda: count_data_lines(path, compression))
    except LineExactReadNeeded:
        con.execute(f"DELETE FROM {relation} WHERE data_year = ?", [year])
        return encoding, _insert_line_exact(con, candidate, (path, compression, encoding), relation, scratch_dir)
    return encoding, _quarantine_unreadable(con, layout, candidate.name, year)


def _judge_text(candidate, compression: str, text_tail: bytes, more_before: bool, first_nul: int | None) -> None:
    """What only a read of the whole text shows: NUL bytes (a download that preallocated the file and has not
    finished, or a damaged copy: a run of them would load as one quarantined line, hiding every row it covers),
    and a .gz file's cut last line (its decompressed text is seen only here)."""
    if first_nul is not None:
        raise ContentVerdict(
            f"NUL bytes in the text (the first at byte {first_nul:,}): a download that reserved the file's size and "
            "has not finished, or a damaged copy; not loaded"
        )
    if compression == "gzip":
        cut = tail_cut_off_reason(text_tail, more_before, candidate.delimiter, len(candidate.header.columns))
        if cut is not None:
            raise ContentVerdict(cut)


def _check_accounted(con, inserted: int, physical_lines: int, data_lines) -> None:
    """Rows + rejected lines must equal the data lines; blank lines (rare) are counted only when the fast count of
    physical lines disagrees."""
    rejected, thousands, textless = con.execute(
        f"SELECT count(DISTINCT (scan_id, file_id, line)), count_if(error_type = 'CAST' AND "
        f"regexp_matches(error_message, {sql_literal(THOUSANDS_REJECT_SQL)})), "
        f"count_if(coalesce(trim(csv_line, chr(13) || chr(10)), '') = '' "
        f"OR contains(trim(csv_line, chr(13) || chr(10)), chr(10))) FROM {_REJECTS}"
    ).fetchone()
    if thousands:
        raise LineExactReadNeeded(f"{thousands:,} values refused only for their thousands separators")
    if textless:  # a reject that does not show its own line (none, or several lines): its row would mislead
        raise LineExactReadNeeded(f"{textless:,} rejected lines without their own text")
    if inserted + rejected != physical_lines and inserted + rejected != (data_lines := data_lines()):
        raise LineExactReadNeeded(f"{inserted:,} rows + {rejected:,} rejected lines for {data_lines:,} data lines")


def _insert_line_exact(con, candidate, source: tuple[Path, str, str], relation: str, scratch_dir) -> int:
    """Load a copy where each physical line is one record; lines that are not are quarantined here, each under
    its own number with its own text.  Returns the lines quarantined (here and by DuckDB)."""
    layout, year = candidate.header.layout, candidate.year
    scratch_dir = Path(scratch_dir or tempfile.gettempdir())
    _drop_rejects(con)
    header = [(c.header, c.sql_type) for c in candidate.header.columns]
    with line_exact_copy(*source, header, candidate.delimiter, scratch_dir) as (copy, bad, data_lines):
        inserted = _insert(con, candidate, copy, "none", "utf-8", relation)
    quarantine_bad_lines(con, bad, quarantine_target(layout, candidate.name, year), scratch_dir)
    unreadable = _quarantine_unreadable(con, layout, candidate.name, year)
    if inserted + unreadable + len(bad) != data_lines:
        raise FileContentError(
            f"{data_lines:,} data lines, but only {inserted + unreadable + len(bad):,} could be accounted for "
            "even reading line by line; the file was not loaded"
        )
    return unreadable + len(bad)


def _insert(con, candidate, path: Path, compression: str, encoding: str, relation: str) -> int:
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
    return con.execute(
        f"INSERT INTO {relation} ({', '.join(targets)}) SELECT {', '.join(values)} "
        f"FROM read_csv({sql_literal(str(path))}, header = true, auto_detect = false, "
        f"delim = {sql_literal(candidate.delimiter)}, quote = '\"', escape = '\"', columns = {{{types}}}, "
        f"compression = {sql_literal('gzip' if compression == 'gzip' else 'none')}, "
        f"encoding = {sql_literal(encoding)}, store_rejects = true, "
        f"rejects_table = '{_REJECTS}', rejects_scan = '{_REJECT_SCANS}') AS src {join}"
    ).fetchone()[0]


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
        reason = reasons.UNREADABLE_VALUE.sql(
            error=reasons.Sql("error_type"), column=reasons.Sql("column_name"), message=reasons.Sql("error_message")
        )
        insert_rejects(
            con,
            quarantine_target(layout, file_name, year),
            f"{_REJECTS} GROUP BY scan_id, file_id, line",
            {
                "line_number": "line",
                "reasons": f"string_agg({reason}, {sql_literal(reasons.SEPARATOR)} ORDER BY column_idx)",
                "row_data": "trim(any_value(csv_line), chr(13) || chr(10))",
            },
        )
    _drop_rejects(con)
    return lines


def quarantine_target(layout: Layout, file_name: str, year: int) -> RejectTarget:
    """Quarantine rows of one file: the table its lines were for, the file, its layout and data year."""
    return RejectTarget(
        QUARANTINE,
        {
            "table_name": sql_literal(layout.table),
            "source_file": sql_literal(file_name),
            "layout": sql_literal(layout.name),
            "data_year": str(int(year)),
        },
    )


def quarantine_failing_rows(con, layout: Layout, file_name: str, year: int, relation: str) -> int:
    """Move this file's rows failing a rule, a reference or the grain key to quarantine; returns how many moved.
    Only the year just inserted is scanned: the table's other years came from other files, validated then."""
    target = quarantine_target(layout, file_name, year)
    return move_failing_rows(con, layout.contract, target, relation=relation, scope=f"data_year = {int(year)}")
