"""Lists consult the reference before splitting; periods inside names do not end them."""

from __future__ import annotations

import pytest

from pipeline.core.known_names import KnownNames
from pipeline.core.list_items import read_list, split_list
from pipeline.core.reference_data import load_reference_data
from tests.conftest import REFERENCE, property_examples


@pytest.fixture(scope="module")
def known():
    return KnownNames.from_reference(load_reference_data(REFERENCE))


@pytest.mark.parametrize(
    ("text", "items"),
    [
        (
            "Aetna, Blue Cross and Blue Shield of Texas, and Medicare.",
            ["Aetna", "Blue Cross and Blue Shield of Texas", "Medicare"],
        ),
        (
            "Blue Cross & Blue Shield of Alabama and BCBS of Ohio",
            ["Blue Cross & Blue Shield of Alabama", "BCBS of Ohio"],
        ),
        ("Anthem Blue Cross and Blue Shield, Aetna", ["Anthem Blue Cross and Blue Shield", "Aetna"]),
        ("Humana Inc. and Medicare. Readers will find more.", ["Humana Inc.", "Medicare"]),
        ("U.S. Department of Veterans Affairs and TRICARE.", ["U.S. Department of Veterans Affairs", "TRICARE"]),
        ("Kaiser Foundation Health Plan, Inc., Aetna.", ["Kaiser Foundation Health Plan, Inc.", "Aetna"]),
        ("Molina Healthcare, Inc. and Aetna.", ["Molina Healthcare, Inc.", "Aetna"]),
        (
            "UnitedHealthcare (commercial and Medicare Advantage), Aetna.",
            ["UnitedHealthcare (commercial and Medicare Advantage)", "Aetna"],
        ),
        ("Aetna, Cigna, etc.", ["Aetna", "Cigna"]),
        ("Aetna, Cigna and others.", ["Aetna", "Cigna"]),
        ("hospital outpatient departments, though volumes have fallen.", ["hospital outpatient departments"]),
        ("Not available.", []),
    ],
)
def test_items_respect_known_names_and_periods(text, items, known):
    assert split_list(text, known) == items


def test_without_the_reference_a_name_with_and_is_split():
    assert split_list("Aetna, Blue Cross and Blue Shield of Texas") == ["Aetna", "Blue Cross", "Blue Shield of Texas"]


def test_a_name_known_only_as_an_item_of_a_longer_name_is_not_glued_to_a_neighbour(known):
    assert split_list("Blue Cross and Blue Shield of Kansas City and Aetna", known) == [
        "Blue Cross and Blue Shield of Kansas City",
        "Aetna",
    ]


def test_list_end_and_trailing_text(known):
    text = "Aetna, Cigna, and Medicare. Readers will find a concise explanation."
    listed = read_list(text, known)
    assert listed.terminated and text[listed.end :].startswith(" Readers")
    hanging = read_list("Aetna, Cigna, and", known)
    assert hanging.hanging and hanging.items == ["Aetna", "Cigna"]


def test_unclosed_parenthesis_protects_nothing():
    assert split_list("( and x") == ["(", "x"]


def test_known_names_digest_is_stable_and_content_based():
    a = KnownNames(["Aetna", "Blue Cross and Blue Shield of Texas"])
    b = KnownNames(["Blue Cross and Blue Shield of Texas", "Aetna", "Aetna"])
    assert a.digest == b.digest
    assert KnownNames(["Aetna"]).digest != a.digest


# The plain reading (regular-expression splits) must agree with the token reading whenever it answers.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.core.list_items import _read, read_plain_list  # noqa: E402

_KNOWN = KnownNames.from_reference(load_reference_data(REFERENCE))
_WORDS = st.sampled_from(
    [
        "Aetna",
        "Cigna",
        "Blue",
        "Cross",
        "Shield",
        "of",
        "Texas",
        "and",
        "or",
        "&",
        "and/or",
        "AND",
        "Inc",
        "U.S.",
        "Kaiser",
        "others",
        "etc",
        "though",
        "Medicare",
        "hospital",
        "outpatient",
        "department",
        "Children's",
        "and-or",
        "an'd",
        "image-guided",
        "Not",
        "available",
        "the",
        "x",
        "(a",
        "b)",
        "Humana",
        "ASC",
        "Co",
    ]
)
_SEPARATORS = st.sampled_from([" ", ", ", "; ", " and ", ", and ", ",", ". ", ".", "  ", " . "])


@settings(max_examples=property_examples(400), deadline=None)
@given(st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=12), st.booleans())
def test_plain_reading_agrees_with_the_token_reading(pieces, end_with_period):
    text = "".join(word + separator for word, separator in pieces).strip() + ("." if end_with_period else "")
    plain = read_plain_list(text, _KNOWN)
    if plain is not None:
        assert plain == _read(text, len(text), _KNOWN)


@settings(max_examples=property_examples(300), deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_plain_reading_agrees_on_any_text(text):
    plain = read_plain_list(text, _KNOWN)
    if plain is not None:
        assert plain == _read(text, len(text), _KNOWN)


@pytest.mark.parametrize("text", ["Humana. Inc", "Aetna, Humana. Inc, and Cigna.", "Aetna andor Cigna", "Co. Inc"])
def test_fast_and_token_readings_agree_on_cases_hypothesis_found(text):
    plain = read_plain_list(text, _KNOWN)
    assert plain is None or plain == _read(text, len(text), _KNOWN)


@pytest.mark.parametrize(
    ("listed", "kept"),
    [
        ("commercial plans (e.g. Aetna, Cigna) and Medicare", ["commercial plans (e.g. Aetna, Cigna)", "Medicare"]),
        ("Humana, et al. and Medicare", ["Humana", "et al", "Medicare"]),
    ],
)
def test_latin_abbreviations_do_not_end_the_payer_sentence(listed, kept):
    from pipeline.core.document_parser import parse_text
    from tests.bad_documents import good

    doc = parse_text(good("32994").replace("Aetna, Cigna, and Medicare", listed), known_names=_KNOWN)
    assert doc.payers == kept


def _document_with_payer_sentence(sentence: str) -> bytes:
    from tests.bad_documents import good

    return good("47382").replace("Aetna, Cigna, and Medicare.", sentence).encode()


def test_a_payer_sentence_over_4000_characters_keeps_all_its_payers():
    from pipeline.core.document_parser import parse_document

    names = [f"Regional Health Plan Number {i}" for i in range(400)]
    sentence = ", ".join(names[:-1]) + ", and " + names[-1] + "."
    assert len(sentence) > 12_000
    parsed = parse_document(_document_with_payer_sentence(sentence))
    assert parsed.payers == names
    assert not any("no end" in p or "still running" in p for p in parsed.problems), parsed.problems


def test_a_list_still_running_at_the_bound_says_so_truly():
    from pipeline.core.document_parser import parse_document
    from pipeline.core.list_items import LONGEST_LIST

    sentence = ", ".join(f"Plan {i}" for i in range(LONGEST_LIST // 5))  # no end of sentence anywhere
    assert len(sentence) > LONGEST_LIST
    parsed = parse_document(_document_with_payer_sentence(sentence))
    [problem] = [p for p in parsed.problems if "still running" in p]
    assert f"after {LONGEST_LIST:,} characters" in problem and "with no end of sentence" in problem
    assert "none of its names were read" in problem and parsed.payers == []
