"""Contracts of the coding-edit tables in the ``medicare`` schema: NCCI PTP edits, NCCI MUEs, the HCPCS Level II
file, the modifier rules (reference data) and the reference date the marts judge "active" on.

The NCCI tables are big (a practitioner PTP release has about 2.6 million rows): they are validated as SQL
inside DuckDB, and their keys are checked rather than declared as PRIMARY KEY indexes.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.table_contract import TableContract, row_rule

MEDICARE_SCHEMA = "medicare"
DATE = {"sql_type": "DATE"}
PTP_SETTINGS = ("practitioner", "hospital_outpatient")
MUE_SETTINGS = ("practitioner", "hospital_outpatient", "dme")
PTP_MODIFIER_INDICATORS = ("0", "1", "9")
MUE_ADJUDICATION_INDICATORS = (1, 2, 3)
HCPCS_RECORD_KINDS = ("code", "modifier")
CODING_EDIT_LAYOUTS = ("ncci_ptp", "ncci_mue", "hcpcs_level2")
VERDICTS = ("ok", "needs_documentation", "conflict", "no_data")
# Codes as NCCI and HCPCS files write them: five characters (CPT, Category II/III, PLA or Level II).
EDIT_CODE = r"^[0-9A-Z]{5}$"
MODIFIER = r"^[0-9A-Z]{2}$"


class NcciPtp(pa.DataFrameModel):
    """NCCI procedure-to-procedure edits, as CMS publishes them (every edit of the newest release loaded per
    setting, including deleted ones): when both codes are billed for one patient on one day, the column 2 code is
    denied unless the modifier indicator is 1 and a PTP-associated modifier applies."""

    setting: Series[str] = pa.Field(
        isin=list(PTP_SETTINGS), description="practitioner (ccipra files) or hospital_outpatient (ccioph files)."
    )
    column_1_code: Series[str] = pa.Field(fullmatch=EDIT_CODE, description="Column 1 code: the one that is paid.")
    column_2_code: Series[str] = pa.Field(
        fullmatch=EDIT_CODE, description="Column 2 code: denied when billed with the column 1 code."
    )
    effective_date: Series[pd.Timestamp] = pa.Field(
        description="First date of service the edit applies to.", metadata=DATE
    )
    deletion_date: Series[pd.Timestamp] = pa.Field(
        nullable=True,
        description="Exclusive end: the edit does not apply on or after this date; NULL where CMS writes * (none).",
        metadata=DATE,
    )
    modifier_indicator: Series[str] = pa.Field(
        isin=list(PTP_MODIFIER_INDICATORS),
        description="0 no modifier can bypass the edit; 1 a PTP-associated modifier can; 9 not applicable (an edit "
        "deleted retroactively: deletion date = effective date). Never counts as active.",
    )
    in_existence_before_1996: Series[pd.BooleanDtype] = pa.Field(
        description="True where CMS marks the edit * (in existence prior to 1996)."
    )
    rationale: Series[str] = pa.Field(nullable=True, description="CMS's PTP edit rationale category.")
    ncci_version: Series[str] = pa.Field(
        fullmatch=r"^v[0-9]{3}r[0-9]+$", description="NCCI release from the file name (v322r0 = 2026 Q3)."
    )
    source_file: Series[str] = pa.Field(description="File the edit was loaded from.")

    deletion_not_before_effective = row_rule(
        "deletion not before effective",
        "deletion_date IS NULL OR deletion_date >= effective_date",
        "an edit cannot end before it starts",
    )

    class Config:
        name = f"{MEDICARE_SCHEMA}.ncci_ptp"
        unique = ["setting", "column_1_code", "column_2_code", "effective_date", "deletion_date"]
        metadata = {"ddl_primary_key": False}  # NULL deletion dates, and 2.6 million rows


class NcciMue(pa.DataFrameModel):
    """NCCI medically unlikely edits: the most units of a code one provider reports for one patient (per line or
    per day), one row per setting, code and quarterly file (history is kept to match the MUE in force on a date)."""

    setting: Series[str] = pa.Field(isin=list(MUE_SETTINGS), description="practitioner, hospital_outpatient or dme.")
    hcpcs_code: Series[str] = pa.Field(fullmatch=EDIT_CODE, description="CPT or HCPCS code.")
    effective_date: Series[pd.Timestamp] = pa.Field(
        description="Effective date of the quarterly file (only in its name: _Eff_MM-DD-YYYY).", metadata=DATE
    )
    mue_value: Series[pd.Int32Dtype] = pa.Field(
        ge=0,
        description="Most units of service; 0 means not payable in this setting.",
        metadata={"sql_type": "INTEGER"},
    )
    adjudication_indicator: Series[pd.Int32Dtype] = pa.Field(
        isin=list(MUE_ADJUDICATION_INDICATORS),
        description="1 claim-line edit; 2 per-day edit based on policy (never overridden); 3 per-day edit based on "
        "clinical benchmarks (payable above the value on medical-record review).",
        metadata={"sql_type": "INTEGER"},
    )
    adjudication_label: Series[str] = pa.Field(description="The indicator's label as CMS writes it.")
    rationale: Series[str] = pa.Field(nullable=True, description="CMS's MUE rationale.")
    source_file: Series[str] = pa.Field(description="File the row was loaded from.")

    class Config:
        name = f"{MEDICARE_SCHEMA}.ncci_mue"
        unique = ["setting", "hcpcs_code", "effective_date"]


class HcpcsLevel2(pa.DataFrameModel):
    """The HCPCS Level II quarterly file (fixed-width ANWEB): Level II codes and modifiers with their official
    descriptions. Public CMS data (no CPT text)."""

    hcpcs_code: Series[str] = pa.Field(
        fullmatch=r"^(?:[A-Z][0-9]{4}|[0-9A-Z]{2})$", description="A Level II code, or a two-character modifier."
    )
    record_kind: Series[str] = pa.Field(isin=list(HCPCS_RECORD_KINDS), description="code or modifier.")
    release: Series[str] = pa.Field(
        fullmatch=r"^[0-9]{4}-[0-9]{2}$", description="Quarter of the file, from its name (HCPC2026_APR -> 2026-04)."
    )
    long_description: Series[str] = pa.Field(
        nullable=True, description="Long description (continuation records joined in sequence order)."
    )
    short_description: Series[str] = pa.Field(nullable=True, description="Short description (28 characters).")
    betos: Series[str] = pa.Field(nullable=True, description="Berenson-Eggers type of service.")
    coverage_code: Series[str] = pa.Field(
        nullable=True,
        description="C carrier judgment; D special coverage instructions; I not payable by Medicare; M not covered; "
        "S not covered by statute.",
    )
    add_date: Series[pd.Timestamp] = pa.Field(nullable=True, description="Date the code was added.", metadata=DATE)
    effective_date: Series[pd.Timestamp] = pa.Field(nullable=True, description="Action effective date.", metadata=DATE)
    termination_date: Series[pd.Timestamp] = pa.Field(
        nullable=True, description="Last valid date (inclusive); NULL while the code is valid.", metadata=DATE
    )
    source_file: Series[str] = pa.Field(description="File the row was loaded from.")

    class Config:
        name = f"{MEDICARE_SCHEMA}.hcpcs_level2"
        unique = ["release", "record_kind", "hcpcs_code"]


class ModifierRules(pa.DataFrameModel):
    """What Medicare's indicators say about a modifier, from sources/reference/modifier_rules.csv: one row per
    modifier, check and indicator value. marts.modifier_checks applies these rows; no rule is written in code."""

    modifier_code: Series[str] = pa.Field(
        fullmatch=r"^(?:[0-9A-Z]{2}|\*)$", description="Modifier; * for a rule on every fee-schedule check."
    )
    check_name: Series[str] = pa.Field(fullmatch=r"^[a-z_]+$", description="The check the rule belongs to.")
    indicator_column: Series[str] = pa.Field(
        fullmatch=r"^[a-z_0-9]+$", description="Column judged: a medicare.pfs_rvu column, or modifier_indicator."
    )
    indicator_value: Series[str] = pa.Field(
        description="The value the rule applies to; * for any value no other rule of the check names; 'none' for "
        "no row (code not on the fee schedule, or no active edit)."
    )
    verdict: Series[str] = pa.Field(isin=list(VERDICTS), description="ok, needs_documentation, conflict or no_data.")
    reason_template: Series[str] = pa.Field(
        description="The reason a coder reads; {code}, {modifier}, {value}, {release}, {setting}, {edit_count}, "
        "{edit_count_0} and {reference_date} are filled in."
    )

    class Config:
        name = f"{MEDICARE_SCHEMA}.modifier_rules"
        unique = ["modifier_code", "check_name", "indicator_value"]


class CodingEditParameters(pa.DataFrameModel):
    """The date the coding-edit marts judge an edit active on (CPT_CODING_EDITS_REFERENCE_DATE, default today)."""

    reference_date: Series[pd.Timestamp] = pa.Field(
        description="Edits effective on or before it and not deleted on or before it are active.", metadata=DATE
    )
    reference_date_source: Series[str] = pa.Field(
        isin=["setting", "today"], description="setting (CPT_CODING_EDITS_REFERENCE_DATE) or today (the default)."
    )

    class Config:
        name = f"{MEDICARE_SCHEMA}.coding_edit_parameters"


NCCI_PTP_CONTRACT = TableContract(NcciPtp)
NCCI_MUE_CONTRACT = TableContract(NcciMue)
HCPCS_LEVEL2_CONTRACT = TableContract(HcpcsLevel2)
MODIFIER_RULES_CONTRACT = TableContract(ModifierRules)
CODING_EDIT_PARAMETERS_CONTRACT = TableContract(CodingEditParameters)
CODING_EDIT_CONTRACTS: tuple[TableContract, ...] = (
    NCCI_PTP_CONTRACT,
    NCCI_MUE_CONTRACT,
    HCPCS_LEVEL2_CONTRACT,
    MODIFIER_RULES_CONTRACT,
    CODING_EDIT_PARAMETERS_CONTRACT,
)
