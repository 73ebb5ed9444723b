"""Contracts of the ``core`` schema: documents, codes and their dimensions and bridges."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.rejects import RejectedRow
from pipeline.contracts.table_contract import TableContract, list_of_text, references, row_rule
from pipeline.core.domains import (
    APPROACHES,
    CARE_SITE_SOURCES,
    CODE_FORMATS,
    CODE_SYSTEMS,
    CPT_OR_HCPCS,
    DOCUMENT_STATUSES,
    FACILITY_SETTINGS,
    LATERALITIES,
    LOADED_DOCUMENT_STATUSES,
    MODIFIER_CODE,
    PAYER_TYPES,
    POS_CODE,
    SHA256_HEX,
    SNAKE_ID,
)

_CODE = references("core.codes.code")
_DOCUMENT = references("core.documents.document_id")
# Written from the one definition of each code format, so the rule cannot drift from the column check.
_CODE_MATCHES_SYSTEM = "CASE code_system {} END".format(
    " ".join(f"WHEN '{system}' THEN regexp_full_match(code, '{pattern}')" for system, pattern in CODE_FORMATS.items())
)


class Documents(pa.DataFrameModel):
    """One row per file found in the documents folder, with its parse status and the reasons for it."""

    document_id: Series[str] = pa.Field(unique=True, description="Path of the file relative to the documents folder.")
    source_path: Series[str] = pa.Field(description="Absolute path of the file when it was loaded.")
    sha256: Series[str] = pa.Field(
        nullable=True, fullmatch=SHA256_HEX, description="SHA-256 of the file's bytes; NULL for skipped entries."
    )
    code: Series[str] = pa.Field(
        nullable=True, fullmatch=CPT_OR_HCPCS, description="Billing code loaded from this document; NULL if rejected."
    )
    declared_code: Series[str] = pa.Field(
        nullable=True,
        description="Code the title line declares, even when the document was rejected (e.g. a duplicate).",
    )
    status: Series[str] = pa.Field(
        isin=list(DOCUMENT_STATUSES),
        description=(
            "parsed: complete; partial: loaded but incomplete (see problems); rejected: nothing loaded; "
            "skipped: not loaded (a symbolic link, FIFO or device; not a document, such as an image, a script or a README; "
            "or still being written when it was read; see problems)."
        ),
    )
    problems: Series[str] = pa.Field(description="Readable reasons, separated by '; '. Empty when parsed.")
    problems_list: Series[object] = pa.Field(
        description="The same reasons as a list (unnest it to count problem kinds); empty when parsed.",
        metadata=list_of_text("core.documents.problems"),
    )
    problem_count: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Number of problems.")
    parsed_at: Series[pd.Timestamp] = pa.Field(
        description="When the run that read this version of the document started reading the documents folder (UTC); a later run that finds the row unchanged keeps it."
    )
    file_size_bytes: Series[pd.Int64Dtype] = pa.Field(ge=0, description="File size in bytes.")
    file_modified_at: Series[pd.Timestamp] = pa.Field(
        description="File modification time (UTC); the newest document wins when two describe one code."
    )
    encoding: Series[str] = pa.Field(nullable=True, description="Text encoding detected; NULL when not text.")
    title: Series[str] = pa.Field(nullable=True, description="Title from the title line, if one was found.")

    status_matches_problems = row_rule(
        "status matches problems", "(status = 'parsed') = (problems = '')", "parsed iff no problems"
    )
    problem_count_matches = row_rule(
        "problem_count matches", "problem_count = len(problems_list)", "problem_count counts problems_list"
    )
    no_code_unless_loaded = row_rule(
        "code only when loaded",
        "(status IN ('rejected', 'skipped')) = (code IS NULL)",
        "code is NULL iff the document was rejected or skipped",
    )
    hash_when_read = row_rule(
        "sha256 when read",
        "sha256 IS NOT NULL OR status IN ('skipped', 'rejected')",
        "every file that was read has its hash (skipped and unreadable entries have none)",
    )

    class Config:
        name = "core.documents"


class DocumentSections(pa.DataFrameModel):
    """Every non-blank line of every text document, grouped by section heading, so no text is lost."""

    document_id: Series[str] = pa.Field(description="Document the section belongs to.", metadata=_DOCUMENT)
    ordinal: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Position of the section in the document, from 0.")
    heading: Series[str] = pa.Field(nullable=True, description="Heading text; NULL for lines before the first heading.")
    # zstd: DuckDB's default string compression leaves long section text nearly as it is (at 100,000 documents
    # 174 blocks against 15, and 0.35 CPU-s more at every build of the table).
    body: Series[str] = pa.Field(
        description="The section's non-heading lines, as written.", metadata={"compression": "zstd"}
    )

    class Config:
        name = "core.document_sections"
        unique = ["document_id", "ordinal"]


class Codes(pa.DataFrameModel):
    """One row per documented CPT/HCPCS billing code, from the newest document describing it."""

    code: Series[str] = pa.Field(unique=True, fullmatch=CPT_OR_HCPCS, description="CPT or HCPCS Level II code.")
    code_system: Series[str] = pa.Field(isin=CODE_SYSTEMS, description="Code system named on the title line.")
    title: Series[str] = pa.Field(nullable=True, description="Title from the title line.")
    description: Series[str] = pa.Field(nullable=True, description="First paragraph of the Billing Code Overview.")
    service_type: Series[str] = pa.Field(nullable=True, description="'Service type:' value; NULL if not available.")
    laterality: Series[str] = pa.Field(
        nullable=True, isin=LATERALITIES, description="Laterality stated in the prose, if any."
    )
    approach: Series[str] = pa.Field(
        nullable=True,
        isin=APPROACHES,
        description="Surgical approach stated in the title or description, if any.",
    )
    imaging_guidance_included: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="True if imaging guidance is included in the code, False if reported separately."
    )
    document_id: Series[str] = pa.Field(description="Document this row was loaded from.", metadata=_DOCUMENT)
    document_status: Series[str] = pa.Field(
        isin=LOADED_DOCUMENT_STATUSES, description="Status of that document; partial means some facts may be missing."
    )

    code_matches_code_system = row_rule(
        "code matches code_system",
        _CODE_MATCHES_SYSTEM,
        "a CPT code is five digits or four digits and A/F/M/T/U; a HCPCS Level II code is a letter and four digits",
    )

    class Config:
        name = "core.codes"


class Modifiers(pa.DataFrameModel):
    """Modifiers: the reference list plus any two-character modifier a document uses."""

    modifier_code: Series[str] = pa.Field(unique=True, fullmatch=MODIFIER_CODE, description="Two-character modifier.")
    description: Series[str] = pa.Field(
        nullable=True,
        description="Meaning of the modifier: the HCPCS Level II file's text where it has the modifier, else the "
        "project's reference list, else the document's (description_source says which).",
    )
    is_real_modifier: Series[pd.BooleanDtype] = pa.Field(
        description="False for '00', which documents use to mean 'no modifier'."
    )
    in_reference: Series[pd.BooleanDtype] = pa.Field(
        description="True if listed in sources/reference/modifiers.csv; False if only seen in a document."
    )
    description_source: Series[str] = pa.Field(
        nullable=True,
        isin=["hcpcs_level2", "reference", "document"],
        description="Where description comes from: hcpcs_level2 (the official text of the newest HCPCS Level II "
        "release in medicare.hcpcs_level2), reference (sources/reference/modifiers.csv) or document (the first "
        "document listing the modifier); NULL when none describes it.",
    )

    class Config:
        name = "core.modifiers"


class CodeModifiers(pa.DataFrameModel):
    """Which modifiers a code's document lists, and when to use them."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_CODE)
    modifier_code: Series[str] = pa.Field(
        fullmatch=MODIFIER_CODE, description="Modifier.", metadata=references("core.modifiers.modifier_code")
    )
    when_to_use: Series[str] = pa.Field(nullable=True, description="Guidance from the document's table.")
    description_in_document: Series[str] = pa.Field(nullable=True, description="Description as the document words it.")
    document_id: Series[str] = pa.Field(description="Document the row came from.", metadata=_DOCUMENT)
    line_number: Series[pd.Int64Dtype] = pa.Field(
        ge=1, description="Line of the document holding the modifier's table row (as problems cite it)."
    )

    class Config:
        name = "core.code_modifiers"
        unique = ["code", "modifier_code"]


class Payers(pa.DataFrameModel):
    """Canonical payers from the reference list, plus unresolved names found in documents."""

    payer_id: Series[str] = pa.Field(unique=True, fullmatch=SNAKE_ID, description="Stable payer key.")
    payer_name: Series[str] = pa.Field(description="Canonical name (or the name as written, if unresolved).")
    payer_type: Series[str] = pa.Field(
        nullable=True,
        isin=PAYER_TYPES,
        description="commercial, medicare, medicaid or other government; NULL if unresolved.",
    )
    parent_organization: Series[str] = pa.Field(nullable=True, description="Parent company, if known.")
    sop_typology_code: Series[str] = pa.Field(
        nullable=True,
        fullmatch=r"^[1-9]$",
        description="Top level of the PHDSC Source of Payment Typology (1 Medicare, 2 Medicaid, 3 other government, "
        "5 private insurance, 6 Blue Cross/Blue Shield); NULL if unresolved.",
    )
    is_resolved: Series[pd.BooleanDtype] = pa.Field(
        description="False for names not in sources/reference/payer_aliases.csv; map them there."
    )

    class Config:
        name = "core.payers"


class PayerAliases(pa.DataFrameModel):
    """How payers are written in documents, and the canonical payer each spelling means."""

    alias: Series[str] = pa.Field(unique=True, description="A spelling seen in documents.")
    payer_id: Series[str] = pa.Field(description="Canonical payer.", metadata=references("core.payers.payer_id"))

    class Config:
        name = "core.payer_aliases"


class CodePayers(pa.DataFrameModel):
    """Key payers a code's document names."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_CODE)
    payer_id: Series[str] = pa.Field(description="Payer.", metadata=references("core.payers.payer_id"))
    name_in_document: Series[str] = pa.Field(description="The payer's name exactly as the document writes it.")
    document_id: Series[str] = pa.Field(description="Document the row came from.", metadata=_DOCUMENT)

    class Config:
        name = "core.code_payers"
        unique = ["code", "payer_id"]


class CareSites(pa.DataFrameModel):
    """Sites of care with their CMS Place of Service codes and CMS facility setting."""

    care_site_id: Series[str] = pa.Field(unique=True, fullmatch=SNAKE_ID, description="Stable care-site key.")
    care_site_name: Series[str] = pa.Field(description="Care-site name.")
    pos_codes: Series[object] = pa.Field(
        list_items_match={"pattern": POS_CODE},
        description="CMS two-digit Place of Service codes for this site (empty if unresolved).",
        metadata={
            **list_of_text("marts.code_care_sites.pos_code"),
            **references("core.place_of_service.place_of_service_code"),
        },
    )
    cms_facility_setting: Series[str] = pa.Field(
        nullable=True,
        isin=FACILITY_SETTINGS,
        description="F (facility) or O (non-facility/office), as in the CMS Place_Of_Srvc column.",
    )
    is_resolved: Series[pd.BooleanDtype] = pa.Field(
        description="False for phrases not in sources/reference/care_site_aliases.csv."
    )

    resolved_site_has_a_setting = row_rule(
        "resolved site has a setting",
        "NOT is_resolved OR (cms_facility_setting IS NOT NULL AND len(pos_codes) > 0)",
        "resolved care sites carry POS codes and a CMS facility setting",
    )

    class Config:
        name = "core.care_sites"


class CareSiteAliases(pa.DataFrameModel):
    """Phrases that identify a care site in documents (rooms map to the setting they sit in)."""

    alias: Series[str] = pa.Field(unique=True, description="Phrase, matched case- and plural-insensitively.")
    care_site_id: Series[str] = pa.Field(
        description="Care site it maps to.", metadata=references("core.care_sites.care_site_id")
    )
    why: Series[str] = pa.Field(nullable=True, description="Reason for a non-obvious mapping.")

    class Config:
        name = "core.care_site_aliases"


class CodeCareSites(pa.DataFrameModel):
    """Typical sites of care for a code, from its 'Typical site of service' line and summary."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_CODE)
    care_site_id: Series[str] = pa.Field(description="Care site.", metadata=references("core.care_sites.care_site_id"))
    name_in_document: Series[str] = pa.Field(description="The phrase exactly as the document writes it.")
    source: Series[str] = pa.Field(
        isin=CARE_SITE_SOURCES, description="Where in the document the site was named first."
    )
    document_id: Series[str] = pa.Field(description="Document the row came from.", metadata=_DOCUMENT)

    class Config:
        name = "core.code_care_sites"
        unique = ["code", "care_site_id"]


class DocumentCodes(pa.DataFrameModel):
    """Every code each document loads, in document order: a document may describe several codes (a primary code
    and its add-on, each with its own title line). ``core.documents.code`` is the first of them; a code a newer
    document won is not listed here (it is named in the document's problems)."""

    document_id: Series[str] = pa.Field(description="Document the code was loaded from.", metadata=_DOCUMENT)
    code: Series[str] = pa.Field(
        unique=True, fullmatch=CPT_OR_HCPCS, description="Billing code loaded from the document.", metadata=_CODE
    )
    ordinal: Series[pd.Int64Dtype] = pa.Field(
        ge=0, description="Position of the code's title line among the document's codes, from 0."
    )

    class Config:
        name = "core.document_codes"
        unique = ["document_id", "ordinal"]


class PlaceOfService(pa.DataFrameModel):
    """CMS Place of Service code set."""

    place_of_service_code: Series[str] = pa.Field(unique=True, fullmatch=POS_CODE, description="Two-digit POS code.")
    place_of_service_name: Series[str] = pa.Field(description="POS name.")

    class Config:
        name = "core.place_of_service"


class RejectedRows(RejectedRow):
    """Rows that failed a core table contract before loading, with every reason; they are not in the target table.
    Same columns as utilization.quarantine; document_id, row_json and reason are the earlier names, kept for
    existing queries."""

    document_id: Series[str] = pa.Field(nullable=True, description="Same as source_file (earlier name).")
    row_json: Series[str] = pa.Field(nullable=True, description="Same as row_data (earlier name).")
    reason: Series[str] = pa.Field(nullable=True, description="Same as reasons (earlier name).")

    class Config:
        name = "core.rejected_rows"


CORE_CONTRACTS: tuple[TableContract, ...] = tuple(
    TableContract(model)
    for model in (
        Documents,
        DocumentSections,
        Codes,
        Modifiers,
        CodeModifiers,
        Payers,
        PayerAliases,
        CodePayers,
        CareSites,
        CareSiteAliases,
        CodeCareSites,
        DocumentCodes,
        PlaceOfService,
        RejectedRows,
    )
)
