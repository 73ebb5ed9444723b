-- marts.code_unit_limits: per documented code, MUE setting and CMS utilization data year, the NCCI medically unlikely
-- edit in force at the end of that year (the latest quarterly file effective on or before December 31, not the
-- newest one) next to the national services per beneficiary-day of the physician utilization data
-- (Tot_Srvcs / Tot_Bene_Day_Srvcs, National rows, both places of service summed). A code without utilization keeps
-- one row per setting with a NULL data year, judged against the MUE in force on the reference date.
WITH parameters AS (
    SELECT coalesce(max(reference_date), current_date) AS reference_date FROM medicare.coding_edit_parameters
),
settings AS (
    SELECT * FROM (VALUES ('practitioner'), ('hospital_outpatient'), ('dme')) AS s(mue_setting)
),
national AS (
    SELECT
        hcpcs_code AS code,
        data_year,
        sum(total_services) AS cms_total_services,
        sum(total_beneficiary_day_services) AS cms_beneficiary_day_services
    FROM utilization.physician_geo_service
    WHERE geo_level = 'National'
    GROUP BY hcpcs_code, data_year
),
grid AS (
    SELECT
        c.code,
        c.title,
        s.mue_setting,
        n.data_year,
        n.cms_total_services,
        n.cms_beneficiary_day_services,
        CASE WHEN n.data_year IS NULL THEN p.reference_date ELSE make_date(n.data_year, 12, 31) END AS judged_on
    FROM core.codes AS c
    CROSS JOIN settings AS s
    CROSS JOIN parameters AS p
    LEFT JOIN national AS n ON n.code = c.code
),
in_force AS (
    SELECT g.*, m.effective_date, m.mue_value, m.adjudication_indicator, m.adjudication_label, m.rationale
    FROM grid AS g
    ASOF LEFT JOIN medicare.ncci_mue AS m
        ON m.setting = g.mue_setting AND m.hcpcs_code = g.code AND m.effective_date <= g.judged_on
)
SELECT
    code,
    title,
    mue_setting,
    data_year,
    judged_on AS mue_in_force_on,
    effective_date AS mue_effective_date,
    mue_value,
    adjudication_indicator,
    adjudication_label,
    rationale AS mue_rationale,
    mue_value IS NOT NULL AS has_mue,
    cms_total_services,
    cms_beneficiary_day_services,
    cms_total_services / nullif(cms_beneficiary_day_services, 0) AS services_per_beneficiary_day,
    cms_total_services / nullif(cms_beneficiary_day_services, 0) > mue_value AS exceeds_mue
FROM in_force
ORDER BY code, mue_setting, data_year NULLS FIRST
