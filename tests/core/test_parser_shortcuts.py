"""The parser's speed shortcuts answer exactly what the slower reading they skip would.

Each shortcut (a cheap test before a regular expression, a split in C instead of an expression, a reading kept
in a bounded cache) is checked against the reading it replaces, on any text; the kept readings must hand out
fresh objects, so a caller changing one result never changes the next document's.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core import logical_lines, prose_facts
from pipeline.core.document_parser import parse_document
from pipeline.core.known_names import TOKEN, KnownNames
from pipeline.core.list_items import (
    _ENDS_WITH_LIST_WORD,
    _LIST_WORD_LAST_LETTERS,
    _PLAIN_ASCII_ALLOWED,
    _PLAIN_BAD_CHARACTERS,
    _PLAIN_SEPARATOR,
    _plain_items,
    _tokens,
    read_list,
)
from pipeline.core.modifier_table import split_table_row
from pipeline.core.reference_data import load_reference_data
from tests.conftest import REFERENCE, property_examples
from tests.synthetic.documents import GOOD_DOCUMENT

_KNOWN = KnownNames.from_reference(load_reference_data(REFERENCE))
# Words the shortcuts look for, in every case, with the letters whose case-insensitive matches are not ASCII
# ("İ", "ı", "ſ", the Kelvin sign) and spaces that are not ASCII.
_PIECES = st.sampled_from(
    [
        "Aetna",
        "and",
        "AND",
        "aNd",
        "or",
        "OR",
        "&",
        "andor",
        ",",
        ";",
        ".",
        " ",
        "  ",
        "\t",
        "\u00a0",
        "\x1c",
        "_",
        "-",
        "'",
        "’",
        "İ",
        "ı",
        "ſ",
        "\u212a",
        "é",
        "without",
        "WITHOUT",
        "rather than",
        "Instead Of",
        "vs",
        "VS",
        "unlike",
        "non",
        "NOT",
        "neither",
        "percutaneous",
        "PERCUTANEOUSLY",
        "Endoscopic",
        "open",
        "OPEN",
        "repair",
        "lateral",
        "Bilateral",
        "(",
        ")",
        "x",
    ]
)
_TEXT = st.lists(_PIECES, max_size=20).map("".join)
_ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60)


@settings(max_examples=property_examples(500), deadline=None)
@given(st.one_of(_TEXT, _ANY_TEXT))
def test_list_splits_in_c_agree_with_the_expressions(text):
    assert _tokens(text) == TOKEN.findall(text)
    segment = text.split(".")[0]
    assert _plain_items(segment) == [item for piece in _PLAIN_SEPARATOR.split(segment) if (item := piece.strip())]
    if segment.isascii():
        assert bool(segment.translate(_PLAIN_ASCII_ALLOWED)) == bool(_PLAIN_BAD_CHARACTERS.search(segment))
    if _ENDS_WITH_LIST_WORD.search(text):
        assert text.endswith(_LIST_WORD_LAST_LETTERS)


@settings(max_examples=property_examples(500), deadline=None)
@given(st.one_of(_TEXT, _ANY_TEXT))
def test_cheap_tests_before_the_prose_expressions_never_skip_a_match(text):
    if prose_facts._NEGATION.search(text):
        assert any(part in text.lower() for part in prose_facts._NEGATION_PARTS)
        assert prose_facts._may_negate(text.lower())
    if text.isascii():
        starts = [m.start() for m in re.finditer("|".join(prose_facts._APPROACH_STARTS), text.lower())]
        for pattern in (prose_facts._APPROACH_IN_TITLE, prose_facts._APPROACH_STRICT):
            for match in pattern.finditer(text):
                assert match.start() in starts


def _wrap_width_by_counting(stripped_lines: list[str]) -> int | None:
    """The wrap width as first written: counting lengths with list comprehensions."""
    lengths = [len(line) for line in stripped_lines if line and "|" not in line]
    longest = max(lengths, default=0)
    limit = logical_lines.WRAP_LIMIT
    width = longest if longest <= limit else max((n for n in lengths if n <= limit), default=0)
    if width < 30:
        return None
    longer = 0 if width == longest else len([n for n in lengths if n > width])
    if longer > max(1, len(lengths) // 20):
        return None
    if len([n for n in lengths if width - logical_lines._NEAR_WIDTH <= n <= width]) < 3:
        return None
    return width


@settings(max_examples=property_examples(500), deadline=None)
@given(st.lists(st.integers(0, 400), max_size=60), st.sampled_from([60, 72, 80, 150, 160, 161]))
def test_wrap_width_by_bisection_agrees_with_counting(offsets, base):
    lines = ["x" * (n if n > 200 else max(0, base - n // 10)) for n in offsets]
    assert logical_lines.wrap_width(lines) == _wrap_width_by_counting(lines)


def test_kept_readings_are_fresh_objects():
    text = "Aetna, Blue Cross and Blue Shield of Texas, and Medicare."
    first = read_list(text, _KNOWN)
    first.items.append("changed")
    assert read_list(text, _KNOWN).items == ["Aetna", "Blue Cross and Blue Shield of Texas", "Medicare"]

    cells = split_table_row("| 50 | Bilateral procedure | Both sides. |")
    cells.pop()
    assert split_table_row("| 50 | Bilateral procedure | Both sides. |") == ["50", "Bilateral procedure", "Both sides."]

    data = GOOD_DOCUMENT.encode()
    one = parse_document(data, known_names=_KNOWN)
    expected = (list(one.payers), list(one.typical_sites), list(one.modifiers))
    one.payers.append("changed")
    one.typical_sites.clear()
    one.modifiers.clear()
    two = parse_document(data, known_names=_KNOWN)
    assert (two.payers, two.typical_sites, two.modifiers) == expected
    assert expected[0] and expected[1] and expected[2]


def test_a_lower_case_line_continues_even_after_a_sentence_end():
    # The shortcut for lines after "… Medicare." must still let a lower-case line continue the one above.
    lines = logical_lines.logical_lines("Summary & Overview\nIt ends here.\nstill the same line\nA new line.")
    assert [(line.kind, line.text) for line in lines] == [
        ("heading", "Summary & Overview"),
        ("text", "It ends here. still the same line"),
        ("text", "A new line."),
    ]
