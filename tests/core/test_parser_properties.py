"""Property-based tests: the parser takes free text from many editors and must never crash or lose a line."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.document_parser import DOCUMENT_STATUSES, parse_document, parse_text, split_list
from pipeline.core.known_names import fold_tokens
from pipeline.core.list_items import CLAUSE_WORDS, CORPORATE_SUFFIXES, NOT_ITEMS
from pipeline.core.prose_facts import approach, imaging_guidance_included, laterality
from tests.bad_documents import good
from tests.conftest import property_examples

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


@settings(max_examples=property_examples(300), suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=property_examples(300))
@given(st.binary(max_size=2000))
def test_parse_document_never_raises_on_bytes(data):
    doc = parse_document(data)
    assert doc.status in DOCUMENT_STATUSES
    if doc.status == "rejected":
        assert doc.problems and doc.code is None


# Items exclude list separators, "*", "_", "`" (markdown emphasis around a value is stripped by design) and
# parentheses (a parenthesized aside, separators and all, belongs to the item before it by design).
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters=",;.*_`()\n", blacklist_categories=["Cs"]),
            min_size=1,
            max_size=20,
        )
        .map(str.strip)
        .filter(
            lambda s: (
                s
                and not any(word.lower() in ("and", "or", "&", "and/or") for word in s.split())
                and s.lower() != "not available"
                and " ".join(fold_tokens(s.split())) not in NOT_ITEMS  # trailing "etc." / "and others" add no item
                and " ".join(fold_tokens(s.split())) not in CORPORATE_SUFFIXES  # ", Inc." belongs to the name before
                and (fold_tokens(s.split()) or [""])[0] not in CLAUSE_WORDS  # ", though …" ends a list by design
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


# --- Real-world variation (issue 7) -------------------------------------------------------------------------

import textwrap  # noqa: E402

from pipeline.core.known_names import KnownNames  # noqa: E402
from pipeline.core.reference_data import load_reference_data  # noqa: E402
from tests.conftest import REFERENCE  # noqa: E402

_REFERENCE = load_reference_data(REFERENCE)
KNOWN = KnownNames.from_reference(_REFERENCE)
PAYER_NAMES = sorted(
    {row["payer_name"] for row in _REFERENCE.payers} | {row["alias"] for row in _REFERENCE.payer_aliases}
)
SITE_NAMES = sorted({row["alias"] for row in _REFERENCE.care_site_aliases})


def _payer_sentence(names: list[str]) -> str:
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + ", and " + names[-1]
    return f"Key payers covered in this overview include {listed}" + ("" if listed.endswith(".") else ".")


def _facts(doc):
    return (
        doc.status,
        doc.problems,
        doc.code,
        doc.title,
        doc.description,
        doc.service_type,
        doc.typical_sites,
        doc.summary_sites,
        doc.payers,
        [(m.modifier_code, m.description, m.when_to_use) for m in doc.modifiers],
        doc.laterality,
        doc.approach,
        doc.imaging_guidance_included,
    )


def _wrap(text: str, width: int) -> str:
    return "\n".join(
        line if "|" in line else textwrap.fill(line, width=width, break_long_words=False, break_on_hyphens=False)
        for line in text.split("\n")
    )


@settings(max_examples=property_examples(150), deadline=None)
@given(
    st.lists(st.sampled_from(PAYER_NAMES), min_size=1, max_size=7, unique=True),
    st.lists(st.sampled_from(SITE_NAMES), min_size=1, max_size=4, unique=True),
    st.integers(min_value=40, max_value=120),
)
def test_wrapping_at_any_width_gives_the_same_facts(payers, sites, width):
    text = (
        good("47382")
        .replace("Key payers covered in this overview include Aetna, Cigna, and Medicare.", _payer_sentence(payers))
        .replace(
            "Hospital outpatient department or office",
            ", ".join(sites[:-1] + [f"or {sites[-1]}"]) if len(sites) > 1 else sites[0],
        )
    )
    unwrapped = parse_text(text, known_names=KNOWN)
    wrapped = parse_text(_wrap(text, width), known_names=KNOWN)
    assert _facts(wrapped) == _facts(unwrapped)


@settings(max_examples=property_examples(200), deadline=None)
@given(st.lists(st.sampled_from(PAYER_NAMES), min_size=1, max_size=8, unique=True))
def test_any_known_payer_name_survives_list_splitting(payers):
    doc = parse_text(
        good().replace(
            "Key payers covered in this overview include Aetna, Cigna, and Medicare.", _payer_sentence(payers)
        ),
        known_names=KNOWN,
    )
    # "… and Humana Inc" + the sentence's period reads "Humana Inc.": the same name, so compare without it.
    assert [name.rstrip(".") for name in doc.payers] == [name.rstrip(".") for name in payers]
    assert doc.status == "parsed", doc.problems


HTML_PIECES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "<p>",
            "</p>",
            "<div>",
            "</div>",
            "<table>",
            "<tr>",
            "<td>",
            "<th>",
            "</table>",
            "<br>",
            "<h2>",
            "</h2>",
            "<strong>Service type:</strong>",
            "<li>",
            "<script>",
            "</script>",
            "<!--",
            "-->",
            "&amp;",
            "CPT 32994: Title",
            "| 00 | x | y |",
            "<meta charset='windows-1252'>",
            "<b>",
            "<i>",
        ]
    ),
)


@settings(max_examples=property_examples(200), deadline=None)
@given(st.lists(HTML_PIECES, max_size=60))
def test_parse_never_raises_on_html_like_input(pieces):
    doc = parse_document(("<!DOCTYPE html>" + "".join(pieces)).encode("utf-8", "surrogatepass"), known_names=KNOWN)
    assert doc.status in DOCUMENT_STATUSES
    assert (doc.status == "parsed") == (not doc.problems)


# Negation and contrast: a mention taken back is no fact, whatever surrounds it (issue 18, point 4).
APPROACH_FORMS = {
    "percutaneous": ["percutaneous", "percutaneously", "Percutaneous"],
    "laparoscopic": ["laparoscopic", "laparoscopically", "Laparoscopic"],
    "thoracoscopic": ["thoracoscopic", "thoracoscopically"],
    "endoscopic": ["endoscopic", "endoscopically", "Endoscopic"],
    "transcatheter": ["transcatheter"],
    "robotic": ["robotic", "robotically", "Robotic"],
}
NEGATIONS = ["without", "Without", "rather than", "instead of", "not", "with or without", "other than", "non-"]
FILLER_WORDS = st.lists(
    st.sampled_from(["removal", "of", "the", "lesion", "Tumor", "Insertion", "device", "with", "one", "or", "more"]),
    max_size=6,
).map(" ".join)


def _form(draw_approach: str, index: int) -> str:
    forms = APPROACH_FORMS[draw_approach]
    return forms[index % len(forms)]


@settings(max_examples=property_examples(300), deadline=None)
@given(
    st.sampled_from(sorted(APPROACH_FORMS)),
    st.integers(0, 5),
    st.sampled_from(NEGATIONS),
    FILLER_WORDS,
    FILLER_WORDS,
)
def test_a_negated_or_contrasted_approach_is_never_a_fact(name, index, negation, before, after):
    mention = f"{negation}{_form(name, index)}" if negation.endswith("-") else f"{negation} {_form(name, index)}"
    title = f"{before} {mention} {after}".strip()
    assert approach(title, "") is None, title
    assert approach(None, f"The procedure is performed {mention} {after}.") is None
    assert approach(None, f"The {name} approach is not used.") is None


@settings(max_examples=property_examples(300), deadline=None)
@given(
    st.sampled_from(sorted(APPROACH_FORMS)),
    st.integers(0, 5),
    st.sampled_from(NEGATIONS),
    st.sampled_from(["open", "percutaneous", "robotic"]),
    FILLER_WORDS,
)
def test_the_affirmed_approach_wins_over_a_contrasted_one(name, index, negation, other, filler):
    if other == name or negation.endswith("-"):
        return
    other_mention = "an open approach" if other == "open" else f"a {other} approach"
    prose = f"The device is placed {_form(name, index)} {negation} {other_mention}, {filler}."
    assert approach(None, prose) == name, prose
    # The contrasted one alone is not a fact either.
    assert approach(None, f"The device is placed {negation} {other_mention}.") is None


@settings(max_examples=property_examples(200), deadline=None)
@given(st.sampled_from(["unilateral", "bilateral"]), st.sampled_from(NEGATIONS), FILLER_WORDS)
def test_a_negated_laterality_is_never_a_fact(side, negation, filler):
    mention = f"{negation}{side}" if negation.endswith("-") else f"{negation} {side}"
    assert laterality(f"Treatment {mention} {filler}") is None
    other = "bilateral" if side == "unilateral" else "unilateral"
    for either in (" or ", "/", " and/or "):  # either side: neither is stated
        assert laterality(f"{filler} {side.title()}{either}{other} Cannulation {filler}") is None
    assert laterality(f"{filler} {side} {filler}") == side


@settings(max_examples=property_examples(200), deadline=None)
@given(
    st.sampled_from(["CT", "ultrasound", "MR", "fluoroscopic", "imaging", "image"]),
    st.sampled_from(["without", "rather than", "instead of", "with or without"]),
    st.sampled_from(["included", "reported separately", "bundled", "not included"]),
)
def test_a_negated_imaging_guidance_mention_decides_nothing(modality, negation, verb):
    assert imaging_guidance_included(f"The biopsy is done {negation} {modality} guidance {verb}.") is None


# Table shapes (issue 18, point 2): the same rows drawn as a box, a fixed-width report or a spreadsheet paste,
# with cells wrapped at any width, read as the same modifier rows.
CELL_WORDS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,'()-/", min_size=1, max_size=12),
    min_size=1,
    max_size=12,
).map(" ".join)
MODIFIER_ROWS = st.lists(
    st.tuples(st.sampled_from(["00", "50", "59", "RT", "LT", "XS", "80", "62"]), CELL_WORDS, CELL_WORDS),
    min_size=1,
    max_size=6,
    unique_by=lambda row: row[0],
)


def _wrap_cell(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]


def _drawn(rows, width: int, style: str) -> str:
    header = ("Modifier", "Description", "When to Use")
    widths = [8, max(width, 12), max(width, 12)]
    cells = [[[h] for h in header]] + [[[code], _wrap_cell(d, width), _wrap_cell(w, width)] for code, d, w in rows]
    widths = [max(widths[i], *(len(x) for r in cells for x in r[i])) for i in range(3)]
    out = []
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    for index, row in enumerate(cells):
        height = max(len(c) for c in row)
        for k in range(height):
            parts = [c[k] if k < len(c) else "" for c in row]
            if style == "box":
                out.append("| " + " | ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)) + " |")
            else:
                out.append("  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip())
        if style == "box":
            out.append(border)
        elif index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(([border] if style == "box" else [""]) + out) + "\n"


@settings(max_examples=property_examples(200), deadline=None)
@given(MODIFIER_ROWS, st.integers(8, 40), st.sampled_from(["box", "fixed"]))
def test_a_table_drawn_with_wrapped_cells_reads_as_its_rows(rows, width, style):
    text = (
        "CPT 32994: Ablation\nService type: Ablation\nTypical site of service: Office\n"
        "Key payers covered in this overview include Aetna.\nCoding Specifications\n" + _drawn(rows, width, style)
    )
    doc = parse_text(text)
    assert [(m.modifier_code, m.description, m.when_to_use) for m in doc.modifiers] == [
        (code, " ".join(d.split()), " ".join(w.split())) for code, d, w in rows
    ], text
    assert doc.status == "parsed", doc.problems


@settings(max_examples=property_examples(200), deadline=None)
@given(MODIFIER_ROWS, st.integers(0, 3))
def test_a_spreadsheet_paste_with_any_padding_reads_as_its_rows(rows, padding):
    lines = ["Modifier\tDescription\tWhen to Use"] + [f"{c}\t{d}\t{w}" + "\t" * padding for c, d, w in rows]
    text = (
        "CPT 32994: Ablation\nService type: Ablation\nTypical site of service: Office\n"
        "Key payers covered in this overview include Aetna.\nCoding Specifications\n" + "\n".join(lines) + "\n"
    )
    doc = parse_text(text)
    assert [(m.modifier_code, m.when_to_use) for m in doc.modifiers] == [(c, " ".join(w.split())) for c, _, w in rows]
    assert doc.status == "parsed", doc.problems
