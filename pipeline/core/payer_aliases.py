"""Resolve payer names as written in documents to canonical payers.

Resolution is an exact match on the normalized name against the canonical names
and aliases in ``sources/reference/payer_aliases.csv``.  There is deliberately
no fuzzy matching: a near miss ("Cigna Medicare Advantage") must not be merged
into the wrong payer, so unknown names become unresolved payers for a data
steward to map.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.name_matching import UNRESOLVED_PREFIX, normalize_name, unresolved_id

__all__ = ["UNRESOLVED_PREFIX", "PayerDirectory", "PayerMatch"]


@dataclass(frozen=True, slots=True)
class PayerMatch:
    payer_id: str
    payer_name: str
    is_resolved: bool


class PayerDirectory:
    def __init__(self, payers: list[dict[str, str]], aliases: list[dict[str, str]]):
        self._payers = {row["payer_id"]: row for row in payers}
        self._by_name: dict[str, str] = {}
        for row in payers:
            self._by_name[normalize_name(row["payer_name"])] = row["payer_id"]
        for row in aliases:
            self._by_name[normalize_name(row["alias"])] = row["payer_id"]

    def resolve(self, name_in_document: str) -> PayerMatch:
        payer_id = self._by_name.get(normalize_name(name_in_document))
        if payer_id is None:
            return PayerMatch(unresolved_id(name_in_document), name_in_document.strip(), False)
        row = self._payers[payer_id]
        return PayerMatch(payer_id, row["payer_name"], True)
