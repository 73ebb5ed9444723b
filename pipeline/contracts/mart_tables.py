"""Contracts of the BI-facing marts.

``marts.*`` holds only column types that SQLAlchemy-based BI tools recognize (duckdb-engine reports
DuckDB lists as NullType, which Superset can neither filter nor chart). The list columns BI users
used to get from ``marts.code_overview`` and ``marts.code_utilization`` live on in the ``marts_lists``
schema, for SQL users and Python clients; ``marts.*`` has text columns and long-form marts instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.medicare_tables import PAYMENT_SETTINGS
from pipeline.contracts.table_contract import TableContract, list_of_text, references, sql_literal
from pipeline.core.domains import (
    CODE_SYSTEMS,
    CPT_OR_HCPCS,
    FACILITY_SETTINGS,
    GEO_LEVELS,
    GEO_TYPES,
    LOADED_DOCUMENT_STATUSES,
    MODIFIER_CODE,
    PAYER_TYPES,
    POS_CODE,
    SNAKE_ID,
)

BI_SCHEMA = "marts"
LISTS_SCHEMA = "marts_lists"
DATE = {"sql_type": "DATE"}
# Marts join to each other through code_overview (one row per code, like core.codes, which it references).
_OVERVIEW = references("marts.code_overview.code")
TEXT_LIST_NOTE = "comma-separated with ', ' in the order of the list in marts_lists; NULL when there are none"


# --- marts_lists: the list-valued columns, for SQL users (not for SQLAlchemy-based BI tools) ---------------


class CodeOverviewLists(pa.DataFrameModel):
    """One row per documented code with its modifiers, payers, care sites and POS codes as DuckDB lists (VARCHAR[]).
    The text columns of marts.code_overview are these lists joined with ', '."""

    code: Series[str] = pa.Field(unique=True, fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_OVERVIEW)
    modifiers: Series[object] = pa.Field(
        list_items_match={"pattern": MODIFIER_CODE.strip("^$")},
        description="Real modifiers listed for the code (excludes '00'), sorted.",
        metadata=list_of_text("marts.code_overview.modifiers_text", "marts.code_modifiers.modifier_code"),
    )
    payers: Series[object] = pa.Field(
        description="Canonical payer names, sorted.",
        metadata=list_of_text("marts.code_overview.payers_text", "marts.code_payers.payer_name"),
    )
    care_sites: Series[object] = pa.Field(
        description="Care-site names, sorted.",
        metadata=list_of_text("marts.code_overview.care_sites_text", "marts.code_care_sites.care_site_name"),
    )
    pos_codes: Series[object] = pa.Field(
        list_items_match={"pattern": POS_CODE.strip("^$")},
        description="Distinct POS codes of those care sites, sorted.",
        metadata=list_of_text("marts.code_overview.pos_codes_text", "marts.code_care_sites.pos_code"),
    )

    class Config:
        name = f"{LISTS_SCHEMA}.code_overview_lists"


class CodeUtilizationCareSites(pa.DataFrameModel):
    """Documented care sites of each code in each CMS facility setting, as a DuckDB list (VARCHAR[]): one row per
    code and setting, joined to marts.code_utilization on (code, place_of_service)."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_OVERVIEW)
    place_of_service: Series[str] = pa.Field(
        isin=list(FACILITY_SETTINGS), description="CMS setting: F facility, O office."
    )
    care_sites: Series[object] = pa.Field(
        description="Documented care sites whose CMS facility setting is place_of_service, sorted; empty if none.",
        metadata=list_of_text("marts.code_utilization.care_sites_text", "marts.code_care_sites.care_site_name"),
    )

    class Config:
        name = f"{LISTS_SCHEMA}.code_utilization_care_sites"
        unique = ["code", "place_of_service"]


# --- marts: every column has a type SQLAlchemy's inspector recognizes -------------------------------------


class CodeOverview(pa.DataFrameModel):
    """One row per documented code with its modifiers, payers, care sites and POS codes as text, ready for a BI
    table. To filter by one payer or care site, use marts.code_payers or marts.code_care_sites."""

    code: Series[str] = pa.Field(
        unique=True, fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=references("core.codes.code")
    )
    code_system: Series[str] = pa.Field(isin=list(CODE_SYSTEMS), description="CPT or HCPCS.")
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    service_type: Series[str] = pa.Field(nullable=True, description="Service type.")
    laterality: Series[str] = pa.Field(nullable=True, description="unilateral / bilateral.")
    approach: Series[str] = pa.Field(nullable=True, description="Approach.")
    imaging_guidance_included: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="Imaging guidance included."
    )
    modifiers_text: Series[str] = pa.Field(
        nullable=True, description=f"Real modifiers listed for the code (excludes '00'), {TEXT_LIST_NOTE}."
    )
    payers_text: Series[str] = pa.Field(nullable=True, description=f"Canonical payer names, {TEXT_LIST_NOTE}.")
    care_sites_text: Series[str] = pa.Field(nullable=True, description=f"Care-site names, {TEXT_LIST_NOTE}.")
    pos_codes_text: Series[str] = pa.Field(
        nullable=True, description=f"Distinct POS codes of those care sites, {TEXT_LIST_NOTE}."
    )
    document_id: Series[str] = pa.Field(description="Source document.")
    document_status: Series[str] = pa.Field(
        isin=list(LOADED_DOCUMENT_STATUSES), description="Status of the source document."
    )

    class Config:
        name = f"{BI_SCHEMA}.code_overview"


class CodeUtilization(pa.DataFrameModel):
    """Documented codes joined to CMS geography-level utilization: one row per code, CMS facility setting,
    geography and year. Codes without utilization appear once with NULL measures so the gap is visible."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Documented billing code.", metadata=_OVERVIEW)
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    place_of_service: Series[str] = pa.Field(
        nullable=True, isin=list(FACILITY_SETTINGS), description="CMS setting: F facility, O office."
    )
    geo_level: Series[str] = pa.Field(nullable=True, isin=list(GEO_LEVELS), description="National or State.")
    geo_code: Series[str] = pa.Field(
        nullable=True,
        description="State FIPS code or CMS pseudo-geography (9A-9E); NULL on National rows and blank-coded State rows.",
        metadata=references("utilization.geographies.geo_code"),
    )
    geo_desc: Series[str] = pa.Field(nullable=True, description="Geography name.")
    geo_type: Series[str] = pa.Field(
        nullable=True,
        isin=list(GEO_TYPES),
        description="national, state (50 states and DC), territory, armed_forces, unknown or foreign_country; "
        "sum State rows with geo_type = 'state' to avoid double counting. NULL on rows without utilization.",
    )
    data_year: Series[pd.Int32Dtype] = pa.Field(
        nullable=True, description="Data year.", metadata={"sql_type": "INTEGER"}
    )
    data_year_start: Series[pd.Timestamp] = pa.Field(
        nullable=True, description="January 1 of data_year, as a DATE for time-series charts.", metadata=DATE
    )
    total_services: Series[float] = pa.Field(nullable=True, ge=0, description="Medicare services.")
    total_beneficiaries: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, description="Medicare beneficiaries.")
    avg_allowed_amount: Series[float] = pa.Field(nullable=True, ge=0, description="Average allowed amount (USD).")
    avg_payment_amount: Series[float] = pa.Field(nullable=True, ge=0, description="Average Medicare payment (USD).")
    care_sites_text: Series[str] = pa.Field(
        nullable=True,
        description=f"Documented care sites whose CMS facility setting equals place_of_service, {TEXT_LIST_NOTE}.",
    )
    payer_count: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Number of documented key payers for the code.")
    has_utilization: Series[pd.BooleanDtype] = pa.Field(
        description="False on the placeholder row of a code with no CMS rows."
    )
    is_synthetic: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="True if the utilization row comes from the bundled synthetic sample."
    )

    class Config:
        name = f"{BI_SCHEMA}.code_utilization"
        unique = ["code", "place_of_service", "geo_level", "geo_code", "data_year"]
        metadata = {"ddl_primary_key": False}  # placeholder rows have NULL key parts


class CodePayers(pa.DataFrameModel):
    """One row per documented code and key payer, for filtering codes by payer (payer_name IN (...))."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_OVERVIEW)
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    payer_id: Series[str] = pa.Field(
        fullmatch=SNAKE_ID, description="Payer key (core.payers).", metadata=references("core.payers.payer_id")
    )
    payer_name: Series[str] = pa.Field(description="Canonical payer name (or the name as written, if unresolved).")
    payer_type: Series[str] = pa.Field(
        nullable=True,
        isin=list(PAYER_TYPES),
        description="commercial, medicare, medicaid or other government; NULL if unresolved.",
    )
    parent_organization: Series[str] = pa.Field(nullable=True, description="Parent company, if known.")
    is_resolved: Series[pd.BooleanDtype] = pa.Field(description="False for payer names not in the reference list.")

    class Config:
        name = f"{BI_SCHEMA}.code_payers"
        unique = ["code", "payer_id"]


class CodeCareSites(pa.DataFrameModel):
    """One row per documented code, care site and POS code of that site, for filtering codes by care site, POS code
    or CMS setting. A care site without POS codes (unresolved) has one row with a NULL pos_code."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_OVERVIEW)
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    care_site_id: Series[str] = pa.Field(
        fullmatch=SNAKE_ID,
        description="Care-site key (core.care_sites).",
        metadata=references("core.care_sites.care_site_id"),
    )
    care_site_name: Series[str] = pa.Field(description="Care-site name.")
    pos_code: Series[str] = pa.Field(
        nullable=True,
        fullmatch=POS_CODE,
        description="CMS two-digit Place of Service code; NULL if none is known.",
        metadata=references("core.place_of_service.place_of_service_code"),
    )
    pos_name: Series[str] = pa.Field(nullable=True, description="Place of Service name (core.place_of_service).")
    cms_facility_setting: Series[str] = pa.Field(
        nullable=True,
        isin=list(FACILITY_SETTINGS),
        description="F (facility) or O (office), matching marts.code_utilization.place_of_service; NULL if unresolved.",
    )
    is_resolved: Series[pd.BooleanDtype] = pa.Field(description="False for care-site phrases not in the alias list.")

    class Config:
        name = f"{BI_SCHEMA}.code_care_sites"
        unique = ["code", "care_site_id", "pos_code"]
        metadata = {"ddl_primary_key": False}  # an unresolved site has a NULL pos_code


class CodeModifiers(pa.DataFrameModel):
    """One row per documented code and modifier its document lists (every row of core.code_modifiers), for filtering
    codes by modifier. The pseudo-modifier '00' ("no modifier") is kept and flagged: filter on is_pseudo_modifier."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Billing code.", metadata=_OVERVIEW)
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    modifier_code: Series[str] = pa.Field(
        fullmatch=MODIFIER_CODE,
        description="Two-character modifier as the document lists it.",
        metadata=references("core.modifiers.modifier_code"),
    )
    modifier_description: Series[str] = pa.Field(
        nullable=True,
        description="Meaning of the modifier from core.modifiers: the HCPCS Level II file's official text where it "
        "lists the modifier, else sources/reference/modifiers.csv; for a modifier only seen in documents, the wording "
        "of the first document listing it (core.modifiers.description_source says which).",
    )
    description_in_document: Series[str] = pa.Field(
        nullable=True, description="The modifier's description as this code's document words it."
    )
    when_to_use: Series[str] = pa.Field(nullable=True, description="Guidance from the document's modifier table.")
    is_pseudo_modifier: Series[pd.BooleanDtype] = pa.Field(
        description="True for a pseudo-modifier such as '00', which documents use to mean 'no modifier' "
        "(is_real_modifier = false in sources/reference/modifiers.csv); exclude these to count real modifiers."
    )
    document_id: Series[str] = pa.Field(description="Document the row came from.")
    line_number: Series[pd.Int64Dtype] = pa.Field(
        ge=1, description="Line of that document holding the modifier's table row."
    )

    class Config:
        name = f"{BI_SCHEMA}.code_modifiers"
        unique = ["code", "modifier_code"]


class ModifierChecks(pa.DataFrameModel):
    """Each modifier a document recommends for its code, checked against Medicare's coding rules: one row per
    documented (code, modifier) and applicable check (NCCI PTP checks once per setting). The verdicts and reasons
    come from sources/reference/modifier_rules.csv (medicare.modifier_rules); docs/coding_edits.md explains them."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Documented billing code.", metadata=_OVERVIEW)
    modifier: Series[str] = pa.Field(
        fullmatch=MODIFIER_CODE,
        description="Modifier the document lists for the code.",
        metadata=references("core.modifiers.modifier_code"),
    )
    modifier_description: Series[str] = pa.Field(
        nullable=True,
        description="Official HCPCS Level II description where the HCPCS file has the modifier (its newest release), "
        "else the project's reference list (sources/reference/modifiers.csv).",
    )
    modifier_description_source: Series[str] = pa.Field(
        nullable=True,
        isin=["hcpcs_level2", "project_reference"],
        description="hcpcs_level2 (medicare.hcpcs_level2) or project_reference (core.modifiers); NULL if neither.",
    )
    when_to_use: Series[str] = pa.Field(nullable=True, description="The document's guidance for the modifier.")
    check_name: Series[str] = pa.Field(
        description="The check: bilateral_surgery, assistant_at_surgery, co_surgery, team_surgery, "
        "professional_technical_split, global_surgery (fee-schedule indicators), ncci_ptp (NCCI edits), or "
        "unchecked (no Medicare rule governs the modifier). Called check_name because CHECK is an SQL keyword."
    )
    setting: Series[str] = pa.Field(
        nullable=True,
        isin=["practitioner", "hospital_outpatient"],
        description="NCCI setting of an ncci_ptp check; NULL for fee-schedule checks (the fee schedule is one).",
    )
    indicator_column: Series[str] = pa.Field(
        nullable=True,
        description="What was judged: a medicare.pfs_rvu column (status_code when the code is absent or not "
        "separately payable), or modifier_indicator for ncci_ptp.",
    )
    indicator_value: Series[str] = pa.Field(
        nullable=True,
        description="Its value: the indicator; 'none' for a code not on the fee schedule or without an active edit; "
        "for ncci_ptp '1' (an active edit allows a modifier), '0' (only edits that allow none) or 'no_release'.",
    )
    verdict: Series[str] = pa.Field(
        isin=["ok", "needs_documentation", "conflict", "no_data"],
        description="ok: Medicare's rules allow the modifier here; needs_documentation: allowed only with "
        "documentation of medical necessity; conflict: Medicare's rules contradict the document's advice; "
        "no_data: nothing to judge it against (code not on the schedule, no active edit, no release loaded).",
    )
    reason: Series[str] = pa.Field(
        description="A sentence a coder can act on, naming the indicator or edit, its value and the release."
    )
    release: Series[str] = pa.Field(
        nullable=True, description="Fee-schedule release judged (medicare.pfs_rvu.release); NULL for ncci_ptp."
    )
    ncci_version: Series[str] = pa.Field(
        nullable=True, description="NCCI PTP release judged (v322r0); NULL for fee-schedule checks."
    )
    reference_date: Series[pd.Timestamp] = pa.Field(
        nullable=True,
        description="Date the NCCI edits were judged active on (CPT_CODING_EDITS_REFERENCE_DATE, default the day "
        "of the build); NULL for fee-schedule checks.",
        metadata=DATE,
    )
    edits_allowing_modifier: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, description="ncci_ptp: active edits with the code and modifier indicator 1."
    )
    edits_not_allowing_modifier: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, description="ncci_ptp: active edits with the code and modifier indicator 0."
    )
    document_id: Series[str] = pa.Field(description="Document the modifier's advice came from.")

    class Config:
        name = f"{BI_SCHEMA}.modifier_checks"
        unique = ["code", "modifier", "check_name", "setting"]
        metadata = {"ddl_primary_key": False}  # setting is NULL on fee-schedule checks


class CodeUnitLimits(pa.DataFrameModel):
    """NCCI medically unlikely edits of each documented code, per MUE setting and CMS utilization data year: the
    MUE in force at the end of that year, next to CMS's national services per beneficiary-day. A code without
    utilization has one row per setting with a NULL data year (the MUE in force on the reference date)."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Documented billing code.", metadata=_OVERVIEW)
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    mue_setting: Series[str] = pa.Field(
        isin=["practitioner", "hospital_outpatient", "dme"], description="NCCI MUE setting."
    )
    data_year: Series[pd.Int32Dtype] = pa.Field(
        nullable=True,
        description="CMS utilization data year; NULL when the code has none.",
        metadata={"sql_type": "INTEGER"},
    )
    mue_in_force_on: Series[pd.Timestamp] = pa.Field(
        description="December 31 of data_year (or the reference date when data_year is NULL): the MUE shown is "
        "the one in force that day.",
        metadata=DATE,
    )
    mue_effective_date: Series[pd.Timestamp] = pa.Field(
        nullable=True, description="Effective date of the quarterly MUE file that applies.", metadata=DATE
    )
    mue_value: Series[pd.Int32Dtype] = pa.Field(
        nullable=True,
        ge=0,
        description="Most units per line or day; 0 = not payable in this setting; NULL = no MUE published "
        "(which does not prove there is none).",
        metadata={"sql_type": "INTEGER"},
    )
    adjudication_indicator: Series[pd.Int32Dtype] = pa.Field(
        nullable=True,
        isin=[1, 2, 3],
        description="1 per claim line; 2 per day, policy (never overridden); 3 per day, clinical (payable above on "
        "medical-record review).",
        metadata={"sql_type": "INTEGER"},
    )
    adjudication_label: Series[str] = pa.Field(nullable=True, description="The indicator's CMS label.")
    mue_rationale: Series[str] = pa.Field(nullable=True, description="CMS's MUE rationale.")
    has_mue: Series[pd.BooleanDtype] = pa.Field(description="False where no MUE file of the setting lists the code.")
    cms_total_services: Series[float] = pa.Field(
        nullable=True, ge=0, description="National Medicare services (Tot_Srvcs, both places of service summed)."
    )
    cms_beneficiary_day_services: Series[float] = pa.Field(
        nullable=True, ge=0, description="National distinct beneficiary/day services (Tot_Bene_Day_Srvcs)."
    )
    services_per_beneficiary_day: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="cms_total_services / cms_beneficiary_day_services: average units a beneficiary gets of the "
        "code on a day it is billed (physician data: practitioner claims, compared with every setting's MUE).",
    )
    exceeds_mue: Series[pd.BooleanDtype] = pa.Field(
        nullable=True,
        description="True where that national average already exceeds the MUE; NULL without an MUE or utilization.",
    )

    class Config:
        name = f"{BI_SCHEMA}.code_unit_limits"
        unique = ["code", "mue_setting", "data_year"]
        metadata = {"ddl_primary_key": False}  # data_year is NULL for codes without utilization


class CodeSitePayments(pa.DataFrameModel):
    """What Medicare pays for each documented code in each payment setting and data year, from the latest fee
    schedule release of that year, next to what Medicare actually allowed (CMS utilization of the same year):
    one row per code, data year and setting (office, hospital_outpatient, ambulatory_surgery_center). National,
    unadjusted amounts (no locality or GPCI adjustment). Amounts are USD."""

    code: Series[str] = pa.Field(fullmatch=CPT_OR_HCPCS, description="Documented billing code.", metadata=_OVERVIEW)
    title: Series[str] = pa.Field(nullable=True, description="Code title from its document.")
    data_year: Series[pd.Int32Dtype] = pa.Field(
        ge=2000,
        description="Calendar year of the fee schedules (and of the utilization in cms_*).",
        metadata={"sql_type": "INTEGER"},
    )
    setting: Series[str] = pa.Field(
        isin=list(PAYMENT_SETTINGS),
        description="office (PFS non-facility rate), hospital_outpatient (PFS facility rate + OPPS) or "
        "ambulatory_surgery_center (PFS facility rate + ASC).",
    )
    documented_setting: Series[pd.BooleanDtype] = pa.Field(
        description="True when the code's document names a care site in this setting (its POS code maps to the "
        "setting in medicare.payment_settings: 11 office; 19, 22 hospital outpatient; 24 ASC)."
    )
    pfs_release: Series[str] = pa.Field(
        nullable=True,
        description="PFS release that priced professional_payment (e.g. RVU25D); NULL if the code "
        "is not in that year's fee schedule.",
    )
    conversion_factor_variant: Series[str] = pa.Field(
        nullable=True, description="PFS conversion-factor variant used: standard, or non_qpp from 2026."
    )
    modifier: Series[str] = pa.Field(
        nullable=True,
        description="Modifier of the PFS row used: always NULL, the global service (26/TC rows are "
        "in medicare.pfs_rvu).",
    )
    status_code: Series[str] = pa.Field(
        nullable=True, description="PFS status code of the global row (A, R, T are paid)."
    )
    payable: Series[pd.BooleanDtype] = pa.Field(
        nullable=True,
        description="True when the PFS status is A, R or T (the professional part is paid from the "
        "RVUs); NULL when the code is not in the fee schedule. Says nothing about the facility part.",
    )
    global_days: Series[str] = pa.Field(nullable=True, description="PFS global period (000, 010, 090, XXX …).")
    total_rvu: Series[float] = pa.Field(
        nullable=True, description="PFS total RVU of the setting: non-facility for office, facility otherwise."
    )
    conversion_factor: Series[float] = pa.Field(nullable=True, description="PFS conversion factor (USD per RVU).")
    professional_payment: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="PFS national amount: non-facility total RVU x CF for office, facility total "
        "RVU x CF for the two facility settings, rounded to the cent; NULL where the setting is not priced (NA) or "
        "the status is not payable.",
    )
    opps_release: Series[str] = pa.Field(
        nullable=True, description="OPPS Addendum B release (YYYY-MM) on hospital_outpatient rows; NULL otherwise."
    )
    status_indicator: Series[str] = pa.Field(
        nullable=True, description="OPPS status indicator on hospital_outpatient rows (J1, T, N packaged …)."
    )
    apc: Series[str] = pa.Field(nullable=True, description="OPPS APC on hospital_outpatient rows; NULL if packaged.")
    asc_release: Series[str] = pa.Field(
        nullable=True, description="ASC Addendum AA release (YYYY-MM) on ambulatory_surgery_center rows."
    )
    payment_indicator: Series[str] = pa.Field(
        nullable=True, description="ASC payment indicator on ambulatory_surgery_center rows (J8, G2, N1 packaged …)."
    )
    facility_payment: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Facility payment: NULL for office; the OPPS payment rate for hospital "
        "outpatient; the ASC payment rate for ASC; shown whenever the facility schedule prices the code, even for "
        "a code absent from the fee schedule.",
    )
    total_payment: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="professional_payment + facility_payment (a missing part counts 0); NULL when neither is known.",
    )
    cms_place_of_service: Series[str] = pa.Field(
        isin=list(FACILITY_SETTINGS),
        description="CMS utilization setting matched: O for office, F for both facility settings.",
    )
    cms_total_services: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="National Medicare services for the code in cms_place_of_service, same data "
        "year (utilization.physician_geo_service). CMS does not split F into hospital outpatient and ASC: both "
        "facility rows show the same F figure. NULL when that year has no utilization.",
    )
    cms_avg_allowed_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="National average Medicare allowed amount (USD) of the professional claims "
        "in cms_place_of_service, same data year; F covers hospital outpatient and ASC together (CMS does not split "
        "them). NULL when that year has no utilization.",
    )
    is_synthetic: Series[pd.BooleanDtype] = pa.Field(
        description="True when a fee schedule or utilization value of the row comes from the bundled sample (partly "
        "made-up values, see sources/medicare_policy/README.md)."
    )

    class Config:
        name = f"{BI_SCHEMA}.code_site_payments"
        unique = ["code", "data_year", "setting"]


CARDINALITIES = ("one-to-one", "many-to-one", "one-to-many", "many-to-many")


class Relationships(pa.DataFrameModel):
    """How the marts join to each other, to marts_lists and to core and utilization tables: one row per join, for
    BI users (DuckDB cannot declare foreign keys across schemas, and the SQLAlchemy inspector reads none). Paste
    join_condition after `FROM <from_table> JOIN <to_table> ON`, or join_condition_aliased after
    `FROM <from_table> AS <from_alias> JOIN <to_table> AS <to_alias> ON`."""

    from_table: Series[str] = pa.Field(description="Schema-qualified table the join starts from.")
    from_columns: Series[str] = pa.Field(description="Its join columns, comma-separated, in the order of to_columns.")
    to_table: Series[str] = pa.Field(description="Schema-qualified table joined to.")
    to_columns: Series[str] = pa.Field(description="Its join columns, comma-separated.")
    join_condition: Series[str] = pa.Field(
        description="The ON clause with schema-qualified table names, for `FROM <from_table> JOIN <to_table> ON` "
        "(without aliases: once a table has an alias, only the alias names it)."
    )
    description: Series[str] = pa.Field(description="What the join means and its cardinality.")
    cardinality: Series[str] = pa.Field(
        isin=list(CARDINALITIES),
        description="Rows of from_table to rows of to_table: one-to-one, many-to-one, one-to-many or many-to-many. "
        "A many-to-many join repeats rows on both sides: sum measures with semi_join_example instead.",
    )
    from_alias: Series[str] = pa.Field(description="The alias join_condition_aliased gives from_table.")
    to_alias: Series[str] = pa.Field(description="The alias join_condition_aliased gives to_table.")
    join_condition_aliased: Series[str] = pa.Field(
        description="The same ON clause for `FROM <from_table> AS <from_alias> JOIN <to_table> AS <to_alias> ON`."
    )
    semi_join_example: Series[str] = pa.Field(
        nullable=True,
        description="Many-to-many only: a ready query that filters from_table by to_table with EXISTS, so each "
        "utilization row is counted once (a JOIN would count it once per match); NULL otherwise.",
    )

    class Config:
        name = f"{BI_SCHEMA}.relationships"
        unique = ["from_table", "from_columns", "to_table", "to_columns"]


# In build order: a mart is listed after the marts its SQL reads.
MART_CONTRACTS: tuple[TableContract, ...] = tuple(
    TableContract(model)
    for model in (
        CodeOverviewLists,
        CodeUtilizationCareSites,
        CodeOverview,
        CodeUtilization,
        CodePayers,
        CodeCareSites,
        CodeModifiers,
        CodeSitePayments,
        ModifierChecks,
        CodeUnitLimits,
        Relationships,
    )
)


# --- marts.relationships: generated from the foreign keys above, plus the joins a ForeignKey cannot express -----


def table_alias(table: str) -> str:
    """The initials of the table name (marts.code_care_sites -> ccs): one alias per table in every hint, so
    hints can be combined in one query."""
    alias = "".join(word[0] for word in table.split(".")[1].split("_"))
    return _ALIAS_OVERRIDES.get(table, alias)


# Initials that are SQL keywords (medicare.opps_rates would be "or").
_ALIAS_OVERRIDES = {"medicare.opps_rates": "opr"}


@dataclass(frozen=True)
class Relationship:
    from_table: str
    from_columns: tuple[str, ...]
    to_table: str
    to_columns: tuple[str, ...]
    cardinality: str
    meaning: str
    # Key parts that are NULL on some rows of both sides and must still match (geo_code on National rows).
    null_safe: frozenset[str] = frozenset()
    # Many-to-many: a predicate on to_table ({to} is its alias) that the semi-join example filters by.
    example_filter: str | None = None

    @property
    def from_alias(self) -> str:
        return table_alias(self.from_table)

    @property
    def to_alias(self) -> str:
        return table_alias(self.to_table)

    def condition(self, from_name: str, to_name: str) -> str:
        return " AND ".join(
            f"{from_name}.{f} {'IS NOT DISTINCT FROM' if f in self.null_safe else '='} {to_name}.{t}"
            for f, t in zip(self.from_columns, self.to_columns, strict=True)
        )

    def semi_join_example(self) -> str | None:
        if self.cardinality != "many-to-many":
            return None
        if self.from_table != "marts.code_utilization" or not self.example_filter:
            raise ValueError(f"{self}: a many-to-many hint needs a utilization semi-join example and its filter")
        u, other = self.from_alias, self.to_alias
        return (
            f"SELECT {u}.data_year, sum({u}.total_services) AS total_services "
            f"FROM {self.from_table} AS {u} "
            f"WHERE {u}.geo_level = 'National' AND EXISTS (SELECT 1 FROM {self.to_table} AS {other} "
            f"WHERE {self.condition(u, other)} AND {self.example_filter.format(to=other)}) "
            f"GROUP BY {u}.data_year ORDER BY {u}.data_year"
        )

    def row(self) -> tuple[str, ...]:
        """In the column order of the Relationships contract."""
        if self.from_alias == self.to_alias:
            raise ValueError(f"{self.from_table} and {self.to_table} would share the alias {self.from_alias}")
        return (
            self.from_table,
            ", ".join(self.from_columns),
            self.to_table,
            ", ".join(self.to_columns),
            self.condition(self.from_table, self.to_table),
            f"{self.cardinality}: {self.meaning}",
            self.cardinality,
            self.from_alias,
            self.to_alias,
            self.condition(self.from_alias, self.to_alias),
            self.semi_join_example(),
        )


def _single_column_key(contract: TableContract) -> str | None:
    if len(contract.primary_key) == 1:
        return contract.primary_key[0]
    keys = [name for name, column in contract.schema.columns.items() if column.unique]
    return keys[0] if keys else None


def foreign_key_relationships() -> list[Relationship]:
    """One relationship per ForeignKey of a mart contract."""
    relationships = []
    for contract in MART_CONTRACTS:
        own_key = _single_column_key(contract)
        for fk in contract.foreign_keys:
            kind = "one-to-one" if fk.column == own_key else "many-to-one"
            nullable = contract.schema.columns[fk.column].nullable
            meaning = f"each {contract.table} row has {'at most' if nullable else 'exactly'} one {fk.ref_table} row."
            relationships.append(
                Relationship(contract.table, (fk.column,), fk.ref_table, (fk.ref_column,), kind, meaning)
            )
    return relationships


_REPEATS = "a JOIN repeats each utilization row once per match: filter with the semi_join_example"

# Joins that are not single-column foreign keys (composite, or many-to-many), declared here by hand.
EXTRA_RELATIONSHIPS: tuple[Relationship, ...] = (
    Relationship(
        "marts.code_utilization",
        ("code", "place_of_service"),
        "marts.code_care_sites",
        ("code", "cms_facility_setting"),
        "many-to-many",
        f"the documented care sites (one row per POS code) in the utilization row's CMS setting; {_REPEATS}.",
        example_filter="{to}.care_site_name = 'Hospital outpatient department'",
    ),
    Relationship(
        "marts.code_utilization",
        ("code",),
        "marts.code_payers",
        ("code",),
        "many-to-many",
        f"the documented key payers of the utilization row's code; {_REPEATS}.",
        example_filter="{to}.payer_name = 'Aetna'",
    ),
    Relationship(
        "marts.code_utilization",
        ("code",),
        "marts.code_modifiers",
        ("code",),
        "many-to-many",
        f"the modifiers the utilization row's code is documented with; {_REPEATS}.",
        example_filter="{to}.modifier_code = 'RT'",
    ),
    Relationship(
        "marts.code_utilization",
        ("code", "place_of_service"),
        "marts_lists.code_utilization_care_sites",
        ("code", "place_of_service"),
        "many-to-one",
        "the care sites of care_sites_text as a list (no match on rows without utilization).",
    ),
    Relationship(
        "marts.code_utilization",
        ("code", "place_of_service", "geo_level", "geo_code", "data_year"),
        "utilization.physician_geo_service",
        ("hcpcs_code", "place_of_service", "geo_level", "geo_code", "data_year"),
        "one-to-one",
        "the CMS row a utilization row comes from (geo_code is NULL on National rows, hence IS NOT "
        "DISTINCT FROM); no match where has_utilization is false.",
        null_safe=frozenset({"geo_code"}),
    ),
    Relationship(
        "marts.code_site_payments",
        ("code", "data_year", "pfs_release", "conversion_factor_variant", "modifier"),
        "medicare.pfs_rvu",
        ("hcpcs_code", "data_year", "release", "conversion_factor_variant", "modifier"),
        "many-to-one",
        "the fee-schedule row that priced professional_payment (the global row: modifier is NULL on both sides, "
        "hence IS NOT DISTINCT FROM); no match where pfs_release is NULL.",
        null_safe=frozenset({"modifier"}),
    ),
    Relationship(
        "marts.code_site_payments",
        ("code", "data_year", "opps_release"),
        "medicare.opps_rates",
        ("hcpcs_code", "data_year", "release"),
        "many-to-one",
        "the OPPS Addendum B row of a hospital_outpatient row; no match on other settings.",
    ),
    Relationship(
        "marts.code_site_payments",
        ("code", "data_year", "asc_release"),
        "medicare.asc_rates",
        ("hcpcs_code", "data_year", "release"),
        "many-to-one",
        "the ASC Addendum AA row of an ambulatory_surgery_center row; no match on other settings.",
    ),
    Relationship(
        "marts.code_utilization",
        ("code", "data_year", "place_of_service"),
        "marts.code_site_payments",
        ("code", "data_year", "cms_place_of_service"),
        "many-to-many",
        f"the payment rows of the utilization row's code, year and CMS setting (F matches both facility settings); "
        f"{_REPEATS}.",
        example_filter="{to}.setting = 'ambulatory_surgery_center' AND {to}.payable",
    ),
)


EXTRA_RELATIONSHIPS += (
    Relationship(
        "marts.modifier_checks",
        ("code", "modifier"),
        "marts.code_modifiers",
        ("code", "modifier_code"),
        "many-to-one",
        "the documented (code, modifier) a check judges (one row per check and setting on the left).",
    ),
    Relationship(
        "marts.code_utilization",
        ("code", "data_year"),
        "marts.code_unit_limits",
        ("code", "data_year"),
        "many-to-many",
        f"the code's MUEs (one per MUE setting) in force at the end of the utilization row's data year; {_REPEATS}.",
        example_filter="{to}.mue_setting = 'practitioner' AND {to}.adjudication_indicator = 2",
    ),
)


def relationships() -> list[Relationship]:
    return sorted(foreign_key_relationships() + list(EXTRA_RELATIONSHIPS), key=lambda r: r.row())


def relationship_rows() -> list[tuple[str | None, ...]]:
    """The rows of marts.relationships, in its column order, sorted."""
    return [relationship.row() for relationship in relationships()]


def relationships_sql() -> str:
    """The text of pipeline/marts/sql/relationships.sql (a test keeps the file equal to it)."""
    columns = ", ".join(Relationships.to_schema().columns)
    values = ",\n    ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in relationship_rows())
    return (
        "-- marts.relationships: GENERATED from pipeline/contracts/mart_tables.py by relationships_sql(); do not edit.\n"
        "-- Regenerate: uv run python -c 'from pipeline.contracts.mart_tables import relationships_sql as s; "
        'print(s(), end="")\' > pipeline/marts/sql/relationships.sql\n'
        f"SELECT * FROM (VALUES\n    {values}\n) AS r({columns})\nORDER BY ALL\n"
    )
