"""One recognized sheet into a staging table, typed and validated in DuckDB.

Python only cuts records into cells (``sheets.py``: the csv reader, fixed-width slices, xlsx cells); DuckDB types
every cell from its ``Cell`` kind in one ``INSERT … SELECT``: money ``"$3,307.24 "`` -> 3307.24, ``.`` -> NULL,
``20%`` -> 20, ``NA`` -> not priced. A line with a number cell that is not a number goes to quarantine with its line
and the reason; then the contract moves the rows that break a rule or the key (``reject_rows.move_failing_rows``).
The staged rows replace the slot's rows only when the folder reader decides the file wins (``folder.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.contracts.medicare_tables import QUARANTINE_CONTRACT
from pipeline.contracts.table_contract import sql_literal
from pipeline.medicare_policy import layouts as L
from pipeline.medicare_policy.layouts import Recognized
from pipeline.validation import reasons
from pipeline.validation.reject_rows import RejectTarget, insert_rejects, move_failing_rows
from pipeline.warehouse.tables import registered

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


def raw_frame(found: Recognized) -> pd.DataFrame:
    """line_number and one text column per target, cut from the sheet's data records."""
    sheet, positions = found.sheet, found.positions
    records = sheet.records[found.data_start :]
    columns: dict[str, list] = {"line_number": [number for number, _ in records]}
    for cell in found.layout.cells:
        where = positions.get(cell.target)
        if where is None:
            columns[cell.target] = [None] * len(records)
        elif isinstance(where, tuple):
            start, end = where
            columns[cell.target] = [cells[0][start:end] for _, cells in records]
        else:
            columns[cell.target] = [cells[where] if where < len(cells) else None for _, cells in records]
    frame = pd.DataFrame(columns)
    for cell in found.layout.cells:
        frame[cell.target] = frame[cell.target].astype("string")
    return frame


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
    numeric = [cell for cell in layout.cells if cell.kind in L.NUMERIC_KINDS]
    unreadable = [
        (
            f"{_number_text(cell, 'r.' + cell.target)} IS NOT NULL AND TRY_CAST({_number_text(cell, 'r.' + cell.target)} AS DOUBLE) IS NULL",
            reasons.UNREADABLE_VALUE.sql(error="CAST", column=cell.source, message=reasons.Sql("'not a number: ' || " + reasons.quoted_value_sql(f"r.{cell.target}"))),
        )
        for cell in numeric
    ]  # fmt: skip
    any_bad = " OR ".join(f"({predicate})" for predicate, _ in unreadable) or "false"
    values = {cell.target: _typed(cell, sheet.form) for cell in layout.cells}
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
    frame = raw_frame(found)
    target = quarantine_target(found, source_file)
    with registered(con, _RAW, frame):
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
