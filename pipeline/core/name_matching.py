"""Normalization shared by the payer and care-site resolvers, and the ids of names nobody knows."""

from __future__ import annotations

import hashlib
import re
import unicodedata

UNRESOLVED_PREFIX = "unresolved_"

_NON_WORD = re.compile(r"[^0-9a-z]+")
_SLUG_LIMIT = 80


def normalize_name(name: str) -> str:
    """Case-, punctuation- and plural-insensitive form of a name."""
    text = name.casefold().replace("&", " and ")
    words = [_singular(word) for word in _NON_WORD.sub(" ", text).split()]
    if words and words[0] == "the":
        words = words[1:]
    return " ".join(words)


def slug(name: str) -> str:
    return "_".join(_NON_WORD.sub(" ", name.casefold()).split())[:_SLUG_LIMIT] or "blank"


def unresolved_id(name: str) -> str:
    """Stable id for a name that is not in the reference, unique for any script.

    ASCII names keep their readable slug (names that differ only in case or punctuation share it, as they
    would share an alias).  When the slug would lose letters (Hebrew, Arabic, CJK, emoji, accents) or is cut
    at its length limit, a short hash of the NFC-normalized, case-folded name is appended, so two different
    names never share an id and the same name always gets the same one.
    """
    folded = " ".join(unicodedata.normalize("NFC", name).casefold().split())
    readable = "_".join(_NON_WORD.sub(" ", folded).split())
    if readable and folded.isascii() and len(readable) <= _SLUG_LIMIT:
        return UNRESOLVED_PREFIX + readable
    digest = hashlib.sha256(folded.encode("utf-8")).hexdigest()[:10]
    return UNRESOLVED_PREFIX + "_".join(filter(None, (readable[:60], digest)))


def _singular(word: str) -> str:
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
