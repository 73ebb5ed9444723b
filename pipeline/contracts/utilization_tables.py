"""Contracts of the ``utilization`` schema: CMS Medicare Physician & Other Practitioners files.

Each column that comes from a CMS file names, in ``metadata``, the CMS header it comes from
(``cms_column``) and, for provider files, the pre-2019 "Physician and Other Supplier" header
(``legacy_column``).  This mapping is the declared data the loader uses to recognize a file and
to map its columns: a column a file form lacks is NULL (``optional`` / ``legacy_optional``), and
the legacy columns in ``LEGACY_IGNORED_COLUMNS`` are read but not kept.  Validation of these
tables runs as SQL inside DuckDB (see ``table_contract.violation_rules``): they hold millions of
rows and never pass through pandas.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.rejects import RejectedRow
from pipeline.contracts.table_contract import TableContract, references, row_rule
from pipeline.core.domains import (
    CPT_OR_HCPCS,
    FACILITY_SETTINGS,
    GEO_LEVELS,
    GEO_TYPES,
    NPI,
    SHA256_HEX,
    SOURCE_FILE_STATUSES,
    YES_NO,
)

LAYOUT_NAMES = ("geo_service", "provider_service")
GENDERS = ("M", "F")
COMPRESSIONS = ("none", "gzip", "zip")
ENCODINGS = ("utf-8", "latin-1")
# 2012-2013 "Physician and Other Supplier" files follow each average with its standard deviation.
LEGACY_IGNORED_COLUMNS = ("stdev_Medicare_allowed_amt", "stdev_submitted_chrg_amt", "stdev_Medicare_payment_amt")


def cms(
    column: str,
    sql_type: str = "VARCHAR",
    *,
    legacy: str | None = None,
    optional: bool = False,
    legacy_optional: bool = False,
) -> dict:
    """Where a column comes from: its CMS header, and its pre-2019 header if provider files had one.

    ``optional``: some CMS-named files lack the column (NULL then); ``legacy_optional``: some pre-2019 files lack it.
    """
    metadata: dict = {"cms_column": column, "sql_type": sql_type}
    if legacy:
        metadata["legacy_column"] = legacy
    if optional:
        metadata["optional"] = True
    if legacy_optional:
        metadata["legacy_optional"] = True
    return metadata


_YEAR = {"sql_type": "INTEGER"}
_COUNT = "BIGINT"
_AMOUNT = "DOUBLE"


class CmsServiceColumns(pa.DataFrameModel):
    """Columns the geography and provider files share: year, code, setting, counts and amounts."""

    data_year: Series[pd.Int32Dtype] = pa.Field(
        ge=2000, description="Year of service the CMS file covers.", metadata=_YEAR
    )
    hcpcs_code: Series[str] = pa.Field(
        fullmatch=CPT_OR_HCPCS,
        description="CPT code (five digits, or four digits then A, F, M, T or U) or HCPCS Level II code "
        "(a letter then four digits).",
        metadata=cms("HCPCS_Cd", legacy="hcpcs_code"),
    )
    hcpcs_desc: Series[str] = pa.Field(
        nullable=True, description="CMS short description.", metadata=cms("HCPCS_Desc", legacy="hcpcs_description")
    )
    drug_indicator: Series[str] = pa.Field(
        nullable=True,
        isin=list(YES_NO),
        description="Y if the code is a drug; NULL in 2012-2013 files, which lack it.",
        metadata=cms("HCPCS_Drug_Ind", legacy="hcpcs_drug_indicator", legacy_optional=True),
    )
    place_of_service: Series[str] = pa.Field(
        isin=list(FACILITY_SETTINGS),
        description="F facility, O non-facility (office).",
        metadata=cms("Place_Of_Srvc", legacy="place_of_service"),
    )
    total_beneficiaries: Series[pd.Int64Dtype] = pa.Field(
        nullable=True,
        ge=0,
        description="Distinct beneficiaries; not additive across codes or places.",
        metadata=cms("Tot_Benes", _COUNT, legacy="bene_unique_cnt"),
    )
    total_services: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        finite=(),
        description="Services (can be fractional).",
        metadata=cms("Tot_Srvcs", _AMOUNT, legacy="line_srvc_cnt"),
    )
    total_beneficiary_day_services: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        finite=(),
        description="Distinct beneficiary/day services.",
        metadata=cms("Tot_Bene_Day_Srvcs", _AMOUNT, legacy="bene_day_srvc_cnt"),
    )
    avg_submitted_charge: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        finite=(),
        description="Average submitted charge (USD).",
        metadata=cms("Avg_Sbmtd_Chrg", _AMOUNT, legacy="average_submitted_chrg_amt"),
    )
    avg_allowed_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        finite=(),
        description="Average Medicare allowed amount (USD).",
        metadata=cms("Avg_Mdcr_Alowd_Amt", _AMOUNT, legacy="average_Medicare_allowed_amt"),
    )
    avg_payment_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        finite=(),
        description="Average Medicare payment (USD).",
        metadata=cms("Avg_Mdcr_Pymt_Amt", _AMOUNT, legacy="average_Medicare_payment_amt"),
    )
    avg_standardized_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        finite=(),
        description="Average standardized payment (USD); NULL in 2012-2013 files, which lack it.",
        metadata=cms("Avg_Mdcr_Stdzd_Amt", _AMOUNT, legacy="average_Medicare_standard_amt", legacy_optional=True),
    )
    source_file: Series[str] = pa.Field(description="CMS file the row was loaded from (see utilization.source_files).")


class PhysicianGeoService(CmsServiceColumns):
    """CMS Medicare Physician & Other Practitioners, by Geography and Service: one row per year, geography,
    HCPCS code and place of service. Counts below 11 beneficiaries are suppressed by CMS. Sum the rows with
    geo_type = 'state' for the 50 states and DC without double counting."""

    geo_level: Series[str] = pa.Field(
        isin=list(GEO_LEVELS), description="National or State.", metadata=cms("Rndrng_Prvdr_Geo_Lvl")
    )
    geo_code: Series[str] = pa.Field(
        nullable=True,
        description="On State rows: two-digit FIPS code of a state, DC or territory, or a CMS pseudo-geography "
        "(9A-9E), see utilization.geographies; NULL on National rows and on the few State rows CMS leaves blank.",
        metadata={**cms("Rndrng_Prvdr_Geo_Cd"), **references("utilization.geographies.geo_code")},
    )
    geo_desc: Series[str] = pa.Field(
        nullable=True, description="Geography name as CMS writes it.", metadata=cms("Rndrng_Prvdr_Geo_Desc")
    )
    geo_type: Series[str] = pa.Field(
        isin=list(GEO_TYPES),
        description="national, state (50 states and DC), territory, armed_forces (9A-9C), unknown (9D and "
        "blank-coded State rows) or foreign_country (9E); from sources/reference/geographies.csv.",
    )
    total_providers: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, description="Rendering providers.", metadata=cms("Tot_Rndrng_Prvdrs", _COUNT)
    )

    geo_code_matches_geo_level = row_rule(
        "geo_code matches geo_level",
        "CASE geo_level WHEN 'National' THEN geo_code IS NULL AND geo_type = 'national' "
        "WHEN 'State' THEN geo_type <> 'national' AND (geo_code IS NOT NULL OR geo_type = 'unknown') ELSE true END",
        "geo_code is empty on National rows; on State rows it is a code of utilization.geographies or blank",
    )

    class Config:
        name = "utilization.physician_geo_service"
        unique = ["data_year", "geo_level", "geo_code", "hcpcs_code", "place_of_service"]
        # NULL geo_code on National rows cannot be part of a PRIMARY KEY; the key is still checked.
        # The asset name stays distinct from the provider table's when the UI truncates long names.
        metadata = {"ddl_primary_key": False, "asset_name": "geo_service"}


class PhysicianProviderService(CmsServiceColumns):
    """CMS Medicare Physician & Other Practitioners, by Provider and Service: one row per year, rendering NPI,
    HCPCS code and place of service. Also loads the 29-column downloads with gender and the pre-2019
    "Physician and Other Supplier" files."""

    npi: Series[str] = pa.Field(
        fullmatch=NPI, description="Rendering provider NPI.", metadata=cms("Rndrng_NPI", legacy="npi")
    )
    provider_last_org_name: Series[str] = pa.Field(
        nullable=True,
        description="Last name or organization name.",
        metadata=cms("Rndrng_Prvdr_Last_Org_Name", legacy="nppes_provider_last_org_name"),
    )
    provider_first_name: Series[str] = pa.Field(
        nullable=True,
        description="First name.",
        metadata=cms("Rndrng_Prvdr_First_Name", legacy="nppes_provider_first_name"),
    )
    provider_mi: Series[str] = pa.Field(
        nullable=True, description="Middle initial.", metadata=cms("Rndrng_Prvdr_MI", legacy="nppes_provider_mi")
    )
    provider_credentials: Series[str] = pa.Field(
        nullable=True, description="Credentials.", metadata=cms("Rndrng_Prvdr_Crdntls", legacy="nppes_credentials")
    )
    provider_gender: Series[str] = pa.Field(
        nullable=True,
        isin=list(GENDERS),
        description="M or F, from files that carry it (29-column downloads for 2013-2022 made before CMS's "
        "November 2025 re-release, and pre-2019 files); NULL for files without it.",
        metadata=cms("Rndrng_Prvdr_Gndr", legacy="nppes_provider_gender", optional=True),
    )
    provider_entity_code: Series[str] = pa.Field(
        nullable=True,
        isin=["I", "O"],
        description="I individual, O organization.",
        metadata=cms("Rndrng_Prvdr_Ent_Cd", legacy="nppes_entity_code"),
    )
    provider_street1: Series[str] = pa.Field(
        nullable=True, description="Street line 1.", metadata=cms("Rndrng_Prvdr_St1", legacy="nppes_provider_street1")
    )
    provider_street2: Series[str] = pa.Field(
        nullable=True, description="Street line 2.", metadata=cms("Rndrng_Prvdr_St2", legacy="nppes_provider_street2")
    )
    provider_city: Series[str] = pa.Field(
        nullable=True, description="City.", metadata=cms("Rndrng_Prvdr_City", legacy="nppes_provider_city")
    )
    provider_state: Series[str] = pa.Field(
        nullable=True,
        description="State abbreviation.",
        metadata=cms("Rndrng_Prvdr_State_Abrvtn", legacy="nppes_provider_state"),
    )
    provider_state_fips: Series[str] = pa.Field(
        nullable=True,
        description="State FIPS code; NULL in pre-2019 files.",
        metadata=cms("Rndrng_Prvdr_State_FIPS"),
    )
    provider_zip5: Series[str] = pa.Field(
        nullable=True,
        description="ZIP code as text: 5 digits; pre-2019 files give the ZIP as published (5 or 9 digits).",
        metadata=cms("Rndrng_Prvdr_Zip5", legacy="nppes_provider_zip"),
    )
    provider_ruca: Series[str] = pa.Field(
        nullable=True,
        description="Rural-Urban Commuting Area code; NULL in pre-2019 files.",
        metadata=cms("Rndrng_Prvdr_RUCA"),
    )
    provider_ruca_desc: Series[str] = pa.Field(
        nullable=True, description="RUCA description; NULL in pre-2019 files.", metadata=cms("Rndrng_Prvdr_RUCA_Desc")
    )
    provider_country: Series[str] = pa.Field(
        nullable=True, description="Country.", metadata=cms("Rndrng_Prvdr_Cntry", legacy="nppes_provider_country")
    )
    provider_type: Series[str] = pa.Field(
        nullable=True, description="Provider specialty.", metadata=cms("Rndrng_Prvdr_Type", legacy="provider_type")
    )
    medicare_participating: Series[str] = pa.Field(
        nullable=True,
        isin=list(YES_NO),
        description="Medicare participating indicator.",
        metadata=cms("Rndrng_Prvdr_Mdcr_Prtcptg_Ind", legacy="medicare_participation_indicator"),
    )

    class Config:
        name = "utilization.physician_provider_service"
        unique = ["data_year", "npi", "hcpcs_code", "place_of_service"]
        # A PRIMARY KEY index on ten million rows would cost more than the load; the key is still checked.
        metadata = {"ddl_primary_key": False, "asset_name": "provider_service"}


class Geographies(pa.DataFrameModel):
    """Geographies of the CMS State-level rows (FIPS codes and CMS pseudo-geographies) with their type, from
    sources/reference/geographies.csv. Join on geo_code; National rows have no entry (geo_type 'national')."""

    geo_code: Series[str] = pa.Field(
        unique=True, fullmatch=r"^(?:[0-9]{2}|9[A-Z])$", description="Two-digit FIPS code or CMS code 9A-9E."
    )
    geo_name: Series[str] = pa.Field(description="Name of the state, territory or pseudo-geography.")
    geo_type: Series[str] = pa.Field(
        isin=list(GEO_TYPES), description="state, territory, armed_forces, unknown or foreign_country."
    )

    class Config:
        name = "utilization.geographies"


class SourceFiles(pa.DataFrameModel):
    """One row per entry of the utilization folder: what was loaded from it, what was quarantined, why it was
    rejected, or why it was skipped (not a CMS file, a symbolic link, a FIFO …)."""

    file_name: Series[str] = pa.Field(unique=True, description="Name in the utilization folder.")
    layout: Series[str] = pa.Field(
        nullable=True, isin=list(LAYOUT_NAMES), description="Layout recognized from the header."
    )
    data_year: Series[pd.Int32Dtype] = pa.Field(nullable=True, ge=2000, description="Data year.", metadata=_YEAR)
    cms_release: Series[str] = pa.Field(
        nullable=True,
        fullmatch=r"^R[0-9]{2}_P[0-9]{2}_V[0-9]{2}$",
        description="CMS release from the name (R25_P05_V20 in MUP_PHY_R25_P05_V20_D23_…); a newer release "
        "of the same layout and year wins.",
    )
    file_form: Series[str] = pa.Field(
        nullable=True, description="Header naming and column set recognized (e.g. 29 columns with gender)."
    )
    compression: Series[str] = pa.Field(
        nullable=True, isin=list(COMPRESSIONS), description="none, gzip (.gz) or zip (one CMS file inside)."
    )
    encoding: Series[str] = pa.Field(
        nullable=True,
        isin=list(ENCODINGS),
        description="Text encoding the file was read with (latin-1 when it is not valid UTF-8); NULL when not read.",
    )
    sha256: Series[str] = pa.Field(
        nullable=True, fullmatch=SHA256_HEX, description="SHA-256 of the file; NULL for skipped entries."
    )
    file_size_bytes: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, description="File size in bytes.")
    rows_loaded: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Rows now in the target table from this file.")
    rows_quarantined: Series[pd.Int64Dtype] = pa.Field(
        ge=0, description="CSV lines of this file now in utilization.quarantine (one per line, whatever its faults)."
    )
    status: Series[str] = pa.Field(
        isin=list(SOURCE_FILE_STATUSES), description="loaded, rejected (see error) or skipped (see error)."
    )
    error: Series[str] = pa.Field(nullable=True, description="Why the file was rejected or skipped; NULL when loaded.")
    note: Series[str] = pa.Field(
        nullable=True, description="What else the loader did with the file (columns ignored, zip member read …)."
    )
    loaded_at: Series[pd.Timestamp] = pa.Field(
        description="When the file was processed (UTC), or last found unchanged after its change time moved (a "
        "chmod): a change time after it makes the loader and the sensor hash the file again."
    )
    file_modified_at: Series[pd.Timestamp] = pa.Field(
        nullable=True,
        description="File modification time (UTC); an unchanged size and time skip the reload (unless the change "
        "time is after loaded_at and the SHA-256 differs).",
    )
    is_synthetic: Series[pd.BooleanDtype] = pa.Field(
        description="True for synthetic sample files: the SHA-256 of the content is listed in "
        "sources/reference/synthetic_utilization_files.csv (never decided by name). NOT CMS data."
    )

    class Config:
        name = "utilization.source_files"


class Quarantine(RejectedRow):
    """Lines of utilization files that failed the contract, one row per line with every reason. They are not in
    the target tables. Same columns as core.rejected_rows, plus the file's layout and data year."""

    source_file: Series[str] = pa.Field(description="File the line came from.")
    layout: Series[str] = pa.Field(description="Layout of that file.")
    data_year: Series[pd.Int32Dtype] = pa.Field(description="Data year of that file.", metadata=_YEAR)

    class Config:
        name = "utilization.quarantine"


GEO_CONTRACT = TableContract(PhysicianGeoService)
PROVIDER_CONTRACT = TableContract(PhysicianProviderService)
GEOGRAPHIES_CONTRACT = TableContract(Geographies)
SOURCE_FILES_CONTRACT = TableContract(SourceFiles)
QUARANTINE_CONTRACT = TableContract(Quarantine)
UTILIZATION_CONTRACTS: tuple[TableContract, ...] = (
    GEO_CONTRACT,
    PROVIDER_CONTRACT,
    GEOGRAPHIES_CONTRACT,
    SOURCE_FILES_CONTRACT,
    QUARANTINE_CONTRACT,
)
