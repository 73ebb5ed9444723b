"""Contracts of the ``marts`` schema: BI-ready joins of codes and utilization."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.core_tables import CPT_OR_HCPCS, LIST_OF_TEXT
from pipeline.contracts.table_contract import ForeignKey, TableContract


class CodeUtilization(pa.DataFrameModel):
    """Documented codes joined to CMS geography-level utilization: one row per code, CMS facility setting,
    geography and year. Codes without utilization appear once with NULL measures so the gap is visible."""

    code: Series[str] = pa.Field(str_matches=CPT_OR_HCPCS, description="Documented billing code.")
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    place_of_service: Series[str] = pa.Field(
        nullable=True, isin=["F", "O"], description="CMS setting: F facility, O office."
    )
    geo_level: Series[str] = pa.Field(nullable=True, isin=["National", "State"], description="National or State.")
    geo_code: Series[str] = pa.Field(nullable=True, description="State FIPS code; NULL on National rows.")
    geo_desc: Series[str] = pa.Field(nullable=True, description="Geography name.")
    data_year: Series[pd.Int32Dtype] = pa.Field(
        nullable=True, description="Data year.", metadata={"sql_type": "INTEGER"}
    )
    total_services: Series[float] = pa.Field(nullable=True, ge=0, description="Medicare services.")
    total_beneficiaries: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, description="Medicare beneficiaries.")
    avg_allowed_amount: Series[float] = pa.Field(nullable=True, ge=0, description="Average allowed amount (USD).")
    avg_payment_amount: Series[float] = pa.Field(nullable=True, ge=0, description="Average Medicare payment (USD).")
    care_sites: Series[object] = pa.Field(
        description="Documented care sites whose CMS facility setting equals place_of_service.", metadata=LIST_OF_TEXT
    )
    payer_count: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Number of documented key payers for the code.")
    has_utilization: Series[pd.BooleanDtype] = pa.Field(
        description="False on the placeholder row of a code with no CMS rows."
    )
    is_synthetic: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="True if the utilization row comes from the bundled synthetic sample."
    )

    class Config:
        name = "marts.code_utilization"
        unique = ["code", "place_of_service", "geo_level", "geo_code", "data_year"]


class CodeOverview(pa.DataFrameModel):
    """One row per documented code with its modifiers, payers and care sites as lists, ready for a BI table."""

    code: Series[str] = pa.Field(unique=True, str_matches=CPT_OR_HCPCS, description="Billing code.")
    code_system: Series[str] = pa.Field(isin=["CPT", "HCPCS"], description="CPT or HCPCS.")
    title: Series[str] = pa.Field(nullable=True, description="Code title.")
    service_type: Series[str] = pa.Field(nullable=True, description="Service type.")
    laterality: Series[str] = pa.Field(nullable=True, description="unilateral / bilateral.")
    approach: Series[str] = pa.Field(nullable=True, description="Approach.")
    imaging_guidance_included: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="Imaging guidance included."
    )
    modifiers: Series[object] = pa.Field(
        description="Real modifiers listed for the code (excludes '00').", metadata=LIST_OF_TEXT
    )
    payers: Series[object] = pa.Field(description="Canonical payer names.", metadata=LIST_OF_TEXT)
    care_sites: Series[object] = pa.Field(description="Care-site names.", metadata=LIST_OF_TEXT)
    pos_codes: Series[object] = pa.Field(description="Distinct POS codes of those care sites.", metadata=LIST_OF_TEXT)
    document_id: Series[str] = pa.Field(description="Source document.")
    document_status: Series[str] = pa.Field(isin=["parsed", "partial"], description="Status of the source document.")

    class Config:
        name = "marts.code_overview"


MART_CONTRACTS: tuple[TableContract, ...] = (
    TableContract(CodeUtilization, enforce_primary_key=False, foreign_keys=(ForeignKey("code", "core.codes", "code"),)),
    TableContract(CodeOverview, ("code",), (ForeignKey("code", "core.codes", "code"),)),
)
