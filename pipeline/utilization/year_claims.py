"""Which file provides a layout's data year when several files claim it.

The rule never looks at file names (only at the CMS release they carry), so the outcome does not
depend on how the names sort:
0. A complete file beats a cut one (no final newline, last line short of fields: an interrupted download),
   whatever their modification times.
1. A newer CMS release wins: among files whose names carry a release (``_R25_P05_V20_`` in
   ``MUP_PHY_R25_P05_V20_D23_Geo.csv``), those with an older release than the newest lose.
   Releases decide only between files that both carry one.
2. Otherwise the file already loaded for that layout and year (in an earlier run) keeps it.
   Otherwise a file ending with a line break beats one that does not (cut inside its last field?).
3. Otherwise the newest modification time wins, then the greater SHA-256 of the content (a
   fresh copy or clone can give every file the same time).
Files are tried in that order: the first one that loads (or keeps rows loaded earlier) holds the
year, and every other file is rejected with a reason naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.utilization.cms_layouts import RecognizedHeader, release_label
from pipeline.utilization.completeness import FileIdentity
from pipeline.utilization.file_access import StoredFile


@dataclass
class Candidate:
    """A file recognized as CMS data of one layout and year, with what the warehouse knew about it."""

    path: Path
    stored: StoredFile
    header: RecognizedHeader
    delimiter: str
    year: int
    release: tuple[int, int, int] | None
    size: int
    mtime_ns: int
    loaded_before: bool
    outranked_by: tuple[int, int, int] | None = None  # set by rank_candidates: a newer release in the folder
    identity: FileIdentity | None = None  # size, times and inode before reading (compared after the load)
    cut_off: str | None = None  # why the file looks cut off (an interrupted download), None if complete
    unterminated: bool = False  # no final line break (possibly cut inside its last field)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def layout(self) -> str:
        return self.header.layout.name


def rank_candidates(candidates: list[Candidate], digest: Callable[[Candidate], str]) -> list[Candidate]:
    """Candidates of one layout and year, best first (see the module docstring)."""
    releases = [c.release for c in candidates if c.release is not None]
    newest = max(releases) if len(releases) > 1 else None
    outranked = [c for c in candidates if newest is not None and c.release is not None and c.release < newest]
    for candidate in outranked:
        candidate.outranked_by = newest
    pool = [c for c in candidates if c not in outranked]
    digests = _tie_digests(pool, digest)
    pool.sort(key=lambda c: (*_preference(c), digests.get(c.name, "")), reverse=True)
    outranked.sort(key=lambda c: (c.cut_off is None, c.release, *_preference(c)), reverse=True)
    return sorted(pool + outranked, key=lambda c: c.cut_off is None, reverse=True)  # stable: cut files last


def _preference(candidate: Candidate) -> tuple[bool, bool, bool, int]:
    """Complete; loaded in an earlier run; ends with a line break; newest."""
    return candidate.cut_off is None, candidate.loaded_before, not candidate.unterminated, candidate.mtime_ns


def _tie_digests(pool: list[Candidate], digest: Callable[[Candidate], str]) -> dict[str, str]:
    """SHA-256 only of files that tie on everything else (hashing a 3 GB file costs seconds)."""
    seen: dict[tuple[bool, bool, bool, int], list[Candidate]] = {}
    for candidate in pool:
        key = _preference(candidate)
        seen.setdefault(key, []).append(candidate)
    return {c.name: digest(c) for group in seen.values() if len(group) > 1 for c in group}


def why_holder_wins(holder: Candidate, other: Candidate, digest: Callable[[Candidate], str]) -> str:
    """Why ``holder`` (ranked before ``other``) keeps the year."""
    if other.cut_off is not None and holder.cut_off is None:
        return f"it is complete; {other.name} is {other.cut_off}"
    if other.outranked_by is not None and other.release is not None:
        return f"{other.name} is CMS release {release_label(other.release)}, older than {release_label(other.outranked_by)}"
    if holder.loaded_before and not other.loaded_before:
        return "it was loaded first, in an earlier run, and keeps the year"
    if other.unterminated and not holder.unterminated and holder.loaded_before == other.loaded_before:
        return f"it ends with a line break; {other.name} does not (cut inside its last field?)"
    if holder.mtime_ns > other.mtime_ns:
        return "its modification time is newer"
    return f"same modification time; the greater SHA-256 wins ({digest(holder)[:12]}… > {digest(other)[:12]}…)"


def conflict_reason(holder: Candidate, other: Candidate, why: str) -> str:
    return (
        f"{holder.name} provides {holder.layout} data for {holder.year} ({why}); one file per layout and year: "
        "remove one of the two files"
    )
