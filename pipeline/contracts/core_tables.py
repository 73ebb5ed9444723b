"""Contracts of the ``core`` schema: documents, codes and their dimensions and bridges."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.table_contract import ForeignKey, RowRule, TableContract
from pipeline.core.document_parser import DOCUMENT_STATUSES

CPT_OR_HCPCS = r"^(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$"
MODIFIER = r"^[0-9A-Z]{2}$"
POS_CODE = r"^[0-9]{2}$"
PAYER_TYPES = ["commercial", "medicare", "medicaid", "other government"]
FACILITY_SETTINGS = ["F", "O"]
LIST_OF_TEXT = {"sql_type": "VARCHAR[]"}


class Documents(pa.DataFrameModel):
    """One row per file found in the documents folder, with its parse status and the reasons for it."""

    document_id: Series[str] = pa.Field(unique=True, description="Path of the file relative to the documents folder.")
    source_path: Series[str] = pa.Field(description="Absolute path of the file when it was loaded.")
    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$", description="SHA-256 of the file's bytes.")
    code: Series[str] = pa.Field(
        nullable=True, str_matches=CPT_OR_HCPCS, description="Billing code loaded from this document; NULL if rejected."
    )
    declared_code: Series[str] = pa.Field(
        nullable=True,
        description="Code the title line declares, even when the document was rejected (e.g. a duplicate).",
    )
    status: Series[str] = pa.Field(
        isin=list(DOCUMENT_STATUSES),
        description="parsed: complete; partial: loaded but incomplete (see problems); rejected: nothing loaded.",
    )
    problems: Series[str] = pa.Field(description="Readable reasons, separated by '; '. Empty when parsed.")
    problems_list: Series[object] = pa.Field(
        description="The same reasons as a list (unnest it to count problem kinds); empty when parsed.",
        metadata=LIST_OF_TEXT,
    )
    problem_count: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Number of problems.")
    parsed_at: Series[pd.Timestamp] = pa.Field(description="When this run built the table (UTC).")
    file_size_bytes: Series[pd.Int64Dtype] = pa.Field(ge=0, description="File size in bytes.")
    file_modified_at: Series[pd.Timestamp] = pa.Field(
        description="File modification time (UTC); the newest document wins when two describe one code."
    )
    encoding: Series[str] = pa.Field(nullable=True, description="Text encoding detected; NULL when not text.")
    title: Series[str] = pa.Field(nullable=True, description="Title from the title line, if one was found.")

    class Config:
        name = "core.documents"


class DocumentSections(pa.DataFrameModel):
    """Every non-blank line of every text document, grouped by section heading, so no text is lost."""

    document_id: Series[str] = pa.Field(description="Document the section belongs to.")
    ordinal: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Position of the section in the document, from 0.")
    heading: Series[str] = pa.Field(nullable=True, description="Heading text; NULL for lines before the first heading.")
    body: Series[str] = pa.Field(description="The section's non-heading lines, as written.")

    class Config:
        name = "core.document_sections"
        unique = ["document_id", "ordinal"]


class Codes(pa.DataFrameModel):
    """One row per documented CPT/HCPCS billing code, from the newest document describing it."""

    code: Series[str] = pa.Field(unique=True, str_matches=CPT_OR_HCPCS, description="CPT or HCPCS Level II code.")
    code_system: Series[str] = pa.Field(isin=["CPT", "HCPCS"], description="Code system named on the title line.")
    title: Series[str] = pa.Field(nullable=True, description="Title from the title line.")
    description: Series[str] = pa.Field(nullable=True, description="First paragraph of the Billing Code Overview.")
    service_type: Series[str] = pa.Field(nullable=True, description="'Service type:' value; NULL if not available.")
    laterality: Series[str] = pa.Field(
        nullable=True, isin=["unilateral", "bilateral"], description="Laterality stated in the prose, if any."
    )
    approach: Series[str] = pa.Field(
        nullable=True,
        isin=["percutaneous", "laparoscopic", "thoracoscopic", "endoscopic", "transcatheter", "robotic", "open"],
        description="Surgical approach stated in the title or description, if any.",
    )
    imaging_guidance_included: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="True if imaging guidance is included in the code, False if reported separately."
    )
    document_id: Series[str] = pa.Field(description="Document this row was loaded from.")
    document_status: Series[str] = pa.Field(
        isin=["parsed", "partial"], description="Status of that document; partial means some facts may be missing."
    )

    class Config:
        name = "core.codes"


class Modifiers(pa.DataFrameModel):
    """Modifiers: the reference list plus any two-character modifier a document uses."""

    modifier_code: Series[str] = pa.Field(unique=True, str_matches=MODIFIER, description="Two-character modifier.")
    description: Series[str] = pa.Field(nullable=True, description="Meaning of the modifier.")
    is_real_modifier: Series[pd.BooleanDtype] = pa.Field(
        description="False for '00', which documents use to mean 'no modifier'."
    )
    in_reference: Series[pd.BooleanDtype] = pa.Field(
        description="True if listed in sources/reference/modifiers.csv; False if only seen in a document."
    )

    class Config:
        name = "core.modifiers"


class CodeModifiers(pa.DataFrameModel):
    """Which modifiers a code's document lists, and when to use them."""

    code: Series[str] = pa.Field(str_matches=CPT_OR_HCPCS, description="Billing code.")
    modifier_code: Series[str] = pa.Field(str_matches=MODIFIER, description="Modifier.")
    when_to_use: Series[str] = pa.Field(nullable=True, description="Guidance from the document's table.")
    description_in_document: Series[str] = pa.Field(nullable=True, description="Description as the document words it.")
    document_id: Series[str] = pa.Field(description="Document the row came from.")

    class Config:
        name = "core.code_modifiers"
        unique = ["code", "modifier_code"]


class Payers(pa.DataFrameModel):
    """Canonical payers from the reference list, plus unresolved names found in documents."""

    payer_id: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z0-9_]+$", description="Stable payer key.")
    payer_name: Series[str] = pa.Field(description="Canonical name (or the name as written, if unresolved).")
    payer_type: Series[str] = pa.Field(
        nullable=True,
        isin=PAYER_TYPES,
        description="commercial, medicare, medicaid or other government; NULL if unresolved.",
    )
    parent_organization: Series[str] = pa.Field(nullable=True, description="Parent company, if known.")
    is_resolved: Series[pd.BooleanDtype] = pa.Field(
        description="False for names not in sources/reference/payer_aliases.csv; map them there."
    )

    class Config:
        name = "core.payers"


class PayerAliases(pa.DataFrameModel):
    """How payers are written in documents, and the canonical payer each spelling means."""

    alias: Series[str] = pa.Field(unique=True, description="A spelling seen in documents.")
    payer_id: Series[str] = pa.Field(description="Canonical payer.")

    class Config:
        name = "core.payer_aliases"


class CodePayers(pa.DataFrameModel):
    """Key payers a code's document names."""

    code: Series[str] = pa.Field(str_matches=CPT_OR_HCPCS, description="Billing code.")
    payer_id: Series[str] = pa.Field(description="Payer.")
    name_in_document: Series[str] = pa.Field(description="The payer's name exactly as the document writes it.")
    document_id: Series[str] = pa.Field(description="Document the row came from.")

    class Config:
        name = "core.code_payers"
        unique = ["code", "payer_id"]


class CareSites(pa.DataFrameModel):
    """Sites of care with their CMS Place of Service codes and CMS facility setting."""

    care_site_id: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z0-9_]+$", description="Stable care-site key.")
    care_site_name: Series[str] = pa.Field(description="Care-site name.")
    pos_codes: Series[object] = pa.Field(
        list_items_match={"pattern": r"[0-9]{2}"},
        description="CMS two-digit Place of Service codes for this site (empty if unresolved).",
        metadata=LIST_OF_TEXT,
    )
    cms_facility_setting: Series[str] = pa.Field(
        nullable=True,
        isin=FACILITY_SETTINGS,
        description="F (facility) or O (non-facility/office), as in the CMS Place_Of_Srvc column.",
    )
    is_resolved: Series[pd.BooleanDtype] = pa.Field(
        description="False for phrases not in sources/reference/care_site_aliases.csv."
    )

    class Config:
        name = "core.care_sites"


class CareSiteAliases(pa.DataFrameModel):
    """Phrases that identify a care site in documents (rooms map to the setting they sit in)."""

    alias: Series[str] = pa.Field(unique=True, description="Phrase, matched case- and plural-insensitively.")
    care_site_id: Series[str] = pa.Field(description="Care site it maps to.")
    why: Series[str] = pa.Field(nullable=True, description="Reason for a non-obvious mapping.")

    class Config:
        name = "core.care_site_aliases"


class CodeCareSites(pa.DataFrameModel):
    """Typical sites of care for a code, from its 'Typical site of service' line and summary."""

    code: Series[str] = pa.Field(str_matches=CPT_OR_HCPCS, description="Billing code.")
    care_site_id: Series[str] = pa.Field(description="Care site.")
    name_in_document: Series[str] = pa.Field(description="The phrase exactly as the document writes it.")
    source: Series[str] = pa.Field(
        isin=["typical_site_of_service", "summary"], description="Where in the document the site was named first."
    )
    document_id: Series[str] = pa.Field(description="Document the row came from.")

    class Config:
        name = "core.code_care_sites"
        unique = ["code", "care_site_id"]


class PlaceOfService(pa.DataFrameModel):
    """CMS Place of Service code set."""

    place_of_service_code: Series[str] = pa.Field(unique=True, str_matches=POS_CODE, description="Two-digit POS code.")
    place_of_service_name: Series[str] = pa.Field(description="POS name.")

    class Config:
        name = "core.place_of_service"


class RejectedRows(pa.DataFrameModel):
    """Rows that failed a table contract before loading, with the reason; they are not in the target table."""

    table_name: Series[str] = pa.Field(description="Table the row was meant for.")
    document_id: Series[str] = pa.Field(nullable=True, description="Document the row came from, if any.")
    row_json: Series[str] = pa.Field(description="The row as JSON.")
    reason: Series[str] = pa.Field(description="Which contract rule failed.")

    class Config:
        name = "core.rejected_rows"


def _contract(model, primary_key=(), foreign_keys=(), row_rules=()) -> TableContract:
    return TableContract(model, tuple(primary_key), tuple(foreign_keys), tuple(row_rules))


_CODE_FK = ForeignKey("code", "core.codes", "code")
_DOC_FK = ForeignKey("document_id", "core.documents", "document_id")

CORE_CONTRACTS: tuple[TableContract, ...] = (
    _contract(
        Documents,
        ["document_id"],
        row_rules=[
            RowRule("status matches problems", "(status = 'parsed') = (problems = '')", "parsed iff no problems"),
            RowRule(
                "problem_count matches", "problem_count = len(problems_list)", "problem_count counts problems_list"
            ),
            RowRule("rejected has no code", "(status = 'rejected') = (code IS NULL)", "code is NULL iff rejected"),
        ],
    ),
    _contract(DocumentSections, ["document_id", "ordinal"], [_DOC_FK]),
    _contract(
        Codes,
        ["code"],
        [_DOC_FK],
        [
            RowRule(
                "code matches code_system",
                "CASE code_system WHEN 'CPT' THEN code GLOB '[0-9][0-9][0-9][0-9][0-9A-Z]' "
                "WHEN 'HCPCS' THEN code GLOB '[A-Z][0-9][0-9][0-9][0-9]' END",
                "a CPT code is four digits then a digit or letter; a HCPCS Level II code is a letter then four digits",
            )
        ],
    ),
    _contract(Modifiers, ["modifier_code"]),
    _contract(
        CodeModifiers,
        ["code", "modifier_code"],
        [_CODE_FK, ForeignKey("modifier_code", "core.modifiers", "modifier_code")],
    ),
    _contract(Payers, ["payer_id"]),
    _contract(PayerAliases, ["alias"], [ForeignKey("payer_id", "core.payers", "payer_id")]),
    _contract(CodePayers, ["code", "payer_id"], [_CODE_FK, ForeignKey("payer_id", "core.payers", "payer_id")]),
    _contract(
        CareSites,
        ["care_site_id"],
        [ForeignKey("pos_codes", "core.place_of_service", "place_of_service_code", element_wise=True)],
        [
            RowRule(
                "resolved site has a setting",
                "NOT is_resolved OR (cms_facility_setting IS NOT NULL AND len(pos_codes) > 0)",
                "resolved care sites carry POS codes and a CMS facility setting",
            )
        ],
    ),
    _contract(CareSiteAliases, ["alias"], [ForeignKey("care_site_id", "core.care_sites", "care_site_id")]),
    _contract(
        CodeCareSites,
        ["code", "care_site_id"],
        [_CODE_FK, ForeignKey("care_site_id", "core.care_sites", "care_site_id")],
    ),
    _contract(PlaceOfService, ["place_of_service_code"]),
    _contract(RejectedRows),
)
