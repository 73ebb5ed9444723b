"""Property-based tests: the parser takes free text from many editors and must never crash or lose a line."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.document_parser import DOCUMENT_STATUSES, parse_document, parse_text, split_list
from tests.bad_documents import good

LINES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "Summary & Overview",
            "## Billing Code Overview",
            "CPT 32994: Title",
            "HCPCS C9751: T",
            "Service type: x",
            "Typical site of service: office or ASC",
            "| Modifier | Description | When to Use |",
            "|---|---|---|",
            "| 00 | none | routine |",
            "59 | distinct",
            "Key payers covered in this overview include A, B, and C.",
            "Not available",
            "",
            "   ",
            "<p>html</p>",
        ]
    ),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=40))
def test_parse_text_never_raises_and_keeps_every_line(lines):
    text = "\n".join(line.replace("\r", " ") for line in lines)
    doc = parse_text(text)
    assert doc.status in DOCUMENT_STATUSES
    assert (doc.status == "parsed") == (not doc.problems)
    kept = [s.heading for s in doc.sections if s.heading] + [
        line.strip() for s in doc.sections for line in s.body.split("\n") if line.strip()
    ]
    heading_lines = [line.strip() for line in text.split("\n") if line.strip()]
    assert len(kept) == len(heading_lines)


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_parse_document_never_raises_on_bytes(data):
    doc = parse_document(data)
    assert doc.status in DOCUMENT_STATUSES
    if doc.status == "rejected":
        assert doc.problems and doc.code is None


# Items exclude list separators and "*": markdown emphasis around a value is stripped by design.
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters=",;.*\n", blacklist_categories=["Cs"]), min_size=1, max_size=20
        )
        .map(str.strip)
        .filter(
            lambda s: (
                s
                and " and " not in f" {s.lower()} "
                and " or " not in f" {s.lower()} "
                and " & " not in f" {s} "
                and not s.lower().startswith(("and ", "or ", "& "))
                and s.lower() != "not available"
            )
        ),
        min_size=1,
        max_size=6,
    )
)
def test_split_list_round_trips_oxford_lists(items):
    text = items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", and " + items[-1]
    assert split_list(text) == [item.strip(" .") for item in items if item.strip(" .")]


@given(st.text(max_size=200))
def test_payer_sentence_with_free_text_never_breaks_the_parse(payers):
    text = good("32994").replace("Aetna, Cigna, and Medicare", payers.replace("\n", " ").replace("\r", " "))
    doc = parse_text(text)
    assert doc.code == "32994"
    assert all(p.strip() == p and p for p in doc.payers)
