-- marts.code_overview: one row per documented code; the lists of marts_lists.code_overview_lists as text
-- (', '-separated, same order, NULL when empty) so that SQLAlchemy-based BI tools can show and filter them.
SELECT
    c.code,
    c.code_system,
    c.title,
    c.service_type,
    c.laterality,
    c.approach,
    c.imaging_guidance_included,
    CASE WHEN len(l.modifiers) > 0 THEN array_to_string(l.modifiers, ', ') END AS modifiers_text,
    CASE WHEN len(l.payers) > 0 THEN array_to_string(l.payers, ', ') END AS payers_text,
    CASE WHEN len(l.care_sites) > 0 THEN array_to_string(l.care_sites, ', ') END AS care_sites_text,
    CASE WHEN len(l.pos_codes) > 0 THEN array_to_string(l.pos_codes, ', ') END AS pos_codes_text,
    c.document_id,
    c.document_status
FROM core.codes AS c
JOIN marts_lists.code_overview_lists AS l USING (code)
ORDER BY c.code
