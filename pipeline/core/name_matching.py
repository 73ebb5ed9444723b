"""Normalization shared by the payer and care-site resolvers."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_name(name: str) -> str:
    """Case-, punctuation- and plural-insensitive form of a name."""
    text = name.casefold().replace("&", " and ")
    words = [_singular(word) for word in _NON_WORD.sub(" ", text).split()]
    if words and words[0] == "the":
        words = words[1:]
    return " ".join(words)


def slug(name: str) -> str:
    return "_".join(_NON_WORD.sub(" ", name.casefold()).split())[:80] or "blank"


def _singular(word: str) -> str:
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
