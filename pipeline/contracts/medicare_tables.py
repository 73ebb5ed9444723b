"""Contracts of the ``medicare`` schema: CMS payment policy files (fee schedules) as CMS publishes them.

``medicare.pfs_rvu`` (Physician Fee Schedule national relative values, PPRRVU), ``medicare.opps_rates``
(OPPS Addendum B) and ``medicare.asc_rates`` (ASC Addendum AA) hold one row per release and code; every row
names the folder entry it came from (``source_file``, see ``medicare.source_files``) and, for zips, the member.
Lines that fail the contract (a cell that is not a number, a code that is not a code) are in
``medicare.quarantine`` with their line number and every reason. The loader is ``pipeline/medicare_policy/``.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.coding_edit_tables import CODING_EDIT_CONTRACTS, CODING_EDIT_LAYOUTS
from pipeline.contracts.rejects import RejectedRow
from pipeline.contracts.table_contract import TableContract
from pipeline.core.domains import MODIFIER_CODE, SHA256_HEX, SOURCE_FILE_STATUSES

# A HCPCS code as the fee schedules carry it: CPT (incl. Category II/III) or Level II.
SCHEDULE_CODE = r"^[0-9A-Z]{5}$"
LAYOUTS = ("pfs_rvu", "opps_addendum_b", "asc_addendum_aa", *CODING_EDIT_LAYOUTS)
FILE_FORMS = ("csv", "txt", "xlsx")
# 2026 onward CMS ships a file per conversion factor; earlier releases have one (standard).
CF_VARIANTS = ("standard", "non_qpp", "qpp")
PFS_STATUS_CODES = tuple("ABCDEFGHIJMNPRTX")
PAYABLE_STATUS_CODES = ("A", "R", "T")
PAYMENT_SETTINGS = ("office", "hospital_outpatient", "ambulatory_surgery_center")
_YEAR = {"sql_type": "INTEGER"}
_RVU = {"ge": 0, "finite": ()}


def _release(kind: str) -> str:
    return (
        f"Release of the {kind}, from the file's own title lines where it states one, otherwise from its name "
        "(rule in pipeline/medicare_policy/releases.py)."
    )


class ScheduleRow(pa.DataFrameModel):
    """Columns every fee-schedule table shares."""

    data_year: Series[pd.Int32Dtype] = pa.Field(
        ge=2000, description="Calendar year the schedule prices.", metadata=_YEAR
    )
    release: Series[str] = pa.Field(description=_release("schedule"))
    hcpcs_code: Series[str] = pa.Field(
        fullmatch=SCHEDULE_CODE,
        description="HCPCS code (CPT or Level II); a stray non-printing byte after it is stripped at load (noted on "
        "the file in medicare.source_files.note).",
    )
    source_file: Series[str] = pa.Field(description="Folder entry the row came from (medicare.source_files.file_name).")
    source_member: Series[str] = pa.Field(nullable=True, description="File inside the zip it came from; NULL if none.")
    file_form: Series[str] = pa.Field(isin=list(FILE_FORMS), description="csv, txt (fixed width) or xlsx.")
    line_number: Series[pd.Int64Dtype] = pa.Field(ge=1, description="Line (row of the sheet) of the source file.")


class PfsRvu(ScheduleRow):
    """Physician Fee Schedule national relative value units (CMS PPRRVU file): one row per data year, release,
    conversion-factor variant, HCPCS code and modifier (NULL for the global service; 26/TC rows exist only for
    PC/TC indicator 1). Each row is priced on its own: national amount = total RVU x conversion factor, only for
    status A, R or T and where the setting is priced. CPT descriptions (AMA text) are never stored."""

    conversion_factor_variant: Series[str] = pa.Field(
        isin=list(CF_VARIANTS),
        description="standard (one file per release, before 2026), non_qpp or qpp (2026 on: files that differ "
        "only in the conversion factor; the marts use non_qpp).",
    )
    modifier: Series[str] = pa.Field(
        nullable=True, fullmatch=MODIFIER_CODE, description="26, TC or 53; NULL for the global service."
    )
    description: Series[str] = pa.Field(
        nullable=True, description="CMS description for Level II (letter-first) codes; NULL for CPT codes (AMA text)."
    )
    status_code: Series[str] = pa.Field(
        isin=list(PFS_STATUS_CODES),
        description="PFS status: A active, R restricted, T injection (these three are paid from the RVUs); B bundled, "
        "C contractor-priced, E excluded, I not valid, J anesthesia, M measurement, N non-covered, P bundled/"
        "excluded, X statutory exclusion, D/F/G/H deleted.",
    )
    work_rvu: Series[float] = pa.Field(nullable=True, description="Work RVU.", **_RVU)
    nonfacility_pe_rvu: Series[float] = pa.Field(
        nullable=True, description="Non-facility practice expense RVU.", **_RVU
    )
    facility_pe_rvu: Series[float] = pa.Field(nullable=True, description="Facility practice expense RVU.", **_RVU)
    mp_rvu: Series[float] = pa.Field(nullable=True, description="Malpractice RVU.", **_RVU)
    nonfacility_total_rvu: Series[float] = pa.Field(nullable=True, description="Non-facility total RVU.", **_RVU)
    facility_total_rvu: Series[float] = pa.Field(nullable=True, description="Facility total RVU.", **_RVU)
    nonfacility_priced: Series[pd.BooleanDtype] = pa.Field(
        description="False where the non-facility NA indicator says NA (not priced in an office)."
    )
    facility_priced: Series[pd.BooleanDtype] = pa.Field(
        description="False where the facility NA indicator says NA (not priced in a facility)."
    )
    pctc_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]$", description="PC/TC indicator (1: diagnostic test, 26 and TC valid)."
    )
    global_days: Series[str] = pa.Field(
        nullable=True,
        isin=["000", "010", "090", "MMM", "XXX", "YYY", "ZZZ"],
        description="Global period: 000, 010, 090, MMM maternity, XXX not applicable, YYY contractor, ZZZ add-on.",
    )
    mult_proc_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]$", description="Multiple procedure indicator (modifier 51)."
    )
    bilateral_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]$", description="Bilateral surgery indicator (modifier 50)."
    )
    assistant_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]$", description="Assistant at surgery indicator (80/81/82/AS)."
    )
    cosurgeon_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]$", description="Co-surgeon indicator (62)."
    )
    team_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]$", description="Team surgery indicator (66)."
    )
    pricing_indicator: Series[str] = pa.Field(
        nullable=True, description="Pricing indicator (2026 on: 1 QPP applies, 9 n/a); NULL before 2026."
    )
    endo_base: Series[str] = pa.Field(nullable=True, description="Endoscopic base code (multiple procedure 3).")
    conversion_factor: Series[float] = pa.Field(gt=0, finite=(), description="Conversion factor (USD per RVU).")
    nonfacility_national_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="National non-facility payment: round(nonfacility_total_rvu x conversion_factor, 2), computed "
        "in decimal arithmetic; NULL unless status A, R or T and priced in an office.",
    )
    facility_national_amount: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="National facility payment: round(facility_total_rvu x conversion_factor, 2); NULL unless "
        "status A, R or T and priced in a facility.",
    )

    class Config:
        name = "medicare.pfs_rvu"
        unique = ["data_year", "release", "conversion_factor_variant", "hcpcs_code", "modifier"]
        metadata = {"ddl_primary_key": False}  # the global row's modifier is NULL


class OppsRates(ScheduleRow):
    """OPPS Addendum B: hospital outpatient payment rates by HCPCS code, one row per data year, release and code.
    Packaged codes have no APC and no payment rate. Money is USD; '.' in a copayment means none (NULL)."""

    description: Series[str] = pa.Field(
        nullable=True, description="Short descriptor for Level II codes; NULL for CPT codes (AMA text)."
    )
    status_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[A-Z][0-9A-Z]?$", description="OPPS status indicator (J1, J2, T, S, N, Q1 …)."
    )
    apc: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[0-9]{4}$", description="APC, zero-padded; NULL if packaged."
    )
    relative_weight: Series[float] = pa.Field(nullable=True, ge=0, finite=(), description="APC relative weight.")
    payment_rate: Series[float] = pa.Field(
        nullable=True, ge=0, finite=(), description="National unadjusted payment rate (USD); NULL when packaged."
    )
    national_unadjusted_copayment: Series[float] = pa.Field(
        nullable=True, ge=0, finite=(), description="National unadjusted copayment (USD); NULL where CMS writes '.'."
    )
    minimum_unadjusted_copayment: Series[float] = pa.Field(
        nullable=True, ge=0, finite=(), description="Minimum unadjusted copayment (USD)."
    )
    ira_coinsurance_percent: Series[float] = pa.Field(
        nullable=True, ge=0, finite=(), description="IRA coinsurance percentage (2025 on; '%' removed)."
    )
    changed_flag: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="True where CMS marks the row with '*' (changed in this release)."
    )

    class Config:
        name = "medicare.opps_rates"
        unique = ["data_year", "release", "hcpcs_code"]


class AscRates(ScheduleRow):
    """ASC Addendum AA: ambulatory surgical center payment rates, one row per data year, release and code.
    Packaged codes (payment indicator N1 …) have no weight and no rate."""

    description: Series[str] = pa.Field(
        nullable=True, description="Short descriptor for Level II codes; NULL for CPT codes (AMA text)."
    )
    payment_indicator: Series[str] = pa.Field(
        nullable=True, fullmatch=r"^[A-Z][0-9A-Z]$", description="ASC payment indicator (A2, G2, J8, N1 …)."
    )
    subject_to_multiple_procedure_discount: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="Y in the file: the multiple procedure discount applies."
    )
    payment_weight: Series[float] = pa.Field(nullable=True, ge=0, finite=(), description="ASC payment weight.")
    payment_rate: Series[float] = pa.Field(
        nullable=True, ge=0, finite=(), description="National unadjusted ASC payment rate (USD); NULL when packaged."
    )

    class Config:
        name = "medicare.asc_rates"
        unique = ["data_year", "release", "hcpcs_code"]


class PaymentSettings(pa.DataFrameModel):
    """Which place-of-service codes count as which Medicare payment setting (office, hospital outpatient,
    ambulatory surgery center), from sources/reference/payment_settings.csv; marts.code_site_payments uses it to
    say whether a document names a care site in the setting."""

    place_of_service_code: Series[str] = pa.Field(unique=True, fullmatch=r"^[0-9]{2}$", description="POS code.")
    payment_setting: Series[str] = pa.Field(isin=list(PAYMENT_SETTINGS), description="Payment setting.")

    class Config:
        name = "medicare.payment_settings"


class MedicareSourceFiles(pa.DataFrameModel):
    """One row per entry of the medicare policy folder: loaded (with its layout, release and rows), rejected (the
    reason says why, e.g. a conflict naming the other file) or skipped (not a fee-schedule file: the header it
    has is named). The same shape as utilization.source_files."""

    file_name: Series[str] = pa.Field(unique=True, description="Name in the medicare policy folder.")
    layout: Series[str] = pa.Field(
        nullable=True, description="Layouts recognized from content (pfs_rvu, opps_addendum_b, asc_addendum_aa)."
    )
    data_year: Series[pd.Int32Dtype] = pa.Field(nullable=True, ge=2000, description="Data year.", metadata=_YEAR)
    release: Series[str] = pa.Field(nullable=True, description="Release(s) loaded from the entry, comma-separated.")
    file_form: Series[str] = pa.Field(nullable=True, description="Form(s) read: csv, txt, xlsx.")
    compression: Series[str] = pa.Field(nullable=True, isin=["none", "zip"], description="none or zip.")
    encoding: Series[str] = pa.Field(
        nullable=True, description="utf-8, or latin-1 where the text is not UTF-8; NULL for xlsx or unread entries."
    )
    sha256: Series[str] = pa.Field(nullable=True, fullmatch=SHA256_HEX, description="SHA-256 of the entry.")
    file_size_bytes: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, description="Size in bytes.")
    rows_loaded: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Rows now in the medicare tables from it.")
    rows_quarantined: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Lines of it now in medicare.quarantine.")
    status: Series[str] = pa.Field(isin=list(SOURCE_FILE_STATUSES), description="loaded, rejected or skipped.")
    error: Series[str] = pa.Field(nullable=True, description="Why it was rejected or skipped; NULL when loaded.")
    note: Series[str] = pa.Field(
        nullable=True, description="What else the loader did (members skipped, bytes stripped from codes …)."
    )
    loaded_at: Series[pd.Timestamp] = pa.Field(description="When the entry was processed (UTC).")
    file_modified_at: Series[pd.Timestamp] = pa.Field(nullable=True, description="Modification time (UTC).")
    is_synthetic: Series[pd.BooleanDtype] = pa.Field(
        description="True for the bundled sample files (their values are partly made up: see "
        "sources/medicare_policy/README.md)."
    )

    class Config:
        name = "medicare.source_files"


class MedicareQuarantine(RejectedRow):
    """Lines of medicare policy files that failed the contract (a number cell that is not a number, a bad code,
    a duplicate key), one row per line with every reason; they are not in the target tables."""

    source_file: Series[str] = pa.Field(description="Folder entry the line came from.")
    layout: Series[str] = pa.Field(isin=list(LAYOUTS), description="Layout of that file.")
    release: Series[str] = pa.Field(description="Release of that file.")
    data_year: Series[pd.Int32Dtype] = pa.Field(description="Data year of that file.", metadata=_YEAR)

    class Config:
        name = "medicare.quarantine"


PFS_RVU_CONTRACT = TableContract(PfsRvu)
OPPS_RATES_CONTRACT = TableContract(OppsRates)
ASC_RATES_CONTRACT = TableContract(AscRates)
PAYMENT_SETTINGS_CONTRACT = TableContract(PaymentSettings)
SOURCE_FILES_CONTRACT = TableContract(MedicareSourceFiles)
QUARANTINE_CONTRACT = TableContract(MedicareQuarantine)
SCHEDULE_CONTRACTS = {"pfs_rvu": PFS_RVU_CONTRACT, "opps_addendum_b": OPPS_RATES_CONTRACT}
SCHEDULE_CONTRACTS["asc_addendum_aa"] = ASC_RATES_CONTRACT
MEDICARE_CONTRACTS: tuple[TableContract, ...] = (
    PFS_RVU_CONTRACT,
    OPPS_RATES_CONTRACT,
    ASC_RATES_CONTRACT,
    PAYMENT_SETTINGS_CONTRACT,
    SOURCE_FILES_CONTRACT,
    QUARANTINE_CONTRACT,
    *CODING_EDIT_CONTRACTS,
)
