"""Several codes in one document: a primary code and its add-on, each with its own title line and facts."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.corpus import DocumentFile, build_core_rows
from pipeline.core.document_parser import (
    CODE_FACT_FIELDS,
    PARSED,
    PARTIAL,
    from_json_dict,
    parse_text,
    to_json_dict,
)
from pipeline.core.reference_data import load_reference_data
from tests.bad_documents import good
from tests.conftest import REFERENCE, property_examples

SUMMARY = """Summary & Overview
CPT 22551: Arthrodesis, Anterior Interbody, Including Disc Space Preparation, Discectomy; Cervical Below C2
CPT code 22551 reports an anterior cervical discectomy and fusion at one level. Nationally, the code is used across inpatient hospitals and ambulatory surgery centers.
{payer_sentence}
Billing Code Overview
CPT code 22551 describes an open anterior cervical fusion at one interspace.
Service type: Open spinal fusion
Typical site of service: Inpatient hospital
"""
ADD_ON = """Add-on Code
CPT 22552: Arthrodesis, Anterior Interbody; Cervical Below C2, Each Additional Interspace (List Separately in Addition to Code for Primary Procedure)
CPT code 22552 is reported with 22551 for each additional interspace.
Service type: Open spinal fusion, additional level
Typical site of service: Ambulatory surgery center
"""
PAYERS = "Key payers covered in this overview include Medicare, Aetna, and Humana."


def table(rows: list[tuple[str, str]], label: str | None = None) -> str:
    lines = [label] if label else []
    lines += ["| Modifier | Description | When to Use |", "|---|---|---|"]
    lines += [f"| {code} | {name} | {name} applies. |" for code, name in rows]
    return "\n".join(lines) + "\n"


PRIMARY_ROWS = [("00", "No modifier"), ("62", "Two surgeons")]
ADD_ON_ROWS = [("00", "No modifier"), ("80", "Assistant surgeon")]


def modifiers(block) -> list[str]:
    return [m.modifier_code for m in block.modifiers]


def test_primary_and_add_on_each_get_their_facts_and_share_the_summary_payers():
    text = SUMMARY.format(payer_sentence=PAYERS) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS)
    doc = parse_text(text)
    assert doc.status == PARSED, doc.problems
    primary, add_on = doc.codes
    assert (doc.code, doc.service_type, modifiers(doc)) == ("22551", "Open spinal fusion", ["00", "62"])
    assert primary.code == "22551" and primary.service_type == doc.service_type
    assert add_on.code == "22552" and add_on.title.startswith("Arthrodesis, Anterior Interbody; Cervical")
    assert add_on.service_type == "Open spinal fusion, additional level"
    assert add_on.typical_sites == ["Ambulatory surgery center"]
    assert add_on.description == "CPT code 22552 is reported with 22551 for each additional interspace."
    assert modifiers(add_on) == ["00", "80"]
    assert primary.payers == add_on.payers == ["Medicare", "Aetna", "Humana"]
    assert add_on.summary_sites == primary.summary_sites == ["inpatient hospitals", "ambulatory surgery centers"]


def test_a_table_labelled_for_a_code_goes_to_that_code_wherever_it_stands():
    text = (
        SUMMARY.format(payer_sentence=PAYERS)
        + ADD_ON
        + "Coding Specifications\n"
        + table(PRIMARY_ROWS, "Modifiers for CPT 22551")
        + "\n"
        + table(ADD_ON_ROWS, "Modifiers for CPT 22552")
    )
    doc = parse_text(text)
    assert doc.status == PARSED, doc.problems
    assert [modifiers(block) for block in doc.codes] == [["00", "62"], ["00", "80"]]


def test_an_unlabelled_table_goes_to_the_block_it_is_in_and_a_code_without_one_is_reported():
    text = SUMMARY.format(payer_sentence=PAYERS) + ADD_ON + table(ADD_ON_ROWS)
    doc = parse_text(text)
    assert doc.status == PARTIAL
    assert modifiers(doc.codes[0]) == [] and modifiers(doc.codes[1]) == ["00", "80"]
    assert "CPT 22551: no modifier table (a pipe table with a 'Modifier' column)" in doc.problems
    assert not any(p.startswith("CPT 22552") for p in doc.problems)


def test_a_payer_sentence_naming_one_code_is_not_shared_with_the_other():
    named = "For 22551, key payers covered in this overview include Medicare and Aetna."
    text = SUMMARY.format(payer_sentence=named) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS)
    doc = parse_text(text)
    assert doc.codes[0].payers == ["Medicare", "Aetna"]
    assert doc.codes[1].payers == []
    assert "CPT 22552: no 'Key payers covered in this overview include …' sentence" in doc.problems
    # Naming both codes shares it again.
    both = named.replace("For 22551,", "For 22551 and 22552,")
    doc = parse_text(SUMMARY.format(payer_sentence=both) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS))
    assert doc.codes[1].payers == ["Medicare", "Aetna"] and doc.status == PARSED, doc.problems


def test_a_later_code_with_its_own_payer_sentence_keeps_it():
    add_on = ADD_ON + "Key payers covered in this overview include Cigna.\n"
    doc = parse_text(SUMMARY.format(payer_sentence=PAYERS) + table(PRIMARY_ROWS) + "\n" + add_on + table(ADD_ON_ROWS))
    assert doc.codes[0].payers == ["Medicare", "Aetna", "Humana"]
    assert doc.codes[1].payers == ["Cigna"]


def test_codes_survive_the_parse_cache_round_trip():
    text = SUMMARY.format(payer_sentence=PAYERS) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS)
    doc = parse_text(text)
    assert from_json_dict(to_json_dict(doc)) == doc


def test_the_cached_form_writes_the_first_code_once_and_still_reads_the_older_form():
    text = SUMMARY.format(payer_sentence=PAYERS) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS)
    doc = parse_text(text)
    cached = to_json_dict(doc)
    assert (cached["codes_from"], [block["code"] for block in cached["codes"]]) == (1, [doc.codes[1].code])
    every_block = [
        {
            **{name: getattr(c, name) for name in CODE_FACT_FIELDS[:-1]},
            "modifiers": [[m.modifier_code, m.description, m.when_to_use, m.line_number] for m in c.modifiers],
        }
        for c in doc.codes
    ]
    older = {key: value for key, value in cached.items() if key != "codes_from"} | {"codes": every_block}
    assert from_json_dict(older) == doc  # a payload cached before: every block listed, no codes_from


def test_a_single_code_document_has_one_block_equal_to_its_facts():
    doc = parse_text(good("0600T"))
    [block] = doc.codes
    assert (block.code, block.payers, block.modifiers) == (doc.code, doc.payers, doc.modifiers)


@settings(max_examples=property_examples(60), deadline=None)
@given(
    primary=st.lists(st.sampled_from(["00", "22", "51", "59", "62", "80", "RT", "LT"]), min_size=1, unique=True),
    add_on=st.lists(st.sampled_from(["00", "22", "51", "59", "62", "80", "RT", "LT"]), min_size=1, unique=True),
    tables_at_the_end=st.booleans(),
    add_on_table_first=st.booleans(),
)
def test_each_code_gets_exactly_its_own_modifier_rows(primary, add_on, tables_at_the_end, add_on_table_first):
    """Whether each table sits in its code's block or both come, labelled, at the end in either order, no row
    is lost and none goes to the other code."""
    primary_table = table([(c, "Row") for c in primary], "Modifiers for CPT 22551")
    add_on_table = table([(c, "Row") for c in add_on], "Modifiers for CPT 22552")
    head = SUMMARY.format(payer_sentence=PAYERS)
    if tables_at_the_end:
        tables = [add_on_table, primary_table] if add_on_table_first else [primary_table, add_on_table]
        text = head + ADD_ON + "Coding Specifications\n" + "\n".join(tables)
    else:
        text = head + primary_table + "\n" + ADD_ON + add_on_table
    doc = parse_text(text)
    assert [modifiers(block) for block in doc.codes] == [primary, add_on]
    assert doc.status == PARSED, doc.problems


# --- the corpus: each code of a document competes on its own -------------------------------------------------

NOW = datetime(2026, 12, 7, 12, 0, 0)


def _file(document_id: str, text: str, age: timedelta) -> DocumentFile:
    return DocumentFile(document_id, f"/d/{document_id}", "0" * 64, len(text), NOW - age, parse_text(text))


def test_a_document_that_loses_one_code_is_partial_and_keeps_the_other():
    reference = load_reference_data(REFERENCE)
    both = SUMMARY.format(payer_sentence=PAYERS) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS)
    newer_add_on = good("22552")
    rows = build_core_rows(
        [_file("a_both.txt", both, timedelta(days=2)), _file("b_22552.txt", newer_add_on, timedelta(days=1))],
        reference,
        parsed_at=NOW,
    )
    documents = {row["document_id"]: row for row in rows["documents"]}
    assert documents["a_both.txt"]["status"] == PARTIAL and documents["a_both.txt"]["code"] == "22551"
    assert "superseded: code 22552" in documents["a_both.txt"]["problems"]
    assert {row["code"]: row["document_id"] for row in rows["codes"]} == {
        "22551": "a_both.txt",
        "22552": "b_22552.txt",
    }
    assert rows["document_codes"] == [
        {"document_id": "a_both.txt", "code": "22551", "ordinal": 0},
        {"document_id": "b_22552.txt", "code": "22552", "ordinal": 0},
    ]
    modifiers_of = {(r["code"], r["modifier_code"]) for r in rows["code_modifiers"]}
    assert ("22551", "62") in modifiers_of and ("22552", "80") not in modifiers_of


def test_a_document_that_loses_every_code_is_rejected_and_one_that_wins_both_lists_both():
    reference = load_reference_data(REFERENCE)
    both = SUMMARY.format(payer_sentence=PAYERS) + table(PRIMARY_ROWS) + "\n" + ADD_ON + table(ADD_ON_ROWS)
    files = [_file("a_old.txt", both, timedelta(days=3)), _file("b_new.txt", both, timedelta(days=1))]
    rows = build_core_rows(files, reference, parsed_at=NOW)
    documents = {row["document_id"]: row for row in rows["documents"]}
    assert (documents["a_old.txt"]["status"], documents["a_old.txt"]["code"]) == ("rejected", None)
    assert documents["b_new.txt"]["status"] == PARSED
    assert rows["document_codes"] == [
        {"document_id": "b_new.txt", "code": "22551", "ordinal": 0},
        {"document_id": "b_new.txt", "code": "22552", "ordinal": 1},
    ]
    payers = {(r["code"], r["payer_id"]) for r in rows["code_payers"]}
    assert {("22551", "humana"), ("22552", "humana")} <= payers


def test_a_title_line_with_no_facts_of_its_own_is_reported_not_loaded_with_borrowed_ones():
    text = good("0600T") + "Related codes\nCPT 0601T: Ablation, Irreversible Electroporation, Open\n"
    doc = parse_text(text)
    assert [block.code for block in doc.codes] == ["0600T"]
    assert doc.status == PARTIAL
    assert any("CPT 0601T is followed by none of its facts" in problem for problem in doc.problems)
