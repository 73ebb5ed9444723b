"""Facts stated in prose: laterality, approach and whether imaging guidance is included.

Only affirmative mentions count.  A mention negated or contrasted away ("Without Endoscopic
Cyclophotocoagulation", "rather than an open approach", "not performed laparoscopically", "with or
without fluoroscopic guidance", "non-endoscopic") is not a fact: the words just before it, inside its clause,
decide.  A clause ends at punctuation (``.,;:()``), so "without general anesthesia, the catheter is placed
percutaneously" still says percutaneous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pipeline.core.domains import APPROACHES

_LATERALITY = re.compile(r"\b(unilateral|bilateral)\b", re.IGNORECASE)
# "Unilateral or Bilateral Cannulation": either side count, so neither is stated.
_EITHER_LATERALITY = re.compile(
    r"\b(?:unilateral|bilateral)\s*(?:/|\bor\b|\band/or\b)\s*(?:unilateral|bilateral)\b", re.IGNORECASE
)
# "percutaneously", "laparoscopically": the adverb states the approach as surely as the adjective.
_APPROACH_WORDS = r"(percutaneous|laparoscopic|thoracoscopic|endoscopic|transcatheter|robotic)(?:al)?(?:ly)?"
# "open" alone is too common a word ("open MRI", "remains open"): in prose it counts before a procedure,
# with up to three describing words between ("an open anterior cervical discectomy"; "open to
# interpretation" is no approach).
_OPEN_PROCEDURE = (
    r"\bopen\s+(?:(?!(?:to|of|the|a|an|and|or|for|in|on|at|is|are|was|with|by|as|from)\s)[a-z-]++\s+){0,3}?(?:approach|procedure|surgery|surgical|operation|technique|repair|resection"
    r"|excision|incision|exploration|reduction|fixation|treatment|ablation|biopsy|\w*?(?:ectomy|otomy|ostomy|plasty|pexy"
    r"|rrhaphy|desis))\b"
)
_APPROACH_STRICT = re.compile(rf"\b{_APPROACH_WORDS}\b|{_OPEN_PROCEDURE}", re.IGNORECASE)
_APPROACH_IN_TITLE = re.compile(rf"\b{_APPROACH_WORDS}\b|\b(open)\b", re.IGNORECASE)
_APPROACH_NAMES = {approach: re.compile(approach, re.IGNORECASE) for approach in APPROACHES}
# Said just before a mention (within its clause), these take it back.
_NEGATION = re.compile(
    r"\b(?:without|no|not|non|never|nor|neither|rather\s+than|instead\s+of|other\s+than|excluding|except"
    r"|versus|vs|unlike|avoids?|avoiding|converted\s+from)\b",
    re.IGNORECASE,
)
_NEGATION_WINDOW_WORDS = 5
# Each negation holds one of these, in letters matched only in their ASCII cases: a cheap necessary test.
_NEGATION_PARTS = ("no", "ther", "thout", "tead", "exc", "v", "unl")
_CLAUSE_END = re.compile(r"[.,;:()\[\]!?]")
# Each approach word starts with one of these (letters matched only in their ASCII cases).
_APPROACH_STARTS = ("percu", "laparo", "thoraco", "endo", "tran", "robot", "open")
# Said just after a mention (within its clause): "an open approach is not used".
_NEGATED_AFTER = re.compile(
    r"^[^.,;:()]{0,40}?\b(?:is|are|was|were)\s+not\b|^[^.,;:()]{0,40}?\bnot\s+(?:be\s+)?(?:included|used|performed)\b",
    re.IGNORECASE,
)
# CT, ultrasound, MR, fluoroscopic or plain "image"/"imaging" guidance.
_IMAGING_GUIDANCE = re.compile(
    r"\b(?:imaging|image|ct|computed tomography|ultrasound|ultrasonic|ultrasonographic|sonographic|mr|mri"
    r"|magnetic resonance|fluoroscopic|fluoroscopy|radiologic|radiological)[\s-]+guidance\b",
    re.IGNORECASE,
)
_IMAGING_NOT_INCLUDED = re.compile(
    r"\bnot (?:be )?(?:included|bundled|inherent)\b|\bexcluded\b|\bnot part of\b"
    r"|(?<!not )(?<!not be )\b(?:reported|billed|coded) separately\b|(?<!not )\bseparately (?:reportable|billable|reported)\b"
    r"|(?<!not )(?<!not be )\breport(?:ed)? (?:it |them )?separately\b",
    re.IGNORECASE,
)
_IMAGING_INCLUDED = re.compile(
    r"\b(?:included|includes|including|include|inclusive|bundled|inherent|integral)\b"
    r"|\bnot (?:separately (?:reportable|billable|reported)|(?:be )?(?:reported|billed|coded) separately)\b",
    re.IGNORECASE,
)


def is_affirmative(text: str, start: int, end: int, *, look_after: bool = True) -> bool:
    """True when the mention at ``text[start:end]`` is stated, not negated or contrasted away.

    ``look_after``: also "… is not used" after it (imaging guidance has its own reading of what follows:
    "is not included" is a fact about billing there, not a negated mention)."""
    clause = _CLAUSE_END.split(text[max(0, start - 120) : start])[-1]
    words = clause.split()[-_NEGATION_WINDOW_WORDS:]
    if words:
        said = " ".join(words).replace("-", " ")
        if _may_negate(said.lower()) and _NEGATION.search(said):
            return False
    if not look_after:
        return True
    after = text[end : end + 80]
    return "not" not in after.lower() or not _NEGATED_AFTER.search(after)


def _may_negate(lowered: str) -> bool:
    """Whether the lower-cased words hold one of ``_NEGATION_PARTS`` (spelled out: faster than a loop)."""
    return (
        "no" in lowered
        or "ther" in lowered
        or "v" in lowered
        or "thout" in lowered
        or "tead" in lowered
        or "exc" in lowered
        or "unl" in lowered
    )


def _affirmed(pattern: re.Pattern[str], text: str, *, look_after: bool = True, start: int = 0) -> re.Match[str] | None:
    return next(
        (m for m in pattern.finditer(text, start) if is_affirmative(text, m.start(), m.end(), look_after=look_after)),
        None,
    )


def laterality(prose: str) -> str | None:
    # The letters of "lateral" match only their ASCII cases, so a match needs "lateral" in the lower-cased
    # text: most prose is settled by that test, without the (slow, word-boundary-led) regular expression.
    lowered = prose.lower()
    if "lateral" not in lowered:
        return None
    if "lateral or" in lowered or "lateral and/or" in lowered or "lateral/" in lowered or "lateral /" in lowered:
        prose = _EITHER_LATERALITY.sub(lambda either: " " * len(either.group()), prose)
    # Every match holds "lateral" (ASCII letters only) two or three characters in: in ASCII prose, where the
    # lower-cased text has the same offsets, nothing before its first "lateral" needs scanning.
    start = max(0, lowered.find("lateral") - 3) if prose.isascii() else 0
    match = _affirmed(_LATERALITY, prose, start=start)
    return match.group(1).lower() if match else None


def approach(title: str | None, prose: str) -> str | None:
    match = _affirmed(_APPROACH_IN_TITLE, title or "") or _affirmed_approach(_APPROACH_STRICT, prose)
    if match is None:
        return None
    # Matched as the pattern matched (case-insensitively, so "ENDOſCOPIC" is endoscopic), never by lower():
    # lower() keeps "ſ" and turns "İ" into two characters, and a match it could not name raised StopIteration.
    return next(a for a in APPROACHES if _APPROACH_NAMES[a].match(match.group(0)))


def _affirmed_approach(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """``_affirmed`` for an approach pattern on prose: in ASCII text (the lower-cased text has the same
    offsets) no match starts before the first word an approach starts with, and without one there is none."""
    if not text.isascii():
        return _affirmed(pattern, text)
    lowered = text.lower()
    found = [position for start in _APPROACH_STARTS if (position := lowered.find(start)) != -1]
    return _affirmed(pattern, text, start=min(found)) if found else None


def imaging_guidance_included(text: str | Iterable[str]) -> bool | None:
    """First sentence stating imaging guidance (affirmatively) that says so decides: included (True),
    separate (False).  "Performed without imaging guidance" states nothing about billing it."""
    lines = text.split("\n") if isinstance(text, str) else text
    for line in lines:
        if "guidance" not in line.lower():
            continue
        for sentence in line.split("."):
            # "dance" matches only its ASCII cases ("guidance" also matches "guİdance"): a cheap necessary test.
            if "dance" not in sentence.lower():
                continue
            said = (
                _guidance_said(sentence) if len(sentence) <= _CACHED_SENTENCE else _guidance_said.__wrapped__(sentence)
            )
            if said is not None:
                return said
    return None


# Sentences about guidance are mostly boilerplate repeated from document to document ("Imaging guidance, when
# used, is included …"): their reading is kept.  Only short ones, so a giant sentence cannot pin memory.
_CACHED_SENTENCE = 400


@lru_cache(maxsize=2048)
def _guidance_said(sentence: str) -> bool | None:
    """What one sentence says about imaging guidance: included (True), separate (False) or nothing (None)."""
    if not _affirmed(_IMAGING_GUIDANCE, sentence, look_after=False):
        return None
    if _IMAGING_NOT_INCLUDED.search(sentence):
        return False
    if _IMAGING_INCLUDED.search(sentence):
        return True
    return None
