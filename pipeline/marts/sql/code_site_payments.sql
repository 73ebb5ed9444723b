-- marts.code_site_payments: one row per documented code x data year x payment setting: what Medicare pays
-- (national, unadjusted) from the latest release of each fee schedule in that year, next to what it allowed.
-- Data years: every year some schedule was loaded for. The fee schedule is read from the global row (modifier
-- NULL) and, from 2026, the non-QPP conversion factor. professional_payment was computed at load
-- (medicare.pfs_rvu.*_national_amount: total RVU x CF in decimal arithmetic, NULL unless status A/R/T and priced).
WITH pfs_latest AS (
    SELECT data_year, max(release) AS release  -- labels sort by quarter: RVU25A < RVU25AR < RVU25B < … < RVU25D
    FROM medicare.pfs_rvu
    WHERE conversion_factor_variant <> 'qpp'
    GROUP BY data_year
),
pfs AS (
    SELECT p.*
    FROM medicare.pfs_rvu AS p
    JOIN pfs_latest AS l USING (data_year, release)
    WHERE p.modifier IS NULL AND p.conversion_factor_variant <> 'qpp'
),
opps_latest AS (
    SELECT data_year, max(release) AS release FROM medicare.opps_rates GROUP BY data_year
),
opps AS (
    SELECT o.* FROM medicare.opps_rates AS o JOIN opps_latest USING (data_year, release)
),
asc_latest AS (
    SELECT data_year, max(release) AS release FROM medicare.asc_rates GROUP BY data_year
),
asc_rates AS (
    SELECT a.* FROM medicare.asc_rates AS a JOIN asc_latest USING (data_year, release)
),
years AS (
    SELECT data_year FROM pfs_latest
    UNION
    SELECT data_year FROM opps_latest
    UNION
    SELECT data_year FROM asc_latest
),
settings AS (
    SELECT *
    FROM (VALUES ('office', 'O'), ('hospital_outpatient', 'F'), ('ambulatory_surgery_center', 'F'))
        AS s (setting, cms_place_of_service)
),
documented AS (
    SELECT DISTINCT ccs.code, ps.payment_setting
    FROM marts.code_care_sites AS ccs
    JOIN medicare.payment_settings AS ps ON ps.place_of_service_code = ccs.pos_code
),
national_use AS (
    SELECT g.hcpcs_code, g.data_year, g.place_of_service, g.total_services, g.avg_allowed_amount, sf.is_synthetic
    FROM utilization.physician_geo_service AS g
    LEFT JOIN utilization.source_files AS sf ON sf.file_name = g.source_file
    WHERE g.geo_level = 'National'
),
sample_files AS (
    SELECT file_name FROM medicare.source_files WHERE is_synthetic
),
rows AS (
    SELECT
        c.code,
        c.title,
        y.data_year,
        s.setting,
        s.cms_place_of_service,
        d.code IS NOT NULL AS documented_setting,
        p.release AS pfs_release,
        p.conversion_factor_variant,
        p.modifier,
        p.status_code,
        p.status_code IN ('A', 'R', 'T') AS payable,
        p.global_days,
        CASE WHEN s.setting = 'office' THEN p.nonfacility_total_rvu ELSE p.facility_total_rvu END AS total_rvu,
        p.conversion_factor,
        CASE WHEN s.setting = 'office' THEN p.nonfacility_national_amount ELSE p.facility_national_amount END
            AS professional_payment,
        o.release AS opps_release,
        o.status_indicator,
        o.apc,
        a.release AS asc_release,
        a.payment_indicator,
        CASE s.setting WHEN 'hospital_outpatient' THEN o.payment_rate WHEN 'ambulatory_surgery_center' THEN a.payment_rate END
            AS facility_payment,
        u.total_services AS cms_total_services,
        u.avg_allowed_amount AS cms_avg_allowed_amount,
        coalesce(u.is_synthetic, false)
            OR p.source_file IN (SELECT file_name FROM sample_files)
            OR o.source_file IN (SELECT file_name FROM sample_files)
            OR a.source_file IN (SELECT file_name FROM sample_files) AS is_synthetic
    FROM core.codes AS c
    CROSS JOIN years AS y
    CROSS JOIN settings AS s
    LEFT JOIN pfs AS p ON p.hcpcs_code = c.code AND p.data_year = y.data_year
    LEFT JOIN opps AS o ON s.setting = 'hospital_outpatient' AND o.hcpcs_code = c.code AND o.data_year = y.data_year
    LEFT JOIN asc_rates AS a
        ON s.setting = 'ambulatory_surgery_center' AND a.hcpcs_code = c.code AND a.data_year = y.data_year
    LEFT JOIN documented AS d ON d.code = c.code AND d.payment_setting = s.setting
    LEFT JOIN national_use AS u
        ON u.hcpcs_code = c.code AND u.data_year = y.data_year AND u.place_of_service = s.cms_place_of_service
)
SELECT
    * EXCLUDE (is_synthetic),
    CASE WHEN professional_payment IS NOT NULL OR facility_payment IS NOT NULL
        THEN round(coalesce(professional_payment, 0) + coalesce(facility_payment, 0), 2) END AS total_payment,
    coalesce(is_synthetic, false) AS is_synthetic
FROM rows
ORDER BY code, data_year, setting
