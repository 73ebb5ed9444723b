-- marts.code_care_sites: one row per documented code, care site and POS code of that site (long form of
-- code_overview.care_sites_text / pos_codes_text). A care site with no POS codes (unresolved) keeps one row
-- with a NULL pos_code, so no documented site is lost.
WITH site_pos AS (
    SELECT
        care_site_id,
        unnest(CASE WHEN len(pos_codes) > 0 THEN pos_codes ELSE [NULL]::VARCHAR[] END) AS pos_code
    FROM core.care_sites
)
SELECT
    ccs.code,
    c.title,
    cs.care_site_id,
    cs.care_site_name,
    sp.pos_code,
    pos.place_of_service_name AS pos_name,
    cs.cms_facility_setting,
    cs.is_resolved
FROM core.code_care_sites AS ccs
JOIN core.codes AS c USING (code)
JOIN core.care_sites AS cs USING (care_site_id)
JOIN site_pos AS sp USING (care_site_id)
LEFT JOIN core.place_of_service AS pos ON pos.place_of_service_code = sp.pos_code
ORDER BY ccs.code, cs.care_site_name, sp.pos_code NULLS LAST
