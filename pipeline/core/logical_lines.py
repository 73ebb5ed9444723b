"""Physical lines → logical lines: hard-wrapped sentences and ``Key: value`` lines read as one line.

Text exports and e-mails break lines at a fixed width (around 72–80 columns).  A line continues the
previous one when:

- the previous line ends in the middle of a phrase (a comma, semicolon, hyphenated word, or a word
  such as "and", "of", "include"), or the line starts with a lower-case letter; or
- the document is hard-wrapped (several lines end close to one width, and hardly any line is longer)
  and the first word of the line would not have fitted on the previous line: the sign of a wrapped break.

Continuation never glues a heading (markdown ``#`` or a known heading), a title line, a table row, a
bullet or a new ``Key:`` line onto the line before, nor anything onto a heading or a table row.  Every
physical line is kept in the logical line it belongs to, so ``core.document_sections`` keeps them all.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

BLANK, PIPE, TITLE, HEADING, TEXT = "blank", "pipe", "title", "heading", "text"

KNOWN_HEADINGS = frozenset(
    h.casefold()
    for h in (
        "Summary & Overview",
        "Billing Code Overview",
        "Clinical & Coding Specifications",
        "Clinical Context",
        "Coding Specifications",
    )
)
TITLE_LINE = re.compile(
    r"^(?:#{1,6}\s*)?(?:\*\*)?(?P<system>CPT|HCPCS)(?:®|\(R\))?\s+(?:code\s+)?(?P<code>[^\s:*]+)(?:\*\*)?\s*:\s*"
    r"(?P<title>.*?)(?:\*\*)?$",
    re.IGNORECASE,
)
TITLE_LIKE = re.compile(r"^(?:#{1,6}\s*)?(?:\*\*)?(?:CPT|HCPCS)(?:®|\(R\))?\s+(?!code\b)\S[^:]{0,60}:", re.IGNORECASE)
KEY_ALIASES = {
    **dict.fromkeys(("service type", "type of service", "service category"), "service_type"),
    **dict.fromkeys(
        (
            "typical site of service",
            "typical sites of service",
            "typical site(s) of service",
            "typical site",
            "typical sites",
            "typical site of care",
            "typical sites of care",
            "typical setting",
            "typical settings",
            "site of service",
            "sites of service",
            "site(s) of service",
        ),
        "typical_sites",
    ),
    **dict.fromkeys(("key payers", "key payer", "key payer(s)", "payers", "key payers covered"), "payers"),
}
# A 'Key:' line starting with one of these looks like a fact; an unknown one is reported, not skipped.
FACT_KEY_PREFIXES = ("service", "type of service", "typical", "key payer", "site of service", "sites of service")
_NOT_AVAILABLE = re.compile(r"^\W*not\s+available\W*$", re.IGNORECASE)
_HANGING_WORDS = frozenset(
    [
        "and",
        "or",
        "&",
        "of",
        "the",
        "a",
        "an",
        "to",
        "in",
        "for",
        "with",
        "by",
        "include",
        "includes",
        "including",
        "across",
        "such",
        "as",
        "from",
        "on",
        "at",
        "per",
        "via",
    ]
)
_BULLETS = ("- ", "* ", "• ", "+ ", "– ")
_SENTENCE_ENDS = frozenset(".!?:")  # a line ending in one of these does not hang (see ``_hangs``)
_TERMINATORS = (".", "!", "?", ":")
_ABBREVIATIONS = frozenset(
    ["inc", "co", "corp", "ltd", "llc", "lp", "plc", "jr", "sr", "st", "dr", "mt", "ft", "dept", "no", "assn", "u.s"]
)
WRAP_LIMIT = 160  # no wrapping tool fills lines longer than this
_NEAR_WIDTH = 12  # a filled line ends within this many columns of the wrap width


@dataclass(slots=True)
class Line:
    kind: str
    number: int  # first physical line number (1-based)
    text: str  # stripped; continuation lines joined with single spaces
    raw: list[str] = field(default_factory=list)  # the physical lines, right-stripped
    heading: str | None = None


_BLANK_LINE = Line(BLANK, 0, "")


def is_heading(line: str, *, generic: bool = True) -> str | None:
    """Return the heading text if this stripped line is a section heading.

    ``generic``: any short Title Case line counts (plain text); without it only markdown ``#`` headings and
    the known headings do (text converted from a web page, whose headings are marked by ``h1``–``h6``).
    """
    if line.startswith("#"):
        text = line.lstrip("#").strip().rstrip("#").strip().strip("* ")
        split = key_split(text) if ":" in text else None
        if split is not None and split[0] in KEY_ALIASES:
            return None
        return text or None
    bare = line.strip("* ")
    if bare.casefold() in KNOWN_HEADINGS:
        return bare
    if not generic or len(bare) > 60 or bare[-1:] in ".,;:!?|" or ":" in bare or "|" in bare:
        return None
    words = bare.split()
    if not words or len(words) > 6 or not bare[0].isupper() or _NOT_AVAILABLE.match(bare):
        return None
    for word in words:
        if len(word) > 3 and word[0].isalpha() and not word[0].isupper():
            return None
    return bare


# Headings recur from document to document ("Summary & Overview"): short lines' readings are kept.
@lru_cache(maxsize=4096)
def _kept_heading(line: str, generic: bool) -> str | None:
    return is_heading(line, generic=generic)


def is_title_like(line: str) -> bool:
    # The bounded pattern first: it settles the usual title line without the other's scan to the line's end.
    return bool(TITLE_LIKE.match(line) or TITLE_LINE.match(line))


def is_bullet(line: str) -> bool:
    return line.startswith(_BULLETS) or _numbered(line)


def key_split(line: str) -> tuple[str, str] | None:
    """('service type', 'value') for a 'Key: value' line (bullets and emphasis allowed), else None."""
    body = line.lstrip("-*•+>_ \t")
    colon = body.find(":", 0, 64)
    if colon <= 0:
        return None
    key = " ".join(body[:colon].strip("*_ ").split()).casefold()
    if not key or not key[0].isalpha() or len(key.split()) > 6:
        return None
    return key, body[colon + 1 :].strip().strip("*_").strip()


def logical_lines(text: str, *, generic_headings: bool = True) -> list[Line]:
    raw_lines = text.split("\n")
    stripped_lines = [raw.strip() for raw in raw_lines]
    width = wrap_width(stripped_lines)
    lines: list[Line] = []
    append = lines.append
    continued: list[Line] = []  # lines that absorbed a continuation: their text is joined at the end
    open_line: Line | None = None  # the line that may still absorb a continuation
    number = 0
    for raw, stripped in zip(raw_lines, stripped_lines, strict=True):
        number += 1
        if not stripped:
            append(_BLANK_LINE)
            open_line = None
            continue
        if len(raw) != len(stripped):  # equal lengths: nothing to strip, the stripped line is the raw one
            raw = raw.rstrip()
        if "|" in stripped:  # table rows (a quarter of all lines) never continue or absorb anything
            append(Line(PIPE, number, stripped, [raw]))
            open_line = None
            continue
        kind, heading = classify(stripped, generic_headings)
        if (
            open_line is not None
            and kind is not TITLE
            # A line after one that ends a sentence ("… Medicare.", most lines), in a document that is not
            # hard-wrapped, starting upper-case, continues nothing: settled here without the full test.
            and (width is not None or stripped[0].islower() or open_line.text[-1:] not in _SENTENCE_ENDS)
            and _continues(open_line, stripped, kind, width)
        ):
            if len(open_line.raw) == 1:
                continued.append(open_line)
            _absorb(open_line, raw, stripped)
            continue
        line = Line(kind, number, stripped, [raw], heading)
        append(line)
        open_line = line if kind is TEXT or kind is TITLE else None
    for line in continued:
        line.text = _join(line)
    return lines


def classify(stripped: str, generic_headings: bool = True) -> tuple[str, str | None]:
    if not stripped:
        return BLANK, None
    if "|" in stripped:
        return PIPE, None
    first = stripped[0]
    if first.islower():  # the common continuation line: no title, heading or key starts lower-case
        return TEXT, None
    if ":" in stripped:
        head = stripped[:16].casefold()
        # Both title patterns need a colon: "CPT code 32994 covers …" is settled without a regular expression.
        if ("cpt" in head or "hcpcs" in head) and is_title_like(stripped):
            return TITLE, None
        if first != "#":  # only a markdown heading holds a colon (a known heading has none)
            return TEXT, None
    heading = _kept_heading(stripped, generic_headings) if len(stripped) <= 80 else None
    if heading is not None:
        return HEADING, heading
    return TEXT, None


def wrap_width(stripped_lines: list[str]) -> int | None:
    """The wrap column of a hard-wrapped document, or None when its lines are not hard-wrapped.

    A wrapped document has several lines that end close to one width (the wrapper fills each line);
    a document with one paragraph per line has lines of every length.
    """
    lengths = sorted([len(line) for line in stripped_lines if line and "|" not in line])  # counted by bisection
    longest = lengths[-1] if lengths else 0
    if longest <= WRAP_LIMIT:
        width, longer = longest, 0
    else:  # the longest line a wrapper could have filled; every line past it is past the limit
        fitting = bisect_right(lengths, WRAP_LIMIT)
        width, longer = (lengths[fitting - 1] if fitting else 0), len(lengths) - fitting
    if width < 30:
        return None
    if longer > max(1, len(lengths) // 20):
        return None
    if bisect_right(lengths, width) - bisect_left(lengths, width - _NEAR_WIDTH) < 3:
        return None
    return width


def _continues(open_line: Line, stripped: str, kind: str, width: int | None) -> bool:
    if stripped[0].islower():  # no heading, key, bullet or title starts lower-case
        return True
    raw = open_line.raw
    previous = open_line.text if len(raw) == 1 else raw[-1].strip()  # one physical line: its text is it
    hangs = _hangs(previous)
    if not hangs and (width is None or len(previous) + 1 + len(stripped.split(None, 1)[0]) <= width):
        return False
    if kind == HEADING and (stripped.startswith("#") or stripped.strip("* ").casefold() in KNOWN_HEADINGS):
        return False
    if is_bullet(stripped) or _starts_key(stripped):
        return False
    if open_line.kind == TITLE and stripped.casefold().startswith(("cpt", "hcpcs")):
        return False
    return hangs or kind == TEXT or not _ends_sentence(previous)


def _ends_sentence(previous: str) -> bool:
    """'… Medicare.' ends a sentence; '… Humana Inc.' or '… the U.S.' may not."""
    if not previous.endswith(_TERMINATORS):
        return False
    last = previous.rsplit(None, 1)[-1].rstrip(".").casefold()
    return len(last.replace(".", "")) > 1 and last not in _ABBREVIATIONS


def _hangs(previous: str) -> bool:
    last_character = previous[-1]
    if last_character in ",;(/&":
        return True
    if last_character == "-":  # "image-" ⏎ "guided"; a word ending in "-" is no hanging word
        return previous[-2:-1].isalpha()
    if not last_character.isalpha():  # "… Medicare." (most lines): every hanging word ends in a letter
        return False
    last = previous.rsplit(None, 1)[-1].casefold()
    return last in _HANGING_WORDS


def _starts_key(stripped: str) -> bool:
    split = key_split(stripped)
    if split is None:
        return False
    key = split[0]
    return stripped.lstrip("-*•+>_ \t")[:1].isupper() and all(part.isalpha() for part in key.replace("(s)", "").split())


def _absorb(line: Line, raw: str, stripped: str) -> None:
    line.raw.append(raw)
    line.text = ""  # joined once at the end (repeated concatenation would be quadratic)


def _join(line: Line) -> str:
    parts: list[str] = []
    for raw in line.raw:
        stripped = raw.strip()
        previous = parts[-1] if parts else ""
        if previous.endswith("-") and previous[-2:-1].isalpha() and stripped[:1].isalpha():
            parts[-1] = previous + stripped  # a word hyphenated at the wrap: "image-" + "guided"
        else:
            parts.append(stripped)
    return " ".join(parts)


def _numbered(line: str) -> bool:
    head = line[:5]
    digits = len(head) - len(head.lstrip("0123456789"))
    return 0 < digits <= 3 and line[digits : digits + 2] in (". ", ") ")
