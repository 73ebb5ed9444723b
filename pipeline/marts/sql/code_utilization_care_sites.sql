-- marts_lists.code_utilization_care_sites: for every documented code and CMS facility setting (F, O), the documented
-- care sites in that setting as a sorted list (empty if none). marts.code_utilization.care_sites_text joins it.
WITH settings AS (
    SELECT unnest(['F', 'O']) AS place_of_service
),
care_sites_by_setting AS (
    SELECT ccs.code, cs.cms_facility_setting AS place_of_service, list(cs.care_site_name ORDER BY cs.care_site_name) AS care_sites
    FROM core.code_care_sites AS ccs
    JOIN core.care_sites AS cs USING (care_site_id)
    WHERE cs.cms_facility_setting IS NOT NULL
    GROUP BY ALL
)
SELECT c.code, s.place_of_service, coalesce(l.care_sites, []::VARCHAR[]) AS care_sites
FROM core.codes AS c
CROSS JOIN settings AS s
LEFT JOIN care_sites_by_setting AS l ON l.code = c.code AND l.place_of_service = s.place_of_service
ORDER BY c.code, s.place_of_service
