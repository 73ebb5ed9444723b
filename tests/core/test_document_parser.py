"""Parser tests on strings: each rule of the document format, and each way a document can be wrong."""

from __future__ import annotations

import pytest

from pipeline.core.document_parser import (
    PARSED,
    PARTIAL,
    REJECTED,
    from_json_dict,
    imaging_guidance_included,
    is_heading,
    normalize_value,
    parse_document,
    parse_text,
    split_list,
    split_table_row,
    to_json_dict,
)
from tests.bad_documents import good
from tests.conftest import SEED


def test_seed_document_is_fully_understood():
    doc = parse_document((SEED / "000_39b65fcce32c74e2.txt").read_bytes())
    assert doc.status == PARSED, doc.problems
    assert (doc.code_system, doc.code) == ("CPT", "32994")
    assert doc.title == "Percutaneous Cryoablation of Lung, Pleura, or Chest Wall Tumor"
    assert doc.service_type == "Percutaneous image-guided tumor ablation"
    assert doc.payers == ["Aetna", "Blue Cross Blue Shield", "Cigna Health", "UnitedHealthcare", "Medicare"]
    assert doc.typical_sites[:2] == ["Hospital outpatient department", "ambulatory surgery center"]
    assert doc.summary_sites == [
        "hospital outpatient departments",
        "ambulatory surgery centers",
        "interventional radiology suites",
    ]
    assert (doc.laterality, doc.approach, doc.imaging_guidance_included) == ("unilateral", "percutaneous", True)
    assert [(m.modifier_code, m.description) for m in doc.modifiers] == [("00", "No modifier — standard reporting")]
    assert doc.description.startswith("CPT code 32994 describes a unilateral percutaneous cryoablation")
    assert [s.heading for s in doc.sections] == [
        "Summary & Overview",
        "Billing Code Overview",
        "Clinical & Coding Specifications",
        "Clinical Context",
        "Coding Specifications",
    ]


def test_every_non_blank_line_lands_in_exactly_one_section():
    text = "preamble line\n\n" + good("32994") + "Documentation Requirements\nKeep the images.\n"
    doc = parse_text(text)
    non_blank = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [s.heading for s in doc.sections if s.heading] + [
        line.strip() for s in doc.sections for line in s.body.splitlines()
    ]
    assert sorted(kept) == sorted(non_blank)
    assert doc.sections[0].heading is None and doc.sections[0].body == "preamble line"
    assert doc.sections[-1].heading == "Documentation Requirements"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Summary & Overview", "Summary & Overview"),
        ("## Billing Code Overview", "Billing Code Overview"),
        ("### Clinical Context ###", "Clinical Context"),
        ("Documentation Requirements", "Documentation Requirements"),
        ("Service type: Percutaneous", None),
        ("The patient was treated.", None),
        ("| Modifier | Description |", None),
        ("Not available", None),
        ("A patient with a small tumor", None),
    ],
)
def test_heading_detection(line, expected):
    assert is_heading(line) == expected


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("Aetna, Cigna, and Medicare", ["Aetna", "Cigna", "Medicare"]),
        ("Aetna, Cigna and Medicare", ["Aetna", "Cigna", "Medicare"]),
        ("Aetna and Medicare", ["Aetna", "Medicare"]),
        ("hospital outpatient department; office; or ASC", ["hospital outpatient department", "office", "ASC"]),
        ("Hospital outpatient department or office", ["Hospital outpatient department", "office"]),
        ("Medicare", ["Medicare"]),
        ("Not available", []),
        ("", []),
    ],
)
def test_split_list(text, items):
    assert split_list(text) == items


@pytest.mark.parametrize(
    "row",
    [
        "| 00 | No modifier | Routine |",
        "00 | No modifier | Routine",
        "| 00 | No modifier | Routine",
        "00|No modifier|Routine|",
    ],
)
def test_table_rows_with_or_without_outer_pipes(row):
    assert split_table_row(row) == ["00", "No modifier", "Routine"]


def test_not_available_becomes_null_never_the_words():
    doc = parse_text(
        good("32994").replace("Service type: Percutaneous image-guided tumor ablation", "Service type: Not available")
    )
    assert doc.service_type is None
    assert normalize_value(" not available. ") is None
    assert doc.status == PARSED


def test_crlf_and_bom_are_handled():
    data = b"\xef\xbb\xbf" + good("32994").replace("\n", "\r\n").encode()
    doc = parse_document(data)
    assert doc.status == PARSED and doc.code == "32994"
    assert all("\r" not in s.body for s in doc.sections)


def test_hcpcs_title_line():
    doc = parse_text(good("C9751").replace("CPT C9751:", "HCPCS C9751:"))
    assert (doc.code_system, doc.code, doc.status) == ("HCPCS", "C9751", PARSED)


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        ("CPT 3299: Too short", "not a valid CPT code"),
        ("CPT J1234: HCPCS written as CPT", "not a valid CPT code"),
        ("HCPCS 32994: CPT written as HCPCS", "not a valid HCPCS code"),
    ],
)
def test_invalid_codes_reject_the_document(title, reason):
    doc = parse_text(good("32994").replace("CPT 32994: Ablation of a Test Tumor, Percutaneous, Unilateral", title))
    assert doc.status == REJECTED
    assert any(reason in p for p in doc.problems)
    assert doc.code is None and doc.payers == [] and doc.modifiers == []


def test_document_without_title_is_rejected_but_keeps_its_text():
    doc = parse_text("Summary & Overview\nSome prose about a code.\n")
    assert doc.status == REJECTED
    assert "no title line" in doc.problems[0]
    assert doc.sections[0].body == "Some prose about a code."


def test_ragged_row_is_reported_and_other_rows_kept():
    doc = parse_text(good("32994").replace("| 50 | Bilateral procedure | Both sides treated. |", "| 50 | Bilateral |"))
    assert doc.status == PARTIAL
    assert [m.modifier_code for m in doc.modifiers] == ["00"]
    assert any("row has 2 cells, expected 3" in p for p in doc.problems)


def test_missing_parts_are_listed():
    doc = parse_text("CPT 0581T: Ablation, breast, cryotherapy\n")
    assert doc.status == PARTIAL
    joined = " | ".join(doc.problems)
    for expected in ("Service type", "Typical site of service", "Key payers", "no modifier table"):
        assert expected in joined


def test_truncated_mid_sentence():
    doc = parse_text(good("32994") + "Documentation Requirements\nThe operative note must state the")
    assert doc.status == PARTIAL
    assert any("ends mid-sentence" in p for p in doc.problems)


def test_empty_heading_at_end_means_truncated():
    doc = parse_text(good("32994") + "Documentation Requirements\n")
    assert any("has no content" in p for p in doc.problems)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Imaging guidance, when used, is included in the code description.", True),
        ("Imaging guidance is included and is not reported separately.", True),
        ("Imaging guidance is reported separately.", False),
        ("Imaging guidance is not included.", False),
        ("No imaging is mentioned here.", None),
    ],
)
def test_imaging_guidance(sentence, expected):
    assert imaging_guidance_included(sentence) is expected


def test_laterality_and_approach_from_prose():
    doc = parse_text(
        good("50592")
        .replace("unilateral percutaneous", "bilateral laparoscopic")
        .replace("Percutaneous, Unilateral", "Laparoscopic")
    )
    assert (doc.laterality, doc.approach) == ("bilateral", "laparoscopic")


def test_open_approach_needs_context_in_prose():
    text = (
        good("50592")
        .replace("Percutaneous, Unilateral", "Unilateral")
        .replace("percutaneous", "open to interpretation")
    )
    assert parse_text(text).approach is None
    assert (
        parse_text(text.replace("Ablation of a Test Tumor, Unilateral", "Ablation, Open, Unilateral")).approach
        == "open"
    )


def test_markdown_bold_and_headings():
    text = "# Summary & Overview\n**CPT 32994: Title here**\n" + good("32994").split("\n", 2)[2]
    doc = parse_text(text)
    assert doc.code == "32994" and doc.title == "Title here"


def test_json_round_trip_for_the_parse_cache():
    doc = parse_document((SEED / "000_39b65fcce32c74e2.txt").read_bytes())
    assert from_json_dict(to_json_dict(doc)) == doc


def test_table_broken_by_a_blank_line_reports_the_orphan_rows():
    text = good("32994").replace("| 50 | Bilateral procedure |", "\n| 50 | Bilateral procedure |")
    doc = parse_text(text)
    assert [m.modifier_code for m in doc.modifiers] == ["00"]
    assert doc.status == PARTIAL
    assert any("modifier row outside a table" in p for p in doc.problems)


def test_prose_with_a_pipe_is_not_a_table_problem():
    doc = parse_text(good("32994") + "Documentation Requirements\nUse the Coding | Billing portal for appeals.\n")
    assert doc.status == PARSED, doc.problems


def test_characters_that_change_length_when_lower_cased_do_not_shift_extraction():
    text = good("32994").replace("Summary & Overview\n", "Summary & Overview\nİİİ Ṗremble with dotted capitals.\n")
    doc = parse_text(text)
    assert doc.payers == ["Aetna", "Cigna", "Medicare"]
    assert doc.summary_sites == ["hospital outpatient departments", "ambulatory surgery centers"]
    assert doc.imaging_guidance_included is True


def test_a_table_row_wrapped_without_its_closing_pipe_is_reported_not_lost_quietly():
    row = "| 50 | Bilateral procedure | Both sides treated. |"
    doc = parse_text(
        good("32994").replace(row, "| 50 | Bilateral procedure | Both sides treated when the\npayer allows it.")
    )
    assert doc.status == PARTIAL
    assert any("row's continuation" in p and "payer allows it." in p for p in doc.problems)


@pytest.mark.parametrize(
    "title, expected",
    [("Ablation, ENDO\u017fCOPIC", "endoscopic"), ("LAPAROSCOP\u0130C repair", "laparoscopic")],
    ids=["long s", "dotted capital I"],
)
def test_an_approach_spelt_with_letters_that_fold_to_ascii_is_read_never_raised(title, expected):
    """The approach pattern matches case-insensitively ("ſ" is an s, "İ" an i); naming the approach by
    lower() did not, and raised StopIteration out of the parser."""
    doc = parse_document(f"CPT 12345: {title}\nThe procedure is done.\n".encode())
    assert doc.approach == expected
