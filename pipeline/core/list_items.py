"""Read a written list ("A, B, and C" / "A; B or C") into items, without cutting known names.

One pass over tokens (linear in the length of the text).  A list ends at the end of its sentence:
a period that is not part of a name ("Humana Inc.", "U.S. Department
of Veterans Affairs", "Kaiser Foundation Health Plan, Inc.") or an abbreviation.  Separators are
commas, semicolons and the words "and", "or", "&", "and/or", except inside a known name or inside
parentheses.  Trailing "etc." and "and others" add no item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice

from pipeline.core.known_names import NO_KNOWN_NAMES, TOKEN, KnownNames, fold_token

LIST_WORDS = frozenset({"and", "or", "andor", ",", ";"})
# A name goes on after these even when a capital follows ("St. Luke's", "U.S. Department").
# Also the Latin abbreviations that introduce examples inside a list ("(e.g. Aetna, Cigna)", "et al.").
_NAME_PREFIX_ABBREVIATIONS = frozenset(
    {"st", "dr", "mt", "ft", "dept", "no", "natl", "eg", "ie", "al", "vs", "incl", "approx", "esp", "viz", "cf"}
)
# These end names; they end the sentence too when a new sentence starts after them.
_NEXT_TOKEN = re.compile(r"\s*([^\s,;]+)")  # the next token, as the token reading cuts it
_NAME_SUFFIX_ABBREVIATIONS = frozenset({"inc", "co", "corp", "ltd", "llc", "lp", "plc", "jr", "sr", "etc", "assn"})
# After a comma these start a clause, not an item: "…, though volumes have fallen" ends the list.
CLAUSE_WORDS = frozenset(
    [
        "though",
        "although",
        "while",
        "whereas",
        "which",
        "who",
        "where",
        "when",
        "but",
        "especially",
        "particularly",
        "depending",
        "because",
        "since",
        "typically",
        "usually",
        "mostly",
        "primarily",
        "mainly",
        "often",
    ]
)
CORPORATE_SUFFIXES = frozenset({"inc", "corp", "corporation", "ltd", "llc", "plc"})
NOT_ITEMS = frozenset(
    {
        "etc",
        "other",
        "others",
        "among others",
        "many others",
        "more",
        "so on",
        "the like",
        "other payers",
        "other plans",
        "other payer",
        "other plan",
    }
)
_CLOSERS = ")]\"'”’*_`"
# The plain reading (``read_plain_list``): separators exactly as the token reading sees them, and what it
# leaves to the token reading.
_PLAIN_SEPARATOR = re.compile(r"[,;]|(?<![^\s,;])(?:and|or|&)(?![^\s,;])", re.IGNORECASE)
_ENDS_WITH_LIST_WORD = re.compile(r"(?<![^\s,;])(?:and|or|&)$", re.IGNORECASE)
_PLAIN_BAD_CHARACTERS = re.compile(r"[^\w\s,;&'’-]|_")
# The same test for ASCII text, in C: deleting every allowed character leaves nothing.
_PLAIN_ASCII_ALLOWED = str.maketrans(
    "", "", "".join(c for c in map(chr, range(128)) if (c.isalnum() or c.isspace() or c in ",;&'-"))
)
_DROP_WORD_PUNCTUATION = str.maketrans("", "", "'’-&")
_LIST_WORD_SPELLINGS = frozenset({"and", "or", "andor"})
_PLAIN_LIST_WORDS = frozenset({"and", "or", "&"})
_LIST_WORD_LAST_LETTERS = ("d", "D", "r", "R", "&")
_PLAIN_SPECIAL_WORDS = (
    CLAUSE_WORDS | CORPORATE_SUFFIXES | {"etc", "other", "others", "more", "so", "the", "not", "among", "many"}
)


@dataclass(slots=True)
class ListRead:
    items: list[str] = field(default_factory=list)
    end: int = 0  # offset just after the list (after its terminal period, if any)
    terminated: bool = False  # the sentence ended with a period
    hanging: bool = False  # the text ran out right after a separator ("A, B, and")


def _fold_all(tokens: list[str]) -> list[str]:
    """Folded tokens, one per token (an empty fold is kept, so indexes stay aligned)."""
    return [token.casefold() if token.isalpha() else fold_token(token) for token in tokens]


class _Tokens:
    """The tokens of a window of the text, with their folded forms."""

    __slots__ = ("folded", "matches", "texts")

    def __init__(self, text: str, end: int):
        self.matches = list(TOKEN.finditer(text, 0, end))
        self.texts = [match.group() for match in self.matches]
        self.folded = _fold_all(self.texts)

    def has(self, index: int) -> bool:
        return index < len(self.matches)

    def folded_at(self, index: int) -> str | None:
        return self.folded[index] if index < len(self.folded) else None


class _Parentheses:
    """Whether a token sits inside a closed pair of parentheses (an unclosed '(' protects nothing)."""

    __slots__ = ("_text", "_until", "_no_close_after")

    def __init__(self, text: str):
        self._text, self._until, self._no_close_after = text, -1, len(text) + 1

    def inside(self, match) -> bool:
        if match.start() < self._until:
            return True
        token = match.group()
        if "(" in token and ")" not in token[token.rfind("(") :] and match.end() < self._no_close_after:
            close = self._text.find(")", match.end())
            if close == -1:
                self._no_close_after = match.end()  # nothing closes after here: never search again
            else:
                self._until = close
        return False


# The longest list sentence read, in characters. A real payer sentence can name hundreds of plans (4,000
# characters was too few); past this bound a sentence still running is no list of names, and reading it
# would only cost time.
LONGEST_LIST = 100_000


def list_runs_past_limit(label: str, length: int) -> str:
    """The problem for a list sentence still running at ``LONGEST_LIST`` characters: what was (not) read."""
    return (
        f"{label} is still running after {LONGEST_LIST:,} characters (it runs {length:,}) with no end of "
        f"sentence; a list is read up to {LONGEST_LIST:,} characters, so none of its names were read"
    )


def read_list(text: str, known: KnownNames = NO_KNOWN_NAMES) -> ListRead:
    """Items of the list at the start of ``text``, up to the end of its sentence.

    The list is first read in a window up to the first ". " and the word after it (plus room for a known
    name with a period inside, such as "U.S. Department of Veterans Affairs"); only when its sentence does
    not end there is the whole text read.
    """
    if len(text) <= _KEPT_LIST_CHARS:
        items, end, terminated, hanging = _kept_read(text, known)
        return ListRead(list(items), end, terminated, hanging)
    return _read_list(text, known)


# The same lists recur from document to document (a template's site list, a publisher's payer sentence): a
# read is kept, keyed by the text and the known names.  Only short texts, so the kept reads stay small.
_KEPT_LIST_CHARS = 1_000


@lru_cache(maxsize=4096)
def _kept_read(text: str, known: KnownNames) -> tuple[tuple[str, ...], int, bool, bool]:
    read = _read_list(text, known)
    return tuple(read.items), read.end, read.terminated, read.hanging


def _read_list(text: str, known: KnownNames) -> ListRead:
    quick = read_plain_list(text, known)
    if quick is not None:
        return quick
    period = text.find(". ")
    if period != -1:
        next_word_end = text.find(" ", period + 2)
        window = max(period + 2 + known.longest_tail_after_period, next_word_end)
        if next_word_end != -1 and window < len(text):
            result = _read(text, window, known)
            if result.terminated or result.end < period:
                return result
    return _read(text, len(text), known)


def _read(text: str, window: int, known: KnownNames) -> ListRead:
    tokens = _Tokens(text, window)
    parentheses = _Parentheses(text) if "(" in text[:window] else None
    spans: list[tuple[int, int]] = []  # token index ranges of items
    result = ListRead(end=len(text))
    start = protected_until = index = 0
    first_words, count = known.first_words, len(tokens.matches)
    while index < count:
        word = tokens.folded[index]
        depth = parentheses is not None and parentheses.inside(tokens.matches[index])
        if index >= protected_until and not depth and word in first_words:
            protected_until = index + known.longest_at(tokens.folded_at, index)
        free = index >= protected_until and not depth
        if free and index == start and index and word in CLAUSE_WORDS:
            result.end = tokens.matches[index - 1].start()
            return _finish(result, text, tokens, spans)
        if free and word in LIST_WORDS:
            if index > start:
                spans.append((start, index))
            start = index + 1
        # Only a token with a period can end the sentence: most have none, so the call is skipped.
        elif not depth and "." in tokens.texts[index] and _ends_sentence(tokens, index, index + 1 < protected_until):
            spans.append((start, index + 1))
            result.end, result.terminated = tokens.matches[index].end(), True
            return _finish(result, text, tokens, spans)
        index += 1
    if start < index:
        spans.append((start, index))
    result.hanging = index > 0 and tokens.folded[index - 1] in LIST_WORDS
    return _finish(result, text, tokens, spans)


def read_plain_list(text: str, known: KnownNames) -> ListRead | None:
    """The common list ("A, B, and C.") read with regular-expression splits, or None when the list has
    anything the token reading treats specially: parentheses, periods or abbreviations before its end, a
    word a protected known name starts with, list words in unusual spellings, fillers ("etc.", "others"),
    clause words, corporate suffixes, emphasis.  ``test_list_items.py`` checks both readings agree."""
    dot = text.find(".")
    segment = text if dot == -1 else text[:dot]
    if segment.translate(_PLAIN_ASCII_ALLOWED) if segment.isascii() else _PLAIN_BAD_CHARACTERS.search(segment):
        return None
    words = segment.casefold().replace(",", " ").replace(";", " ").split()
    has_punctuation = "'" in segment or "’" in segment or "-" in segment or "&" in segment
    folded = {word.translate(_DROP_WORD_PUNCTUATION) for word in words} if has_punctuation else set(words)
    if not folded.isdisjoint(_PLAIN_SPECIAL_WORDS):
        return None
    if has_punctuation and any(
        word.translate(_DROP_WORD_PUNCTUATION) in _LIST_WORD_SPELLINGS and word not in _PLAIN_LIST_WORDS
        for word in words
    ):
        return None  # "and-or", "an'd": the token reading folds these to list words
    if dot != -1:
        after, before = text[dot + 1 : dot + 2], segment[-1:]
        if not words or not before.isalnum() or (after and not after.isspace()):
            return None
        word = words[-1].translate(_DROP_WORD_PUNCTUATION)  # the last token, as the tokenizer cuts and folds it
        if len(word) <= 1 or word in _NAME_PREFIX_ABBREVIATIONS or word in _NAME_SUFFIX_ABBREVIATIONS:
            return None
        if word in LIST_WORDS:
            return None
        following = _NEXT_TOKEN.match(text, dot + 1)
        if following and "".join(filter(str.isalnum, following[1].casefold())) in _NAME_SUFFIX_ABBREVIATIONS:
            return None  # "Humana. Inc": the token reading keeps the suffix with the name
    # A word a splittable known name starts with ("blue", "centers") is common in lists that hold no such
    # name ("ambulatory surgery centers"): only a name actually present sends the list to the token reading.
    # Such lists always went to the token reading, so anything it reads differently ("andor") still does.
    if "andor" in folded:
        return None  # the token reading splits on it
    if not folded.isdisjoint(known.splittable_first_words) and _holds_protected_name(
        text, segment, dot, known, has_punctuation
    ):
        return None
    result = ListRead(end=len(text) if dot == -1 else dot + 1, terminated=dot != -1)
    result.items = _plain_items(segment)
    if not result.terminated:
        tail = segment.rstrip()
        # A list word ends in one of these letters, matched only in its ASCII cases: a cheap necessary test.
        result.hanging = tail.endswith((",", ";")) or (
            tail.endswith(_LIST_WORD_LAST_LETTERS) and bool(_ENDS_WITH_LIST_WORD.search(tail))
        )
    return result


def _plain_items(segment: str) -> list[str]:
    """``_PLAIN_SEPARATOR.split`` of the segment, stripped, empty pieces left out: cut at commas and semicolons
    first (in C), and only a piece holding a list word ("and Medicare") is cut again by the expression."""
    items: list[str] = []
    pieces = segment.replace(";", ",").split(",") if ";" in segment else segment.split(",")
    for piece in pieces:
        if not _PLAIN_LIST_WORDS.isdisjoint(piece.lower().split()):  # a list word is a whole token
            items.extend(item for part in _PLAIN_SEPARATOR.split(piece) if (item := part.strip()))
        elif item := piece.strip():
            items.append(item)
    return items


def _holds_protected_name(text: str, segment: str, dot: int, known: KnownNames, punctuated: bool) -> bool:
    """Whether a known name the token reading would protect starts in ``segment`` (the text before ``dot``).
    The tokens after the period are looked at as far as the longest name reaches, as a name may run on."""
    # Without punctuation inside words, folding a token is case folding, and case folding never makes a
    # separator: the folded tokens are the tokens of the folded segment.
    folded = _fold_all(_tokens(segment)) if punctuated else _tokens(segment.casefold())
    starts = len(folded)
    if dot != -1 and not text[dot + 1 :].isspace() and dot + 1 < len(text):  # words follow the period
        after = islice((match.group() for match in TOKEN.finditer(text, dot + 1)), known.longest_name_tokens)
        folded += _fold_all(list(after))
    return known.protects_within(folded, starts)


def _tokens(text: str) -> list[str]:
    """``TOKEN.findall(text)`` by splitting in C: each comma and semicolon a token of its own, and the runs of
    anything else between whitespace."""
    if "," in text:
        text = text.replace(",", " , ")
    if ";" in text:
        text = text.replace(";", " ; ")
    return text.split()


def _finish(result: ListRead, text: str, tokens: _Tokens, spans: list[tuple[int, int]]) -> ListRead:
    result.items = _items(text, tokens.matches, tokens.folded, spans, result.terminated)
    return result


def split_list(text: str | None, known: KnownNames = NO_KNOWN_NAMES) -> list[str]:
    """Items of a list value; 'Not available' gives none."""
    if text is None:
        return []
    return read_list(text, known).items


def _ends_sentence(tokens: _Tokens, index: int, mid_name: bool) -> bool:
    token = tokens.matches[index].group()
    if mid_name or "." not in token:
        return False
    token = token.rstrip(_CLOSERS)
    if not token.endswith("."):
        return False
    word = tokens.folded[index]
    initials = token.rstrip(".").split(".")
    if word in _NAME_PREFIX_ABBREVIATIONS or (len(initials) > 1 and all(len(p) == 1 for p in initials)):
        return not tokens.has(index + 1)
    if word in _NAME_SUFFIX_ABBREVIATIONS or len(word) == 1:
        return _new_sentence_follows(tokens, index)
    return True


def _new_sentence_follows(tokens: _Tokens, index: int) -> bool:
    if not tokens.has(index + 1):
        return True
    following = tokens.matches[index + 1].group()
    return following[:1].isupper() and tokens.folded[index + 1] not in LIST_WORDS


def _items(text: str, matches, folded: list[str], spans: list[tuple[int, int]], terminated: bool) -> list[str]:
    items: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for first, last in spans:
        begin, end = matches[first].start(), matches[last - 1].end()
        words = " ".join(folded[first:last])
        if words in CORPORATE_SUFFIXES and items and text[ends[-1] : begin].strip() == ",":
            # "Molina Healthcare, Inc." is one name
            items[-1] = _clean(text[starts[-1] : end], keep_period=True)
            ends[-1] = end
            continue
        if words in NOT_ITEMS or words.startswith("not available"):
            continue
        keep_period = folded[last - 1] in _NAME_SUFFIX_ABBREVIATIONS or not terminated or (first, last) != spans[-1]
        item = _clean(text[begin:end], keep_period=keep_period)
        if words.endswith(" etc"):
            item = item[: item.casefold().rfind("etc")].rstrip(" ,")
        if item:
            items.append(item)
            starts.append(begin)
            ends.append(end)
    return items


def _clean(item: str, *, keep_period: bool) -> str:
    item = item.strip().strip("*_`").strip()
    if item.endswith(".."):  # "Humana Inc.." : the name's period and the sentence's
        item = item[:-1]
    if not keep_period or not item.rstrip(".").split()[-1:] or _plain_word_period(item):
        item = item.rstrip(".").rstrip()
    return item.lstrip(". ")


def _plain_word_period(item: str) -> bool:
    """'Medicare.' loses its period; 'Inc.', 'U.S.' keep theirs."""
    if not item.endswith("."):
        return False
    last = item.rstrip(".").split()[-1] if item.rstrip(".").split() else ""
    word = fold_token(last)
    return "." not in last and len(word) > 1 and word not in _NAME_SUFFIX_ABBREVIATIONS
