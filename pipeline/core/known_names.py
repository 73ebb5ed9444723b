"""Names the reference data knows, so list splitting never cuts one in two.

"Blue Cross and Blue Shield of Texas" contains a list word; "Kaiser Foundation Health Plan, Inc."
contains a comma and a period.  The parser asks this object, before splitting a list, where such
names start and end.  It is built from the reference rows (payer names and aliases, care-site names
and aliases) and is pure data: the lead keys the parse cache on its ``digest``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence

# A list is read as tokens: a comma, a semicolon, or a run of anything else up to whitespace.
TOKEN = re.compile(r"[,;]|[^\s,;]+")
_NOT_WORD_CHARS = re.compile(r"[\W_]+")
_TERMINAL = 0  # key of the trie node that marks "a known name ends here"
_SPLITTING_TOKENS = frozenset({"and", "or", "andor", ",", ";"})


def fold_token(token: str) -> str:
    """Case- and punctuation-insensitive form of one token ('U.S.' -> 'us', 'Inc.' -> 'inc', '&' -> 'and')."""
    if token.isalpha():  # the common case, without a regular expression
        return token.casefold()
    if token in (",", ";"):
        return token
    if token == "&":
        return "and"
    return _NOT_WORD_CHARS.sub("", token.casefold())


def fold_tokens(tokens: Iterable[str]) -> list[str]:
    return [folded for folded in map(fold_token, tokens) if folded]


def _needs_protection(folded: list[str], name: str) -> bool:
    """Only names a list splitter could cut (a list word or comma inside) or end early (a period inside)."""
    return "." in name or any(token in _SPLITTING_TOKENS for token in folded)


class KnownNames:
    """A trie of known names over folded tokens; ``longest_at`` finds the longest one starting at a token.

    Only names that list splitting could cut are in the trie (those with "and", "or", "&", a comma or a
    period); the others need no protection.  ``digest`` covers every name, so any reference change
    invalidates cached parses.
    """

    __slots__ = (
        "_trie",
        "digest",
        "first_words",
        "longest_name_tokens",
        "longest_tail_after_period",
        "names",
        "splittable_first_words",
    )

    def __init__(self, names: Iterable[str] = ()):
        self.names: tuple[str, ...] = tuple(sorted({" ".join(name.split()) for name in names if name.strip()}))
        self.digest = hashlib.sha256("\n".join(self.names).encode("utf-8")).hexdigest()
        self._trie: dict = {}
        self.longest_name_tokens = 0  # tokens of the longest protected name
        # How far a known name runs on after a ". " inside it: a list read must look that far past a period.
        self.longest_tail_after_period = max((len(n) - n.find(". ") for n in self.names if ". " in n), default=0)
        for name in self.names:
            folded_name = fold_tokens(TOKEN.findall(name))
            if not _needs_protection(folded_name, name):
                continue
            node = self._trie
            self.longest_name_tokens = max(self.longest_name_tokens, len(folded_name))
            for folded in folded_name:
                node = node.setdefault(folded, {})
            node[_TERMINAL] = True
        self.first_words = frozenset(key for key in self._trie if key != _TERMINAL)
        # First words of the names a plain split would cut (a list word or comma inside, or a period before
        # its end): a list mentioning none of them can be read with a plain split.  A name whose only period
        # ends it ("Aetna Inc.") is left out: the plain reading never ends a list at an abbreviation.
        splittable = {
            folded[0]
            for name in self.names
            if (folded := fold_tokens(TOKEN.findall(name)))
            and (". " in name.rstrip(".") or any(token in _SPLITTING_TOKENS for token in folded))
        }
        self.splittable_first_words = frozenset(splittable)

    @classmethod
    def from_rows(
        cls,
        payers: Sequence[dict[str, str]] = (),
        payer_aliases: Sequence[dict[str, str]] = (),
        care_sites: Sequence[dict[str, str]] = (),
        care_site_aliases: Sequence[dict[str, str]] = (),
    ) -> KnownNames:
        names = [row["payer_name"] for row in payers] + [row["alias"] for row in payer_aliases]
        names += [row["care_site_name"] for row in care_sites] + [row["alias"] for row in care_site_aliases]
        return cls(names)

    @classmethod
    def from_reference(cls, reference) -> KnownNames:
        """From a ``pipeline.core.reference_data.ReferenceData``."""
        return cls.from_rows(
            reference.payers, reference.payer_aliases, reference.care_sites, reference.care_site_aliases
        )

    def longest_at(self, folded_at: Callable[[int], str | None], start: int) -> int:
        """Number of tokens of the longest known name starting at token ``start`` (0 if none);
        ``folded_at(i)`` gives the folded token i, or None past the end."""
        node, best, index = self._trie, 0, start
        while True:
            node = node.get(folded_at(index))
            if node is None:
                return best
            index += 1
            if _TERMINAL in node:
                best = index - start

    def protects_within(self, folded: list[str], starts: int) -> bool:
        """True when a protected name of two or more tokens starts at one of the first ``starts`` of the
        folded tokens ``folded`` (and ends within them).  A list with no such name is split exactly as if
        nothing were known: a one-token name has no separator inside to protect."""
        trie, count, heads = self._trie, len(folded), folded[:starts]
        firsts = trie.keys() & heads  # the first words of names that occur (none, the common case), found in C
        for first in firsts:
            start = heads.index(first)
            while True:  # each place the word occurs, found in C
                node, index = trie[first], start + 1
                while node is not None and index < count:
                    node = node.get(folded[index])
                    index += 1
                    if node is not None and _TERMINAL in node:
                        return True
                try:
                    start = heads.index(first, start + 1)
                except ValueError:
                    break
        return False

    def __repr__(self) -> str:
        return f"KnownNames({len(self.names)} names, digest={self.digest[:12]})"


NO_KNOWN_NAMES = KnownNames()
