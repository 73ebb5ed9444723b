"""Documents as users really have them (issue 7): saved pages, hard-wrapped text, any casing, names that
contain "and" or periods, several codes in one file, and no silent loss."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.core.document_parser import PARSED, PARTIAL, parse_document, parse_text
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import load_reference_data
from tests.bad_documents import good
from tests.conftest import REFERENCE


@pytest.fixture(scope="module")
def known():
    return KnownNames.from_reference(load_reference_data(REFERENCE))


def facts(doc):
    return {
        "code": doc.code,
        "title": doc.title,
        "service_type": doc.service_type,
        "typical_sites": doc.typical_sites,
        "summary_sites": doc.summary_sites,
        "payers": doc.payers,
        "modifiers": [(m.modifier_code, m.description, m.when_to_use) for m in doc.modifiers],
        "laterality": doc.laterality,
        "approach": doc.approach,
        "imaging": doc.imaging_guidance_included,
    }


SAVED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>CPT 47382 | Coding Reference</title>
<style>p { color: red }</style><script>var x = "<p>CPT 99999: not a title</p>";</script></head>
<body><header><h1>Coding Reference</h1></header><nav><a href="/">Home</a> | <a href="/cpt">CPT 10000: Index</a></nav>
<main><h2>Summary &amp; Overview</h2>
<h1>CPT 47382: Ablation of a Test Tumor, Percutaneous, Unilateral</h1>
<p>CPT code 47382 covers unilateral percutaneous ablation of a tumor. Nationally, the code is used across
   hospital outpatient departments and ambulatory surgery centers.</p>
<p>Key payers covered in this overview include Aetna, Blue Cross and Blue Shield of Texas, and Medicare.</p>
<h2>Billing Code Overview</h2>
<p>CPT code 47382 describes a unilateral percutaneous ablation. Imaging guidance is included.</p>
<div><strong>Service type:</strong>&nbsp;Percutaneous image-guided tumor ablation</div>
<div><b>Typical site of service:</b> Hospital outpatient department or office</div>
<h3>Coding Specifications</h3>
<table><tr><th>Modifier</th><th>Description</th><th>When to Use</th></tr>
<tr><td><code>00</code></td><td>No modifier</td><td>Routine <em>procedure</em>.</td></tr>
<tr><td><strong>50</strong></td><td>Bilateral &amp; both</td><td>Both sides treated.</td></tr></table>
</main><footer><p>CPT 88888: footer link</p></footer><noscript>Enable JS</noscript></body></html>
"""


def test_saved_web_page_gives_the_same_facts_as_the_text(known):
    page = parse_document(SAVED_PAGE.encode(), known_names=known)
    assert page.status == PARSED, page.problems
    assert page.code == "47382" and page.title == "Ablation of a Test Tumor, Percutaneous, Unilateral"
    assert page.payers == ["Aetna", "Blue Cross and Blue Shield of Texas", "Medicare"]
    assert page.service_type == "Percutaneous image-guided tumor ablation"
    assert page.typical_sites == ["Hospital outpatient department", "office"]
    assert [(m.modifier_code, m.description, m.when_to_use) for m in page.modifiers] == [
        ("00", "No modifier", "Routine procedure."),
        ("50", "Bilateral & both", "Both sides treated."),
    ]
    assert page.imaging_guidance_included is True


def test_saved_page_sections_keep_text_not_markup(known):
    page = parse_document(SAVED_PAGE.encode(), known_names=known)
    text = "\n".join(s.body for s in page.sections)
    assert "<" not in text and "&amp;" not in text
    assert "Bilateral & both" in text
    for dropped in ("Enable JS", "footer link", "Home", "var x"):
        assert dropped not in text


def test_html_is_sniffed_by_content_whatever_the_extension_and_legacy_charset_is_honoured(known):
    page = SAVED_PAGE.replace('charset="utf-8"', 'charset="windows-1252"').replace("Aetna", "Aétna Café")
    doc = parse_document(page.encode("cp1252"), known_names=known)
    assert doc.encoding == "windows-1252"
    assert doc.status == PARSED, doc.problems
    assert doc.payers[0] == "Aétna Café"


def test_html_table_with_thead_tbody_any_column_order_and_no_when_column():
    page = SAVED_PAGE.replace(
        SAVED_PAGE[SAVED_PAGE.index("<table>") : SAVED_PAGE.index("</table>") + 8],
        "<table><thead><tr><th>Description</th><th>Modifier</th></tr></thead>"
        "<tbody><tr><td>No modifier</td><td>00</td></tr><tr><td>Right <i>side</i></td><td>RT</td></tr></tbody></table>",
    )
    doc = parse_document(page.encode())
    assert [(m.modifier_code, m.description, m.when_to_use) for m in doc.modifiers] == [
        ("00", "No modifier", None),
        ("RT", "Right side", None),
    ]
    assert not any("column" in p for p in doc.problems)


@pytest.mark.parametrize("width", [40, 55, 72, 80])
def test_hard_wrapped_text_gives_the_same_facts(width, known):
    text = good("47382").replace(
        "Aetna, Cigna, and Medicare",
        "Aetna, Blue Cross and Blue Shield of Texas, Humana Inc., U.S. Department of Veterans Affairs, Cigna, "
        "and Kaiser Foundation Health Plan, Inc.",
    )
    wrapped = "\n".join(
        line if "|" in line else textwrap.fill(line, width=width, break_long_words=False) for line in text.split("\n")
    )
    assert wrapped != text
    original, rewrapped = parse_text(text, known_names=known), parse_text(wrapped, known_names=known)
    assert rewrapped.status == PARSED, rewrapped.problems
    assert facts(rewrapped) == facts(original)
    assert len(original.payers) == 6


def test_wrapped_lines_are_all_kept_in_sections():
    text = "\n".join(textwrap.fill(line, width=50) if "|" not in line else line for line in good().split("\n"))
    doc = parse_text(text)
    kept = [line for s in doc.sections for line in s.body.split("\n") if line.strip()]
    kept += [s.heading for s in doc.sections if s.heading]
    assert sorted(kept) == sorted(line for line in text.split("\n") if line.strip())


def test_continuation_never_glues_a_heading_or_table_row():
    text = good().replace(
        "Typical site of service: Hospital outpatient department or office",
        "Typical site of service: Hospital outpatient department,",
    )
    doc = parse_text(text)
    assert doc.typical_sites == ["Hospital outpatient department"]
    assert [s.heading for s in doc.sections][-1] == "Coding Specifications"
    assert [m.modifier_code for m in doc.modifiers] == ["00", "50"]


def test_all_caps_crlf_document(known):
    text = good("47382").upper().replace("\n", "\r\n").replace("|---|---|---|", "|---|---|---|")
    doc = parse_document(text.encode(), known_names=known)
    assert doc.status == PARSED, doc.problems
    assert doc.payers == ["AETNA", "CIGNA", "MEDICARE"]
    assert doc.service_type == "PERCUTANEOUS IMAGE-GUIDED TUMOR ABLATION"
    assert [m.modifier_code for m in doc.modifiers] == ["00", "50"]
    assert doc.imaging_guidance_included is True and doc.approach == "percutaneous"


@pytest.mark.parametrize(
    ("sentence", "payers"),
    [
        ("Key payers covered in this overview include: Aetna, Cigna, and Medicare.", ["Aetna", "Cigna", "Medicare"]),
        ("Key payers covered in this overview include: Not available.", []),
        ("KEY PAYERS COVERED IN THIS OVERVIEW INCLUDE AETNA AND CIGNA.", ["AETNA", "CIGNA"]),
        ("Key payers covered in this overview include Aetna, Cigna, etc.", ["Aetna", "Cigna"]),
        ("Key payers covered in this overview include Aetna, Medicare and others.", ["Aetna", "Medicare"]),
    ],
)
def test_payer_sentence_casing_colon_and_fillers(sentence, payers):
    doc = parse_text(
        good().replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.", sentence)
    )
    assert doc.payers == payers
    assert doc.status == PARSED, doc.problems


def test_payer_list_as_bullets_after_a_colon():
    text = good().replace(
        "Key payers covered in this overview include Aetna, Cigna, and Medicare.",
        "Key payers covered in this overview include:\n\n- Aetna\n- Blue Cross and Blue Shield of Texas\n- Medicare\n",
    )
    known = KnownNames(["Blue Cross and Blue Shield of Texas"])
    doc = parse_text(text, known_names=known)
    assert doc.payers == ["Aetna", "Blue Cross and Blue Shield of Texas", "Medicare"]
    assert doc.status == PARSED, doc.problems


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Humana Inc. and Medicare", ["Humana Inc.", "Medicare"]),
        ("the U.S. Department of Veterans Affairs and Aetna", ["the U.S. Department of Veterans Affairs", "Aetna"]),
        (
            "Kaiser Foundation Health Plan, Inc., Aetna and Medicare",
            ["Kaiser Foundation Health Plan, Inc.", "Aetna", "Medicare"],
        ),
        ("Aetna and Humana Inc.", ["Aetna", "Humana Inc."]),
    ],
)
def test_a_period_inside_a_name_does_not_end_the_payer_sentence(written, expected, known):
    doc = parse_text(good().replace("Aetna, Cigna, and Medicare", written), known_names=known)
    assert doc.payers == expected
    assert doc.status == PARSED, doc.problems


def test_a_second_overview_in_one_file_is_a_second_code_never_mixed(known):
    second = good("0601T").replace("Aetna, Cigna, and Medicare", "Humana").replace("| 50 |", "| 59 |")
    doc = parse_text(good("0600T") + "\n" + second, known_names=known)
    assert doc.code == "0600T" and doc.status == PARSED, doc.problems
    assert doc.payers == ["Aetna", "Cigna", "Medicare"]
    assert [m.modifier_code for m in doc.modifiers] == ["00", "50"]
    first, other = doc.codes
    assert first.code == "0600T" and first.payers == doc.payers
    assert other.code == "0601T" and other.payers == ["Humana"]
    assert [m.modifier_code for m in other.modifiers] == ["00", "59"]


def test_extra_table_column_is_ignored_with_a_problem():
    text = good().replace(
        "| Modifier | Description | When to Use |\n|---|---|---|",
        "| Modifier | Description | When to Use | Payer Notes |\n|---|---|---|---|",
    )
    text = text.replace("Routine procedure. |", "Routine procedure. | Aetna only |").replace(
        "Both sides treated. |", "Both sides treated. | - |"
    )
    doc = parse_text(text)
    assert doc.status == PARTIAL
    assert [m.modifier_code for m in doc.modifiers] == ["00", "50"]
    assert any("'Payer Notes' ignored" in p for p in doc.problems)


def test_emphasis_and_backticks_in_cells_are_removed():
    text = good().replace(
        "| 00 | No modifier | Routine procedure. |",
        "| `00` | **No** modifier | Routine, *no* special `circumstances`. |",
    )
    doc = parse_text(text)
    assert (doc.modifiers[0].modifier_code, doc.modifiers[0].description, doc.modifiers[0].when_to_use) == (
        "00",
        "No modifier",
        "Routine, no special circumstances.",
    )


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("CT guidance is included in the code.", True),
        ("Ultrasound guidance, when performed, is bundled.", True),
        ("Fluoroscopic guidance may not be reported separately.", True),
        ("Image guidance is included.", True),
        ("MR guidance is reported separately with 77022.", False),
        ("Imaging guidance is not included.", False),
    ],
)
def test_imaging_guidance_sentences(sentence, expected):
    doc = parse_text(good().replace("Imaging guidance, when used, is included in the code description.", sentence))
    assert doc.imaging_guidance_included is expected


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            (
                "Key payers covered in this overview include Aetna, Cigna, and Medicare.",
                "Key payers covered in this overview include .",
            ),
            "lists no names",
        ),
        (
            (
                "Key payers covered in this overview include Aetna, Cigna, and Medicare.",
                "Key payers covered in this overview include Aetna, Cigna, and",
            ),
            "ends mid-list",
        ),
        (
            (
                "Service type: Percutaneous image-guided tumor ablation",
                "Service type: Percutaneous ablation. The operator then documents the lesion and more",
            ),
            "runs on",
        ),
        (
            (
                "Typical site of service: Hospital outpatient department or office",
                "Typical site of service: Office. Also ASC sometimes",
            ),
            "not read",
        ),
        (
            (
                "Typical site of service: Hospital outpatient department or office",
                "Typical site of service (facility): Office",
            ),
            "unrecognised key",
        ),
        (("Service type: Percutaneous image-guided tumor ablation", "Service type:"), "has no value"),
        (("CPT 47382: Ablation of a Test Tumor, Percutaneous, Unilateral", "CPT 47382:"), "has no title"),
        (
            (
                "| 50 | Bilateral procedure | Both sides treated. |",
                "\n| 50 | Bilateral procedure | Both sides treated. |",
            ),
            "outside a table",
        ),
    ],
)
def test_a_fact_line_not_fully_read_is_a_problem(change, problem):
    doc = parse_text(good().replace(*change))
    assert doc.status == PARTIAL
    assert problem in "; ".join(doc.problems)


def test_key_value_on_the_next_line_is_read():
    doc = parse_text(good().replace("Service type: Percutaneous", "Service type:\nPercutaneous"))
    assert doc.service_type == "Percutaneous image-guided tumor ablation"
    assert doc.status == PARSED, doc.problems


def test_unresolved_payer_is_not_a_problem():
    doc = parse_text(good().replace("Cigna", "Regional Health Plan of Example County"))
    assert doc.status == PARSED and "Regional Health Plan of Example County" in doc.payers


def test_parser_fingerprint_covers_every_module_the_parser_imports():
    import subprocess
    import sys

    from pipeline.core.document_parser import parser_fingerprint, parser_modules

    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipeline.core.document_parser; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('pipeline.core.'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REFERENCE.parent.parent,
    ).stdout.split()
    assert sorted(module.__name__ for module in parser_modules()) == imported
    assert len(parser_fingerprint()) == 16 and parser_fingerprint() == parser_fingerprint()


def test_json_round_trip_of_a_saved_page(known):
    from pipeline.core.document_parser import from_json_dict, to_json_dict

    doc = parse_document(SAVED_PAGE.encode(), known_names=known)
    assert from_json_dict(to_json_dict(doc)) == doc
