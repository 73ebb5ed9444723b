"""Where each modifier's description in ``core.modifiers`` comes from: the HCPCS Level II file's official text
where that file has the modifier (its newest release in ``medicare.hcpcs_level2``), else the project's reference
list (sources/reference/modifiers.csv), else the document that uses it. ``description_source`` says which.

The HCPCS file lists Level II modifiers only (XE, XS, RT, AS, GA, JW …); CPT modifiers (25, 59, 50 …) keep the
reference text. The rows are set before core.modifiers is written, so a run that changes nothing leaves the
table as it was (its change-log fingerprint), and a new HCPCS release changes it only where a text differs.
"""

from __future__ import annotations

from pipeline.contracts.coding_edit_tables import HCPCS_LEVEL2_CONTRACT
from pipeline.warehouse.tables import table_exists

HCPCS_LEVEL2 = HCPCS_LEVEL2_CONTRACT.table
FROM_HCPCS_LEVEL2 = "hcpcs_level2"
FROM_REFERENCE = "reference"
FROM_DOCUMENT = "document"
DESCRIPTION_SOURCES = (FROM_HCPCS_LEVEL2, FROM_REFERENCE, FROM_DOCUMENT)


def official_modifier_descriptions(con) -> dict[str, str]:
    """modifier -> the long description of the newest HCPCS Level II release holding modifiers (none loaded: {})."""
    if not table_exists(con, HCPCS_LEVEL2):
        return {}
    rows = con.execute(
        f"SELECT hcpcs_code, coalesce(long_description, short_description) FROM {HCPCS_LEVEL2} "
        "WHERE record_kind = 'modifier' AND coalesce(long_description, short_description) IS NOT NULL "
        f"AND release = (SELECT max(release) FROM {HCPCS_LEVEL2} WHERE record_kind = 'modifier')"
    ).fetchall()
    return dict(rows)


def describe_modifiers(modifier_rows: list[dict], official: dict[str, str]) -> None:
    """Set ``description`` and ``description_source`` of the core.modifiers rows (in place)."""
    for row in modifier_rows:
        text = official.get(row["modifier_code"])
        if text is not None:
            row["description"], row["description_source"] = text, FROM_HCPCS_LEVEL2
        elif row["in_reference"]:
            row["description_source"] = FROM_REFERENCE
        else:
            row["description_source"] = FROM_DOCUMENT if row["description"] else None
