"""Enumerated domains of the warehouse, defined once and imported everywhere else.

Code formats follow the published code sets: a CPT code is five digits (Category I)
or four digits and one of the letters CPT uses (``F`` Category II, ``T`` Category III,
``A``/``M``/``U`` for vaccines, multianalyte assays and PLA tests); a HCPCS Level II
code is a letter and four digits.  Patterns are anchored so that pandera, Python and
the generated SQL read them the same way.
"""

from __future__ import annotations

CPT_CODE = r"^[0-9]{4}[0-9AFMTU]$"
HCPCS_CODE = r"^[A-Z][0-9]{4}$"
CPT_OR_HCPCS = r"^(?:[0-9]{4}[0-9AFMTU]|[A-Z][0-9]{4})$"
CODE_FORMATS = {"CPT": CPT_CODE, "HCPCS": HCPCS_CODE}
CODE_FORMAT_HINTS = {
    "CPT": "five digits, or four digits then A, F, M, T or U",
    "HCPCS": "a letter then four digits",
}
CODE_SYSTEMS = tuple(CODE_FORMATS)

MODIFIER_CODE = r"^[0-9A-Z]{2}$"
POS_CODE = r"^[0-9]{2}$"
NPI = r"^[0-9]{10}$"
SHA256_HEX = r"^[0-9a-f]{64}$"
SNAKE_ID = r"^[a-z0-9_]+$"

LATERALITIES = ("unilateral", "bilateral")
APPROACHES = ("percutaneous", "laparoscopic", "thoracoscopic", "endoscopic", "transcatheter", "robotic", "open")
# CMS Place_Of_Srvc: facility or non-facility (office); not the two-digit POS code.
FACILITY_SETTINGS = ("F", "O")
PAYER_TYPES = ("commercial", "medicare", "medicaid", "other government")

PARSED, PARTIAL, REJECTED = "parsed", "partial", "rejected"
LOADED, SKIPPED = "loaded", "skipped"
# skipped: a folder entry that is not read at all (symlink, FIFO, device), recorded with the reason.
DOCUMENT_STATUSES = (PARSED, PARTIAL, REJECTED, SKIPPED)
# A rejected document never contributes a code, so code rows only carry these.
LOADED_DOCUMENT_STATUSES = (PARSED, PARTIAL)


SOURCE_FILE_STATUSES = (LOADED, REJECTED, SKIPPED)

# Where in a document a care site was named first.
CARE_SITE_SOURCES = ("typical_site_of_service", "summary")

GEO_LEVELS = ("National", "State")
GEO_TYPES = ("national", "state", "territory", "armed_forces", "unknown", "foreign_country")
YES_NO = ("Y", "N")
