"""Every cross-column row rule pinned by rows that keep it and rows that break it.

The rules are SQL predicates shared by pandera and the warehouse checks; comparing the two only proves
they agree. These truth tables prove each rule says what its description says: weakening one (dropping
a condition, swapping a comparison) turns one of these rows to the wrong side.
"""

from __future__ import annotations

import duckdb
import pytest

from pipeline.contracts import ALL_CONTRACTS

# (table, rule) -> [(SQL literals per column, valid?)]
CASES: dict[tuple[str, str], list[tuple[dict[str, str], bool]]] = {
    ("core.documents", "status matches problems"): [
        ({"status": "'parsed'", "problems": "''"}, True),
        ({"status": "'partial'", "problems": "'no payers'"}, True),
        ({"status": "'parsed'", "problems": "'no payers'"}, False),
        ({"status": "'partial'", "problems": "''"}, False),
        ({"status": "'rejected'", "problems": "''"}, False),
    ],
    ("core.documents", "problem_count matches"): [
        ({"problem_count": "0", "problems_list": "[]::VARCHAR[]"}, True),
        ({"problem_count": "2", "problems_list": "['a', 'b']"}, True),
        ({"problem_count": "1", "problems_list": "['a', 'b']"}, False),
        ({"problem_count": "1", "problems_list": "[]::VARCHAR[]"}, False),
    ],
    ("core.documents", "code only when loaded"): [
        ({"status": "'parsed'", "code": "'32994'"}, True),
        ({"status": "'partial'", "code": "'32994'"}, True),
        ({"status": "'rejected'", "code": "NULL::VARCHAR"}, True),
        ({"status": "'skipped'", "code": "NULL::VARCHAR"}, True),
        ({"status": "'parsed'", "code": "NULL::VARCHAR"}, False),
        ({"status": "'partial'", "code": "NULL::VARCHAR"}, False),
        ({"status": "'rejected'", "code": "'32994'"}, False),
        ({"status": "'skipped'", "code": "'32994'"}, False),
    ],
    ("core.documents", "sha256 when read"): [
        ({"status": "'parsed'", "sha256": "'ab'"}, True),
        ({"status": "'skipped'", "sha256": "NULL::VARCHAR"}, True),
        ({"status": "'rejected'", "sha256": "NULL::VARCHAR"}, True),
        ({"status": "'parsed'", "sha256": "NULL::VARCHAR"}, False),
        ({"status": "'partial'", "sha256": "NULL::VARCHAR"}, False),
    ],
    ("core.codes", "code matches code_system"): [
        ({"code_system": "'CPT'", "code": "'32994'"}, True),
        ({"code_system": "'CPT'", "code": "'0042T'"}, True),
        ({"code_system": "'HCPCS'", "code": "'C9751'"}, True),
        ({"code_system": "'CPT'", "code": "'C9751'"}, False),
        ({"code_system": "'HCPCS'", "code": "'32994'"}, False),
        ({"code_system": "'HCPCS'", "code": "'A123'"}, False),
        ({"code_system": "'ICD'", "code": "'32994'"}, False),
    ],
    ("core.care_sites", "resolved site has a setting"): [
        ({"is_resolved": "true", "cms_facility_setting": "'F'", "pos_codes": "['22']"}, True),
        ({"is_resolved": "false", "cms_facility_setting": "NULL::VARCHAR", "pos_codes": "[]::VARCHAR[]"}, True),
        ({"is_resolved": "true", "cms_facility_setting": "NULL::VARCHAR", "pos_codes": "['22']"}, False),
        ({"is_resolved": "true", "cms_facility_setting": "'F'", "pos_codes": "[]::VARCHAR[]"}, False),
    ],
    ("utilization.physician_geo_service", "geo_code matches geo_level"): [
        ({"geo_level": "'National'", "geo_code": "NULL::VARCHAR", "geo_type": "'national'"}, True),
        ({"geo_level": "'State'", "geo_code": "'06'", "geo_type": "'state'"}, True),
        ({"geo_level": "'State'", "geo_code": "NULL::VARCHAR", "geo_type": "'unknown'"}, True),
        ({"geo_level": "'National'", "geo_code": "'06'", "geo_type": "'national'"}, False),
        ({"geo_level": "'National'", "geo_code": "NULL::VARCHAR", "geo_type": "'state'"}, False),
        ({"geo_level": "'State'", "geo_code": "NULL::VARCHAR", "geo_type": "'state'"}, False),
        ({"geo_level": "'State'", "geo_code": "'06'", "geo_type": "'national'"}, False),
    ],
    ("medicare.ncci_ptp", "deletion not before effective"): [
        ({"effective_date": "DATE '2026-01-01'", "deletion_date": "NULL::DATE"}, True),
        ({"effective_date": "DATE '2026-01-01'", "deletion_date": "DATE '2026-07-01'"}, True),
        # Deleted retroactively (modifier indicator 9): CMS writes the deletion date equal to the effective date.
        ({"effective_date": "DATE '2026-01-01'", "deletion_date": "DATE '2026-01-01'"}, True),
        ({"effective_date": "DATE '2026-01-01'", "deletion_date": "DATE '2025-12-31'"}, False),
    ],
}

RULES = {(c.table, rule.name): rule.sql for c in ALL_CONTRACTS for rule in c.row_rules}


def test_every_row_rule_has_a_truth_table():
    assert set(RULES) == set(CASES), "a new or renamed row rule needs rows that keep and break it here"


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}:{k[1]}")
def test_row_rule_keeps_and_breaks_exactly_these_rows(key):
    con = duckdb.connect()
    try:
        outcomes = []
        for values, _valid in CASES[key]:
            select = ", ".join(f"{literal} AS {column}" for column, literal in values.items())
            [(kept,)] = con.execute(f"SELECT coalesce({RULES[key]}, false) FROM (SELECT {select})").fetchall()
            outcomes.append(kept)
    finally:
        con.close()
    assert outcomes == [valid for _, valid in CASES[key]]
    assert True in outcomes and False in outcomes
