"""Map care-site phrases from documents to reference care sites and POS codes.

A phrase matches the longest alias from ``sources/reference/care_site_aliases.csv``
that appears in it as whole words, after case and plural folding, so
"other procedural suite capable of image-guided thoracic interventions" finds
"procedural suite" and "Hospital outpatient departments" finds
"hospital outpatient department".  Rooms map to the setting they sit in; that
is a property of the alias list, not of this code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.name_matching import UNRESOLVED_PREFIX, normalize_name, unresolved_id
from pipeline.core.reference_data import pos_code_list

__all__ = ["UNRESOLVED_PREFIX", "CareSiteDirectory", "CareSiteMatch"]


@dataclass(frozen=True, slots=True)
class CareSiteMatch:
    care_site_id: str
    care_site_name: str
    pos_codes: tuple[str, ...]
    is_resolved: bool


class CareSiteDirectory:
    def __init__(self, care_sites: list[dict[str, str]], aliases: list[dict[str, str]]):
        self._sites = {row["care_site_id"]: row for row in care_sites}
        pairs = [(normalize_name(row["care_site_name"]), row["care_site_id"]) for row in care_sites]
        pairs += [(normalize_name(row["alias"]), row["care_site_id"]) for row in aliases]
        # Longest alias first, so "hospital outpatient department" beats "office"-style short words.
        self._aliases = sorted(dict(pairs).items(), key=lambda item: -len(item[0]))

    def resolve(self, name_in_document: str) -> CareSiteMatch:
        padded = f" {normalize_name(name_in_document)} "
        for alias, care_site_id in self._aliases:
            if f" {alias} " in padded:
                row = self._sites[care_site_id]
                return CareSiteMatch(
                    care_site_id,
                    row["care_site_name"],
                    tuple(pos_code_list(row["pos_codes"])),
                    True,
                )
        return CareSiteMatch(unresolved_id(name_in_document), name_in_document.strip(), (), False)
