"""One recognized sheet into a staging table, typed and validated in DuckDB.

Python only cuts records into cells (``sheets.py``: the csv reader, fixed-width slices, xlsx cells); DuckDB types
every cell from its ``Cell`` kind in one ``INSERT … SELECT``: money ``"$3,307.24 "`` -> 3307.24, ``.`` -> NULL,
``20%`` -> 20, ``NA`` -> not priced. A line with a number cell that is not a number goes to quarantine with its line
and the reason; then the contract moves the rows that break a rule or the key (``reject_rows.move_failing_rows``).
The staged rows replace the slot's rows only when the folder reader decides the file wins (``folder.py``).
"""

from __future__ import annotations

import csv
import operator
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.contracts.medicare_tables import QUARANTINE_CONTRACT
from pipeline.contracts.table_contract import sql_literal
from pipeline.medicare_policy import layouts as L
from pipeline.medicare_policy.layouts import Recognized
from pipeline.validation import reasons
from pipeline.validation.reject_rows import RejectTarget, insert_rejects, move_failing_rows

QUARANTINE = QUARANTINE_CONTRACT.table
STAGE = "_medicare_stage"
STAGED_QUARANTINE = "_medicare_stage_quarantine"
_RAW = "_medicare_raw"
_NON_PRINTING_TAIL = "[^!-~]+$"  # anything but printable ASCII at the end of a code: a stray byte
PAYABLE = "('A', 'R', 'T')"
# Columns that say where a row came from, not what it says: two files agree when the rest is equal.
PROVENANCE = ("source_file", "source_member", "file_form", "line_number")


@dataclass
class Staged:
    rows: int
    quarantined: int
    stripped_codes: int
    digest: tuple[int, int]  # (rows, order-free hash of their facts): equal for files that agree


def raw_rows(found: Recognized):
    """(line number, one text per layout cell) for each data record: the cells cut out of the sheet."""
    sheet, positions = found.sheet, found.positions
    records = sheet.records[found.data_start :]
    wanted = [positions[cell.target] for cell in present_cells(found)]
    if sheet.form == "txt":
        slices = [slice(*where) for where in wanted]
        return ((number, *(cells[0][part] for part in slices)) for number, cells in records)
    width = max(wanted) + 1
    pick = operator.itemgetter(*wanted) if len(wanted) > 1 else (lambda cells: (cells[wanted[0]],))
    # A short record reads as empty cells.
    return ((number, *pick(cells if len(cells) >= width else cells + [""] * (width - len(cells))))
            for number, cells in records)  # fmt: skip


def present_cells(found: Recognized) -> list[L.Cell]:
    """The layout's cells this file has (an optional column, e.g. the 2026 Pricing Indicator, may be absent)."""
    return [cell for cell in found.layout.cells if cell.target in found.positions]


@contextmanager
def raw_file(found: Recognized, scratch_dir: Path | None = None) -> Iterator[str]:
    """The cut cells as a plain CSV for DuckDB's reader: writing them is cheaper than building a frame."""
    with tempfile.NamedTemporaryFile("w", suffix=".csv", dir=scratch_dir, encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(raw_rows(found))
        handle.flush()
        types = {"line_number": "BIGINT"} | {cell.target: "VARCHAR" for cell in present_cells(found)}
        columns = ", ".join(f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in types.items())
        yield (
            f"read_csv({sql_literal(handle.name)}, header = false, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {{{columns}}})"
        )


def _typed(cell: L.Cell, form: str) -> str:
    x = f"r.{cell.target}"
    blank = f"nullif(trim({x}), '')"
    if cell.kind == L.CODE:
        code = f"upper(regexp_replace(trim({x}), '{_NON_PRINTING_TAIL}', ''))"
        return (
            f"CASE WHEN regexp_full_match({code}, '[0-9]{{1,4}}') THEN lpad({code}, 5, '0') ELSE {code} END"
            if form == "xlsx"
            else code
        )
    if cell.kind == L.MODIFIER:
        return f"upper({blank})"
    if cell.kind in L.NUMERIC_KINDS:
        return f"TRY_CAST({_number_text(cell, x)} AS DOUBLE)"
    if cell.kind == L.PRICED:
        return f"coalesce(upper(trim({x})), '') <> 'NA'"
    if cell.kind == L.YES_NO:
        return f"CASE upper(trim({x})) WHEN 'Y' THEN true WHEN 'N' THEN false END"
    if cell.kind == L.CHANGED:
        return f"CASE WHEN trim({x}) = '*' THEN true END"
    if cell.kind == L.PADDED_3:
        return f"CASE WHEN regexp_full_match(trim({x}), '[0-9]{{1,3}}') THEN lpad(trim({x}), 3, '0') ELSE upper({blank}) END"
    if cell.kind == L.APC:
        return f"CASE WHEN regexp_full_match(trim({x}), '[0-9]{{1,4}}') THEN lpad(trim({x}), 4, '0') ELSE {blank} END"
    if cell.kind == L.CPT_BLANKED:  # CPT descriptors are AMA text: never stored
        return f"CASE WHEN regexp_matches(trim(r.hcpcs_code), '^[A-Za-z]') THEN {blank} END"
    return blank


def _number_text(cell: L.Cell, x: str) -> str:
    """The text of a number cell with CMS's decorations removed; NULL when the cell says 'none'."""
    text = f"trim({x})"
    if cell.kind == L.MONEY:
        text = f"trim(replace(replace({text}, '$', ''), ',', ''))"
    elif cell.kind == L.PERCENT:
        text = f"trim(replace({text}, '%', ''))"
    return f"CASE WHEN {text} IN ('', '.') THEN NULL ELSE {text} END"


def stage(con, found: Recognized, source_file: str) -> Staged:
    """Fill STAGE (the table's columns) and STAGED_QUARANTINE from the sheet; nothing permanent is touched."""
    layout, sheet = found.layout, found.sheet
    contract = layout.contract
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT * FROM {contract.table} LIMIT 0")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGED_QUARANTINE} AS SELECT * FROM {QUARANTINE} LIMIT 0")
    present = present_cells(found)
    numeric = [cell for cell in present if cell.kind in L.NUMERIC_KINDS]
    unreadable = [
        (
            f"{_number_text(cell, 'r.' + cell.target)} IS NOT NULL AND TRY_CAST({_number_text(cell, 'r.' + cell.target)} AS DOUBLE) IS NULL",
            reasons.UNREADABLE_VALUE.sql(error="CAST", column=cell.source, message=reasons.Sql("'not a number: ' || " + reasons.quoted_value_sql(f"r.{cell.target}"))),
        )
        for cell in numeric
    ]  # fmt: skip
    any_bad = " OR ".join(f"({predicate})" for predicate, _ in unreadable) or "false"
    values = {cell.target: _typed(cell, sheet.form) if cell in present else "NULL" for cell in layout.cells}
    values |= {
        "data_year": str(found.release.data_year),
        "release": sql_literal(found.release.label),
        "source_file": sql_literal(source_file),
        "source_member": sql_literal(sheet.member),
        "file_form": sql_literal(sheet.form),
        "line_number": "r.line_number",
    }
    if "conversion_factor_variant" in contract.column_names:
        values["conversion_factor_variant"] = sql_literal(found.variant)
    target = quarantine_target(found, source_file)
    with raw_file(found) as relation:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_RAW} AS SELECT * FROM {relation}")
        con.execute(
            f"INSERT INTO {STAGE} BY NAME SELECT {', '.join(f'{v} AS {k}' for k, v in values.items())} "
            f"FROM {_RAW} AS r WHERE NOT ({any_bad})"
        )
        if unreadable:
            every = ", ".join(f"CASE WHEN {predicate} THEN {reason} END" for predicate, reason in unreadable)
            insert_rejects(
                con,
                RejectTarget(STAGED_QUARANTINE, target.columns),
                f"{_RAW} AS r WHERE {any_bad}",
                {
                    "line_number": "r.line_number",
                    "reasons": f"concat_ws({sql_literal(reasons.SEPARATOR)}, {every})",
                    "row_data": "to_json(r)::VARCHAR",
                },
            )
        stripped = con.execute(
            f"SELECT count(*) FROM {_RAW} AS r WHERE trim(r.hcpcs_code) <> regexp_replace(trim(r.hcpcs_code), "
            f"'{_NON_PRINTING_TAIL}', '')"
        ).fetchall()[0][0]
        con.execute(f"DROP TABLE {_RAW}")
    if "nonfacility_national_amount" in contract.column_names:
        con.execute(f"UPDATE {STAGE} SET {_national_amounts()}")
    move_failing_rows(con, contract, RejectTarget(STAGED_QUARANTINE, target.columns), relation=STAGE)
    # Rows moved by the contract carry their line in row_data.
    con.execute(
        f"UPDATE {STAGED_QUARANTINE} SET line_number = TRY_CAST(json_extract_string(row_data, '$.line_number') AS BIGINT) "
        "WHERE line_number IS NULL"
    )
    rows, quarantined = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (STAGE, STAGED_QUARANTINE))
    return Staged(rows, quarantined, stripped, digest(con, STAGE, contract))


def _national_amounts() -> str:
    """CMS's national amount: total RVU x conversion factor, rounded to the cent in decimal arithmetic (the
    float product of 137.76 and 32.3465 is not exactly 4456.05384)."""

    def amount(total: str, priced: str) -> str:
        return (
            f"CASE WHEN status_code IN {PAYABLE} AND {priced} AND {total} IS NOT NULL "
            f"THEN round(CAST({total} AS DECIMAL(12, 2)) * CAST(conversion_factor AS DECIMAL(12, 4)), 2)::DOUBLE END"
        )

    return (
        f"nonfacility_national_amount = {amount('nonfacility_total_rvu', 'nonfacility_priced')}, "
        f"facility_national_amount = {amount('facility_total_rvu', 'facility_priced')}"
    )


def digest(con, relation: str, contract, where: str = "true", params=()) -> tuple[int, int]:
    facts = [name for name in contract.column_names if name not in PROVENANCE]
    count, hashed = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash({', '.join(facts)})), 0) FROM {relation} WHERE {where}", list(params)
    ).fetchone()
    return int(count), int(hashed)


def quarantine_target(found: Recognized, source_file: str) -> RejectTarget:
    return RejectTarget(
        QUARANTINE,
        {
            "table_name": sql_literal(found.layout.contract.table),
            "source_file": sql_literal(source_file),
            "layout": sql_literal(found.layout.name),
            "release": sql_literal(found.release.label),
            "data_year": str(found.release.data_year),
        },
    )
