"""Facts stated in prose: laterality, approach and whether imaging guidance is included."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.core.domains import APPROACHES

_LATERALITY = re.compile(r"\b(unilateral|bilateral)\b", re.IGNORECASE)
_APPROACH_STRICT = re.compile(
    r"\b(percutaneous|laparoscopic|thoracoscopic|endoscopic|transcatheter|robotic)\b"
    r"|\bopen\s+(?:approach|procedure|surgical|technique)\b",
    re.IGNORECASE,
)
_APPROACH_IN_TITLE = re.compile(r"\b(" + "|".join(APPROACHES) + r")\b", re.IGNORECASE)
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


def laterality(prose: str) -> str | None:
    # The letters of "lateral" match only their ASCII cases, so a match needs "lateral" in the lower-cased
    # text: most prose is settled by that test, without the (slow, word-boundary-led) regular expression.
    if "lateral" not in prose.lower():
        return None
    match = _LATERALITY.search(prose)
    return match.group(1).lower() if match else None


def approach(title: str | None, prose: str) -> str | None:
    match = _APPROACH_IN_TITLE.search(title or "") or _APPROACH_STRICT.search(prose)
    if match is None:
        return None
    return next(a for a in APPROACHES if match.group(0).lower().startswith(a))


def imaging_guidance_included(text: str | Iterable[str]) -> bool | None:
    """First sentence mentioning imaging guidance that says so decides: included (True), separate (False)."""
    lines = text.split("\n") if isinstance(text, str) else text
    for line in lines:
        if "guidance" not in line.lower():
            continue
        for sentence in line.split("."):
            # "dance" matches only its ASCII cases ("guidance" also matches "guİdance"): a cheap necessary test.
            if "dance" not in sentence.lower() or not _IMAGING_GUIDANCE.search(sentence):
                continue
            if _IMAGING_NOT_INCLUDED.search(sentence):
                return False
            if _IMAGING_INCLUDED.search(sentence):
                return True
    return None
