"""Contracts of the ``utilization`` schema: CMS Medicare Physician & Other Practitioners files.

Each column that comes from a CMS file names its CMS header in ``metadata``;
the loader derives the expected header of each layout, and the explicit
``read_csv`` column types, from these models.  Validation of these tables runs
as SQL inside DuckDB (see ``table_contract.violation_rules``): they hold
millions of rows and never pass through pandas.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.table_contract import RowRule, TableContract

HCPCS = r"^[0-9A-Z]{5}$"
SOURCE_FILE_STATUSES = ["loaded", "rejected"]


def cms(column: str, sql_type: str = "VARCHAR") -> dict:
    return {"cms_column": column, "sql_type": sql_type}


_YEAR = {"sql_type": "INTEGER"}
_COUNT = "BIGINT"
_AMOUNT = "DOUBLE"


class PhysicianGeoService(pa.DataFrameModel):
    """CMS Medicare Physician & Other Practitioners, by Geography and Service: one row per year, geography,
    HCPCS code and place of service. Counts below 11 beneficiaries are suppressed by CMS."""

    data_year: Series[pd.Int32Dtype] = pa.Field(
        ge=2000, description="Year of service the CMS file covers.", metadata=_YEAR
    )
    geo_level: Series[str] = pa.Field(
        isin=["National", "State"], description="National or State.", metadata=cms("Rndrng_Prvdr_Geo_Lvl")
    )
    geo_code: Series[str] = pa.Field(
        nullable=True,
        description="State FIPS code (two digits); NULL on National rows.",
        metadata=cms("Rndrng_Prvdr_Geo_Cd"),
    )
    geo_desc: Series[str] = pa.Field(
        nullable=True, description="Geography name.", metadata=cms("Rndrng_Prvdr_Geo_Desc")
    )
    hcpcs_code: Series[str] = pa.Field(str_matches=HCPCS, description="HCPCS/CPT code.", metadata=cms("HCPCS_Cd"))
    hcpcs_desc: Series[str] = pa.Field(nullable=True, description="CMS short description.", metadata=cms("HCPCS_Desc"))
    drug_indicator: Series[str] = pa.Field(
        nullable=True, isin=["Y", "N"], description="Y if the code is a drug.", metadata=cms("HCPCS_Drug_Ind")
    )
    place_of_service: Series[str] = pa.Field(
        isin=["F", "O"], description="F facility, O non-facility (office).", metadata=cms("Place_Of_Srvc")
    )
    total_providers: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, description="Rendering providers.", metadata=cms("Tot_Rndrng_Prvdrs", _COUNT)
    )
    total_beneficiaries: Series[pd.Int64Dtype] = pa.Field(
        nullable=True,
        ge=0,
        description="Distinct beneficiaries; not additive across codes or places.",
        metadata=cms("Tot_Benes", _COUNT),
    )
    total_services: Series[float] = pa.Field(
        nullable=True, ge=0, description="Services (can be fractional).", metadata=cms("Tot_Srvcs", _AMOUNT)
    )
    total_beneficiary_day_services: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Distinct beneficiary/day services.",
        metadata=cms("Tot_Bene_Day_Srvcs", _AMOUNT),
    )
    avg_submitted_charge: Series[float] = pa.Field(
        nullable=True, ge=0, description="Average submitted charge (USD).", metadata=cms("Avg_Sbmtd_Chrg", _AMOUNT)
    )
    avg_allowed_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Average Medicare allowed amount (USD).",
        metadata=cms("Avg_Mdcr_Alowd_Amt", _AMOUNT),
    )
    avg_payment_amount: Series[float] = pa.Field(
        nullable=True, ge=0, description="Average Medicare payment (USD).", metadata=cms("Avg_Mdcr_Pymt_Amt", _AMOUNT)
    )
    avg_standardized_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Average standardized payment (USD).",
        metadata=cms("Avg_Mdcr_Stdzd_Amt", _AMOUNT),
    )
    source_file: Series[str] = pa.Field(description="CMS file the row was loaded from (see utilization.source_files).")

    class Config:
        name = "utilization.physician_geo_service"
        unique = ["data_year", "geo_level", "geo_code", "hcpcs_code", "place_of_service"]


class PhysicianProviderService(pa.DataFrameModel):
    """CMS Medicare Physician & Other Practitioners, by Provider and Service: one row per year, rendering NPI,
    HCPCS code and place of service."""

    data_year: Series[pd.Int32Dtype] = pa.Field(
        ge=2000, description="Year of service the CMS file covers.", metadata=_YEAR
    )
    npi: Series[str] = pa.Field(
        str_matches=r"^[0-9]{10}$", description="Rendering provider NPI.", metadata=cms("Rndrng_NPI")
    )
    provider_last_org_name: Series[str] = pa.Field(
        nullable=True, description="Last name or organization name.", metadata=cms("Rndrng_Prvdr_Last_Org_Name")
    )
    provider_first_name: Series[str] = pa.Field(
        nullable=True, description="First name.", metadata=cms("Rndrng_Prvdr_First_Name")
    )
    provider_mi: Series[str] = pa.Field(nullable=True, description="Middle initial.", metadata=cms("Rndrng_Prvdr_MI"))
    provider_credentials: Series[str] = pa.Field(
        nullable=True, description="Credentials.", metadata=cms("Rndrng_Prvdr_Crdntls")
    )
    provider_entity_code: Series[str] = pa.Field(
        nullable=True, isin=["I", "O"], description="I individual, O organization.", metadata=cms("Rndrng_Prvdr_Ent_Cd")
    )
    provider_street1: Series[str] = pa.Field(
        nullable=True, description="Street line 1.", metadata=cms("Rndrng_Prvdr_St1")
    )
    provider_street2: Series[str] = pa.Field(
        nullable=True, description="Street line 2.", metadata=cms("Rndrng_Prvdr_St2")
    )
    provider_city: Series[str] = pa.Field(nullable=True, description="City.", metadata=cms("Rndrng_Prvdr_City"))
    provider_state: Series[str] = pa.Field(
        nullable=True, description="State abbreviation.", metadata=cms("Rndrng_Prvdr_State_Abrvtn")
    )
    provider_state_fips: Series[str] = pa.Field(
        nullable=True, description="State FIPS code.", metadata=cms("Rndrng_Prvdr_State_FIPS")
    )
    provider_zip5: Series[str] = pa.Field(
        nullable=True, description="ZIP code (5 digits, text).", metadata=cms("Rndrng_Prvdr_Zip5")
    )
    provider_ruca: Series[str] = pa.Field(
        nullable=True, description="Rural-Urban Commuting Area code.", metadata=cms("Rndrng_Prvdr_RUCA")
    )
    provider_ruca_desc: Series[str] = pa.Field(
        nullable=True, description="RUCA description.", metadata=cms("Rndrng_Prvdr_RUCA_Desc")
    )
    provider_country: Series[str] = pa.Field(nullable=True, description="Country.", metadata=cms("Rndrng_Prvdr_Cntry"))
    provider_type: Series[str] = pa.Field(
        nullable=True, description="Provider specialty.", metadata=cms("Rndrng_Prvdr_Type")
    )
    medicare_participating: Series[str] = pa.Field(
        nullable=True,
        isin=["Y", "N"],
        description="Medicare participating indicator.",
        metadata=cms("Rndrng_Prvdr_Mdcr_Prtcptg_Ind"),
    )
    hcpcs_code: Series[str] = pa.Field(str_matches=HCPCS, description="HCPCS/CPT code.", metadata=cms("HCPCS_Cd"))
    hcpcs_desc: Series[str] = pa.Field(nullable=True, description="CMS short description.", metadata=cms("HCPCS_Desc"))
    drug_indicator: Series[str] = pa.Field(
        nullable=True, isin=["Y", "N"], description="Y if the code is a drug.", metadata=cms("HCPCS_Drug_Ind")
    )
    place_of_service: Series[str] = pa.Field(
        isin=["F", "O"], description="F facility, O non-facility (office).", metadata=cms("Place_Of_Srvc")
    )
    total_beneficiaries: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, description="Distinct beneficiaries.", metadata=cms("Tot_Benes", _COUNT)
    )
    total_services: Series[float] = pa.Field(
        nullable=True, ge=0, description="Services.", metadata=cms("Tot_Srvcs", _AMOUNT)
    )
    total_beneficiary_day_services: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Distinct beneficiary/day services.",
        metadata=cms("Tot_Bene_Day_Srvcs", _AMOUNT),
    )
    avg_submitted_charge: Series[float] = pa.Field(
        nullable=True, ge=0, description="Average submitted charge (USD).", metadata=cms("Avg_Sbmtd_Chrg", _AMOUNT)
    )
    avg_allowed_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Average Medicare allowed amount (USD).",
        metadata=cms("Avg_Mdcr_Alowd_Amt", _AMOUNT),
    )
    avg_payment_amount: Series[float] = pa.Field(
        nullable=True, ge=0, description="Average Medicare payment (USD).", metadata=cms("Avg_Mdcr_Pymt_Amt", _AMOUNT)
    )
    avg_standardized_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="Average standardized payment (USD).",
        metadata=cms("Avg_Mdcr_Stdzd_Amt", _AMOUNT),
    )
    source_file: Series[str] = pa.Field(description="CMS file the row was loaded from (see utilization.source_files).")

    class Config:
        name = "utilization.physician_provider_service"
        unique = ["data_year", "npi", "hcpcs_code", "place_of_service"]


class SourceFiles(pa.DataFrameModel):
    """One row per utilization file seen in the folder: what was loaded from it, what was quarantined, or why not."""

    file_name: Series[str] = pa.Field(unique=True, description="File name in the utilization folder.")
    layout: Series[str] = pa.Field(
        nullable=True, isin=["geo_service", "provider_service"], description="Layout recognized from the header."
    )
    data_year: Series[pd.Int32Dtype] = pa.Field(nullable=True, ge=2000, description="Data year.", metadata=_YEAR)
    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$", description="SHA-256 of the file.")
    file_size_bytes: Series[pd.Int64Dtype] = pa.Field(ge=0, description="File size in bytes.")
    rows_loaded: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Rows now in the target table from this file.")
    rows_quarantined: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Rows sent to utilization.quarantine.")
    status: Series[str] = pa.Field(isin=SOURCE_FILE_STATUSES, description="loaded or rejected (see error).")
    error: Series[str] = pa.Field(nullable=True, description="Why the file was rejected; NULL when loaded.")
    loaded_at: Series[pd.Timestamp] = pa.Field(description="When the file was processed (UTC).")
    file_modified_at: Series[pd.Timestamp] = pa.Field(
        description="File modification time (UTC); an unchanged size and time skip the reload."
    )
    is_synthetic: Series[pd.BooleanDtype] = pa.Field(
        description="True for synthetic sample files listed in sources/reference/synthetic_utilization_files.csv: NOT CMS data."
    )

    class Config:
        name = "utilization.source_files"


class Quarantine(pa.DataFrameModel):
    """Rows of utilization files that failed the contract, with the reasons. They are not in the target tables."""

    source_file: Series[str] = pa.Field(description="File the row came from.")
    layout: Series[str] = pa.Field(description="Layout of that file.")
    data_year: Series[pd.Int32Dtype] = pa.Field(description="Data year of that file.", metadata=_YEAR)
    line_number: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, description="CSV line, where DuckDB's reader reports it."
    )
    reasons: Series[str] = pa.Field(description="Failed rules, separated by '; '.")
    row_data: Series[str] = pa.Field(description="The row as JSON (typed) or the raw CSV line (unparseable).")

    class Config:
        name = "utilization.quarantine"


GEO_RULES = (
    RowRule(
        "geo_code matches geo_level",
        "CASE geo_level WHEN 'National' THEN geo_code IS NULL "
        "WHEN 'State' THEN geo_code IS NOT NULL AND regexp_full_match(geo_code, '[0-9]{2}') ELSE true END",
        "geo_code is a two-digit FIPS code on State rows and empty on National rows",
    ),
)

GEO_CONTRACT = TableContract(PhysicianGeoService, row_rules=GEO_RULES, enforce_primary_key=False)
PROVIDER_CONTRACT = TableContract(PhysicianProviderService, enforce_primary_key=False)
UTILIZATION_CONTRACTS: tuple[TableContract, ...] = (
    GEO_CONTRACT,
    PROVIDER_CONTRACT,
    TableContract(SourceFiles, ("file_name",)),
    TableContract(Quarantine),
)
