-- marts.code_utilization: one row per documented code x CMS facility setting x geography x year.
-- Codes with no CMS rows keep one row with NULL measures (has_utilization = false) so the gap is visible.
-- care_sites_text lists the documented care sites whose cms_facility_setting equals the row's place_of_service
-- (marts_lists.code_utilization_care_sites as text).
WITH payer_counts AS (
    SELECT code, count(*) AS payer_count
    FROM core.code_payers
    GROUP BY code
),
utilization AS (
    SELECT g.*, sf.is_synthetic
    FROM utilization.physician_geo_service AS g
    LEFT JOIN utilization.source_files AS sf ON sf.file_name = g.source_file
)
SELECT
    c.code,
    c.title,
    u.place_of_service,
    u.geo_level,
    u.geo_code,
    u.geo_desc,
    u.geo_type,
    u.data_year,
    make_date(u.data_year, 1, 1) AS data_year_start,
    u.total_services,
    u.total_beneficiaries,
    u.avg_allowed_amount,
    u.avg_payment_amount,
    CASE WHEN len(s.care_sites) > 0 THEN array_to_string(s.care_sites, ', ') END AS care_sites_text,
    coalesce(p.payer_count, 0) AS payer_count,
    u.hcpcs_code IS NOT NULL AS has_utilization,
    u.is_synthetic
FROM core.codes AS c
LEFT JOIN utilization AS u ON u.hcpcs_code = c.code
LEFT JOIN marts_lists.code_utilization_care_sites AS s ON s.code = c.code AND s.place_of_service = u.place_of_service
LEFT JOIN payer_counts AS p ON p.code = c.code
-- Sorted by code so DuckDB's zone maps make a single-code lookup read one row group.
ORDER BY c.code, u.data_year, u.geo_level, u.geo_code NULLS FIRST, u.place_of_service
