"""Table and list shapes real pages and exports use (issue 18, point 2) and what must never be silent (point 6)."""

from __future__ import annotations

from pipeline.core.document_parser import parse_document, parse_text
from pipeline.core.text_tables import normalize_text_tables

HEAD = """CPT 32994: Ablation of a Test Tumor
Key payers covered in this overview include Aetna, Cigna, and Medicare.
Service type: Percutaneous tumor ablation
Typical site of service: Office
Coding Specifications
"""
ROWS = [("00", "Routine procedure with no special circumstances."), ("59", "Separate lesion at a different site.")]


def _uses(doc):
    return [(m.modifier_code, m.when_to_use) for m in doc.modifiers]


def test_a_tab_separated_block_with_an_extra_column_and_ragged_trailing_cells_is_a_table():
    text = HEAD + (
        "Modifier\tDescription\tWhen to Use\tInternal notes\n"
        "00\tNo modifier\tRoutine procedure with no special circumstances.\t\t\t\n"  # padded past the header
        "59\tDistinct procedural service\tSeparate lesion at a different site.\n"  # trailing cell left out
    )
    doc = parse_text(text)
    assert _uses(doc) == ROWS
    assert doc.problems == [
        "line 6: modifier table column(s) 'Internal notes' ignored (not a modifier, description or when-to-use "
        "column); their text is kept in the document sections"
    ]


def test_tab_aligned_key_lines_are_not_a_table():
    text = "CPT 32994: T\nService type:\tPercutaneous ablation\nTypical site of service:\tOffice\n"
    assert normalize_text_tables(text) == text
    doc = parse_text(text)
    assert (doc.service_type, doc.typical_sites) == ("Percutaneous ablation", ["Office"])


def test_a_box_drawn_table_joins_cells_wrapped_onto_continuation_lines():
    text = HEAD + (
        "+----------+---------------------+------------------------------+\n"
        "| Modifier | Description         | When to                      |\n"
        "|          |                     | Use                          |\n"
        "+==========+=====================+==============================+\n"
        "| 00       | No modifier         | Routine procedure with no    |\n"
        "|          |                     | special circumstances.       |\n"
        "+----------+---------------------+------------------------------+\n"
        "| 59       | Distinct procedural | Separate lesion at a         |\n"
        "|          | service             | different site.              |\n"
        "+----------+---------------------+------------------------------+\n"
    )
    doc = parse_text(text)
    assert _uses(doc) == ROWS and doc.status == "parsed", doc.problems
    assert doc.modifiers[1].description == "Distinct procedural service"
    assert [m.line_number for m in doc.modifiers] == [10, 13]  # the row's first line


def test_a_unicode_box_drawn_table_is_read():
    text = HEAD + (
        "┌──────────┬─────────────┬────────────────────────────────────────────────┐\n"
        "│ Modifier │ Description │ When to Use                                    │\n"
        "├──────────┼─────────────┼────────────────────────────────────────────────┤\n"
        "│ 00       │ No modifier │ Routine procedure with no special              │\n"
        "│          │             │ circumstances.                                 │\n"
        "│ 59       │ Distinct    │ Separate lesion at a different site.           │\n"
        "└──────────┴─────────────┴────────────────────────────────────────────────┘\n"
    )
    doc = parse_text(text)
    assert _uses(doc) == ROWS and doc.status == "parsed", doc.problems


def test_a_fixed_width_table_is_cut_at_its_underline_columns():
    text = HEAD + (
        "\n"
        "Modifier  Description              When to Use\n"
        "--------  -----------------------  ------------------------------------\n"
        "00        No modifier              Routine procedure with no special\n"
        "                                   circumstances.\n"
        "59        Distinct procedural      Separate lesion at a different\n"
        "          service                  site.\n"
    )
    doc = parse_text(text)
    assert _uses(doc) == ROWS and doc.status == "parsed", doc.problems
    assert doc.modifiers[1].description == "Distinct procedural service"


def test_a_fixed_width_row_is_not_cut_inside_a_word_that_runs_over_a_column():
    text = "Modifier  Description  When\n--------  -----------  ----\n59        Distinctive-service Use it.\n"
    assert normalize_text_tables(text).split("\n")[2] == "| 59 | Distinctive-service | Use it. |"


def test_payers_given_as_a_table_are_read_and_its_notes_column_is_named():
    text = HEAD.replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.\n", "") + (
        "| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | No modifier | Routine. |\n\n"
        "Payers\n\n"
        "| Payer | Coverage notes |\n"
        "|---|---|\n"
        "| Aetna | Prior authorization required. |\n"
        "| [UnitedHealthcare](https://www.uhc.com) | Covered as outpatient. |\n"
        "| Not available | |\n"
    )
    doc = parse_text(text)
    assert doc.payers == ["Aetna", "UnitedHealthcare"]
    assert [p for p in doc.problems if "payer" in p] == [
        "line 11: payer table column(s) 'Coverage notes' ignored (only the payer names are read); their text is "
        "kept in the document sections"
    ]


def test_payers_listed_under_a_payers_heading_or_key_join_the_sentence_in_document_order():
    text = HEAD.replace("Coding Specifications\n", "") + (
        "Key Payers\n- Humana\n- Aetna\n- Kaiser Permanente\n"
        "Coding Specifications\n| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    )
    doc = parse_text(text)
    assert doc.payers == ["Aetna", "Cigna", "Medicare", "Humana", "Kaiser Permanente"]
    assert doc.status == "parsed", doc.problems
    only_list = text.replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.\n", "")
    assert parse_text(only_list).payers == ["Humana", "Aetna", "Kaiser Permanente"]
    assert parse_text(only_list).status == "parsed"
    as_key = only_list.replace("Key Payers\n", "Key payers:\n")
    assert parse_text(as_key).payers == ["Humana", "Aetna", "Kaiser Permanente"]


def test_a_markdown_link_in_the_payer_sentence_is_read_as_its_text():
    text = (
        HEAD.replace(
            "include Aetna, Cigna, and Medicare.",
            'include [Aetna](https://www.aetna.com/), [Cigna](<https://www.cigna.com/a b>), and [Medicare](https://www.medicare.gov "CMS").',
        )
        + "| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    )
    doc = parse_text(text)
    assert doc.payers == ["Aetna", "Cigna", "Medicare"] and doc.status == "parsed", doc.problems


def test_a_payer_sentence_that_is_not_read_is_a_problem():
    text = HEAD.replace("Key payers covered in this overview include", "Key payers include") + (
        "| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    )
    doc = parse_text(text)
    assert doc.payers == [] and doc.status == "partial"
    assert any("looks like a payer sentence" in p and "Key payers include Aetna" in p for p in doc.problems)


def test_a_hard_wrapped_payer_sentence_over_4000_characters_keeps_its_payers():
    names = [f"Regional Health Plan Number {i}" for i in range(200)]
    sentence = "Key payers covered in this overview include " + ", ".join(names[:-1]) + ", and " + names[-1] + "."
    words, lines, line = sentence.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > 76:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    assert len(sentence) > 4000
    text = HEAD.replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.\n", "")
    doc = parse_text(
        text
        + "\n".join(lines)
        + "\n| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    )
    assert doc.payers == names and doc.status == "parsed", doc.problems


PAGE = """<!DOCTYPE html><html><body><h1>CPT 32994: Ablation of a Test Tumor</h1>
<p>Key payers covered in this overview include Aetna, Cigna, and Medicare.</p>
<dl><dt>Service type</dt><dd>Percutaneous tumor ablation</dd><dt>Typical site of service</dt><dd>Office</dd></dl>
<h2>Coding Specifications</h2>
{table}
</body></html>"""


def test_an_aria_grid_of_divs_is_a_table():
    grid = (
        '<div role="table"><div role="rowgroup"><div role="row"><div role="columnheader">Modifier</div>'
        '<div role="columnheader">Description</div><div role="columnheader">When to Use</div></div></div>'
        '<div role="rowgroup"><div role="row"><div role="cell"><code>00</code></div><div role="cell">No modifier</div>'
        '<div role="cell"><p>Routine procedure with <em>no</em> special circumstances.</p></div></div>'
        '<div role="row"><span role="cell">59</span><span role="cell">Distinct</span>'
        '<span role="cell">Separate lesion at a different site.</span></div></div></div>'
    )
    doc = parse_document(PAGE.format(table=grid).encode())
    assert _uses(doc) == ROWS and doc.status == "parsed", doc.problems
    assert (doc.service_type, doc.typical_sites) == ("Percutaneous tumor ablation", ["Office"])


def test_a_definition_list_of_modifiers_is_a_table():
    definitions = (
        "<dl><dt><code>00</code> &ndash; No modifier</dt><dd>Routine procedure with no special circumstances.</dd>"
        "<dt>Modifier 59 (Distinct procedural service)</dt><dd>Separate lesion at a <b>different</b> site.</dd></dl>"
    )
    doc = parse_document(PAGE.format(table=definitions).encode())
    assert _uses(doc) == ROWS and doc.status == "parsed", doc.problems
    assert [m.description for m in doc.modifiers] == ["No modifier", "Distinct procedural service"]


def test_a_definition_list_of_other_terms_is_left_as_lines():
    page = PAGE.format(table="<dl><dt>No modifier</dt><dd>Routine.</dd></dl>")
    doc = parse_document(page.encode())
    assert doc.modifiers == [] and any("no modifier table" in p for p in doc.problems)


def test_a_text_file_saved_as_a_web_page_keeps_its_lines_and_reads_as_text():
    text = HEAD + (
        "Modifier  Description              When to Use\n"
        "--------  -----------------------  ------------------------------------\n"
        "00        No modifier              Routine procedure with no special\n"
        "                                   circumstances.\n"
        "59        Distinct                 Separate lesion at a different site.\n"
    )
    text = text.replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.\n", "")
    text = text.replace(
        "Coding Specifications\n", "Key Payers\n- Aetna\n- Cigna\n- Medicare\n\nCoding Specifications\n"
    )
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    page = f'<html><head><meta name="color-scheme" content="light dark"></head><body><pre style="word-wrap: break-word; white-space: pre-wrap;">{escaped}</pre></body></html>'
    doc = parse_document(page.encode())
    assert _uses(doc) == ROWS and doc.status == "parsed", doc.problems
    assert doc.payers == ["Aetna", "Cigna", "Medicare"] and doc.title == "Ablation of a Test Tumor"


def test_utf16_with_a_byte_order_mark_is_parsed_without_a_problem():
    text = HEAD + "| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    for encoding in ("utf-16", "utf-32", "utf-16-le"):
        doc = parse_document(text.encode(encoding))
        assert doc.status == "parsed" and doc.problems == [], (encoding, doc.problems)


def test_bullets_under_a_heading_that_only_mentions_payers_are_not_payers():
    text = HEAD.replace("Coding Specifications\n", "") + (
        "Payer Coverage Considerations\n- Prior authorization is often required\n"
        "Coding Specifications\n| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    )
    assert parse_text(text).payers == ["Aetna", "Cigna", "Medicare"]
    assert parse_text(text.replace("Payer Coverage Considerations", "Payers Covered in This Overview")).payers == [
        "Aetna",
        "Cigna",
        "Medicare",
        "Prior authorization is often required",
    ]


def test_tab_aligned_keys_without_colons_are_not_a_payer_table():
    text = HEAD.replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.\n", "") + (
        "| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n\n"
        "Payers\tAetna, Cigna\nSites\tOffice\n"
    )
    doc = parse_text(text)
    assert doc.payers == [] and "no 'Key payers covered in this overview include …' sentence" in doc.problems
    tab_table = text.replace("Payers\tAetna, Cigna\nSites\tOffice\n", "Payer\tNotes\nAetna\tCovered\nCigna\t\n")
    assert parse_text(tab_table).payers == ["Aetna", "Cigna"]


def test_an_address_written_after_a_payer_name_is_not_part_of_it():
    text = (
        HEAD.replace(
            "include Aetna, Cigna, and Medicare.",
            "include Aetna (https://www.aetna.com/), Cigna <https://www.cigna.com>, and Medicare (<https://www.medicare.gov>).",
        )
        + "| Modifier | Description | When to Use |\n|---|---|---|\n| 00 | None | Routine. |\n"
    )
    doc = parse_text(text)
    assert doc.payers == ["Aetna", "Cigna", "Medicare"] and doc.status == "parsed", doc.problems
