"""Every wording a rejected row's ``reasons`` can hold, each defined once.

``core.rejected_rows`` and ``utilization.quarantine`` list a row's reasons separated by ``SEPARATOR``; the blocking
asset checks name their rules with the same words (without the offending value), so a BI filter such as
``reasons LIKE '%duplicate key%'`` finds every duplicate in both tables, and a failed check names what to look for.

A wording is a template: the loaders render it in SQL, per row, with values read from the row (``Sql``); the
checks and the docs render it in Python. ``markdown()`` is the reason list embedded in docs/inputs.md (a test
keeps the two equal).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

SEPARATOR = "; "
VALUE_CHARS = 60  # of an offending value quoted in a reason: enough to recognise it, short enough to scan

REJECTED_ROWS = "core.rejected_rows"
QUARANTINE = "utilization.quarantine"
MEDICARE_QUARANTINE = "medicare.quarantine"
ASSET_CHECKS = "asset checks"


class Sql(str):
    """A SQL expression evaluated per row, as opposed to fixed text known when the statement is built."""


@dataclass(frozen=True)
class Wording:
    kind: str
    template: str
    rule_template: str  # the same words without the offending value: a check's rule, a docs pattern
    appears_in: tuple[str, ...]
    meaning: str
    example: dict

    def text(self, **parts) -> str:
        return self.template.format(**_rendered(parts))

    def rule(self, **parts) -> str:
        return self.rule_template.format(**_rendered(parts))

    def sql(self, **parts) -> str:
        """A VARCHAR expression equal to ``text`` for the row's values; parts given as ``Sql`` are read per row."""
        pieces = []
        for literal, field, _, _ in string.Formatter().parse(self.template):
            if literal:
                pieces.append(sql_text(literal))
            if field is None:
                continue
            part = parts[field]
            if field == "value":
                pieces.append(quoted_value_sql(part) if isinstance(part, Sql) else sql_text(quoted_value(part)))
            elif isinstance(part, Sql):
                pieces.append(f"coalesce(({part})::VARCHAR, '?')")
            else:
                pieces.append(sql_text(_plain(part)))
        return f"concat({', '.join(pieces)})"


MISSING_VALUE = Wording(
    "missing value",
    "{column} is null",
    "{column} is null",
    (REJECTED_ROWS, QUARANTINE, MEDICARE_QUARANTINE, ASSET_CHECKS),
    "a required column is empty",
    {"column": "hcpcs_code"},
)
CHECK_FAILED = Wording(
    "column check failed",
    "{column} {check} (value {value})",
    "{column} {check}",
    (REJECTED_ROWS, QUARANTINE, MEDICARE_QUARANTINE, ASSET_CHECKS),
    "a value fails its column's check (pandera check name: fullmatch, isin, greater_than_or_equal_to, finite …)",
    {"column": "hcpcs_code", "check": "fullmatch", "value": "32X9"},
)
ROW_RULE_BROKEN = Wording(
    "row rule broken",
    "row rule '{rule}'",
    "row rule '{rule}'",
    (REJECTED_ROWS, QUARANTINE, MEDICARE_QUARANTINE, ASSET_CHECKS),
    "the row breaks a rule across its columns (listed per table in [warehouse.md](warehouse.md))",
    {"rule": "code matches code_system"},
)
DUPLICATE_KEY = Wording(
    "duplicate key",
    "duplicate key ({columns})",
    "duplicate key ({columns})",
    (REJECTED_ROWS, QUARANTINE, MEDICARE_QUARANTINE, ASSET_CHECKS),
    "another row has the same key; every copy is rejected, none can be trusted",
    {"columns": ["code", "payer_id"]},
)
UNRESOLVED_REFERENCE = Wording(
    "unresolved reference",
    "{column} {value} is not in {ref_table}.{ref_column}",
    "{column} is not in {ref_table}.{ref_column}",
    (REJECTED_ROWS, QUARANTINE, MEDICARE_QUARANTINE, ASSET_CHECKS),
    "the value is missing from the table it refers to (for utilization.geographies: add it to "
    "sources/reference/geographies.csv)",
    {"column": "payer_id", "value": "aetna", "ref_table": "core.payers", "ref_column": "payer_id"},
)
UNREADABLE_VALUE = Wording(
    "unreadable value",
    "unreadable value: {error} in {column}: {message}",
    "unreadable value: {error} in {column}",
    (QUARANTINE, MEDICARE_QUARANTINE),
    "DuckDB could not read a value of the line (e.g. CAST: not a number); one reason per such value",
    {"error": "CAST", "column": "Tot_Srvcs", "message": "Could not convert string \"lots\" to 'DOUBLE'"},
)
UNREADABLE_LINE = Wording(
    "unreadable line",
    "unreadable line: {detail}",
    "unreadable line: {detail}",
    (QUARANTINE,),
    "the line is not one record of the header's width (an unterminated quote, too many or too few fields)",
    {"detail": "17 fields where the header has 15"},
)
WORDINGS = (
    MISSING_VALUE,
    CHECK_FAILED,
    ROW_RULE_BROKEN,
    DUPLICATE_KEY,
    UNRESOLVED_REFERENCE,
    UNREADABLE_VALUE,
    UNREADABLE_LINE,
)


def missing_value(column: str) -> str:
    return MISSING_VALUE.text(column=column)


def check_failed(column: str, check: str) -> str:
    """The rule's name; rejected rows add the value: ``CHECK_FAILED.sql(..., value=Sql(column))``."""
    return CHECK_FAILED.rule(column=column, check=check)


def row_rule_broken(rule: str) -> str:
    return ROW_RULE_BROKEN.text(rule=rule)


def duplicate_key(columns) -> str:
    return DUPLICATE_KEY.text(columns=list(columns))


def unresolved_reference(column: str, ref_table: str, ref_column: str, value=None) -> str:
    parts = {"column": column, "ref_table": ref_table, "ref_column": ref_column}
    return UNRESOLVED_REFERENCE.rule(**parts) if value is None else UNRESOLVED_REFERENCE.text(value=value, **parts)


def unreadable_line(detail: str) -> str:
    return UNREADABLE_LINE.text(detail=detail)


def quoted_value(value) -> str:
    return "NULL" if value is None else "'" + str(value)[:VALUE_CHARS] + "'"


def quoted_value_sql(expression: str) -> str:
    return f"coalesce('''' || left(({expression})::VARCHAR, {VALUE_CHARS}) || '''', 'NULL')"


def markdown() -> str:
    """The reason list for docs/inputs.md: every wording, where it appears, what it means."""
    lines = [
        BEGIN,
        "",
        "| Reason | Wording | Example | Appears in | Meaning |",
        "|---|---|---|---|---|",
    ]
    for wording in WORDINGS:
        shown, example = pattern(wording.template), wording.text(**wording.example).replace("|", "\\|")
        places = ", ".join(f"`{place}`" if "." in place else place for place in wording.appears_in)
        lines.append(f"| {wording.kind} | `{shown}` | `{example}` | {places} | {wording.meaning} |")
    lines += [
        "",
        "`<…>` is filled in per row; `<value>` is the offending value in single quotes (its first "
        f"{VALUE_CHARS} characters), `<columns>` the key's columns. A row failing several rules lists every reason, "
        f"separated by `{SEPARATOR}`. The blocking asset checks name their rules with the same words without the "
        f"value (`{pattern(CHECK_FAILED.rule_template)}`, `{pattern(UNRESOLVED_REFERENCE.rule_template)}`), so "
        "`reasons LIKE '%duplicate key%'` or `reasons LIKE '%is not in core.payers.payer_id%'` finds the rows a "
        "failed check is about, in either table.",
        "",
        END,
    ]
    return "\n".join(lines)


BEGIN = "<!-- reasons:begin (generated from pipeline/validation/reasons.py; do not edit) -->"
END = "<!-- reasons:end -->"


def pattern(template: str) -> str:
    return "".join(
        literal + ("" if field is None else f"<{field}>") for literal, field, _, _ in string.Formatter().parse(template)
    )


def _rendered(parts: dict) -> dict:
    return {name: quoted_value(part) if name == "value" else _plain(part) for name, part in parts.items()}


def _plain(part) -> str:
    return ", ".join(part) if isinstance(part, list | tuple) else str(part)


def sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
