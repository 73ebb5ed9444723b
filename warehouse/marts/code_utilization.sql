-- marts.code_utilization: one row per documented code x CMS facility setting x geography x year.
-- Codes with no CMS rows keep one row with NULL measures (has_utilization = false) so the gap is visible.
-- care_sites lists the documented care sites whose cms_facility_setting equals the row's place_of_service.
WITH payer_counts AS (
    SELECT code, count(*) AS payer_count
    FROM core.code_payers
    GROUP BY code
),
care_sites_by_setting AS (
    SELECT ccs.code, cs.cms_facility_setting, list(cs.care_site_name ORDER BY cs.care_site_name) AS care_sites
    FROM core.code_care_sites AS ccs
    JOIN core.care_sites AS cs USING (care_site_id)
    WHERE cs.cms_facility_setting IS NOT NULL
    GROUP BY ALL
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
    u.data_year,
    u.total_services,
    u.total_beneficiaries,
    u.avg_allowed_amount,
    u.avg_payment_amount,
    coalesce(s.care_sites, []::VARCHAR[]) AS care_sites,
    coalesce(p.payer_count, 0) AS payer_count,
    u.hcpcs_code IS NOT NULL AS has_utilization,
    u.is_synthetic
FROM core.codes AS c
LEFT JOIN utilization AS u ON u.hcpcs_code = c.code
LEFT JOIN care_sites_by_setting AS s ON s.code = c.code AND s.cms_facility_setting = u.place_of_service
LEFT JOIN payer_counts AS p ON p.code = c.code
-- Sorted by code so DuckDB's zone maps make a single-code lookup read one row group.
ORDER BY c.code, u.data_year, u.geo_level, u.geo_code NULLS FIRST, u.place_of_service
