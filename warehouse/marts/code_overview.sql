-- marts.code_overview: one row per documented code, with its modifiers, payers and care sites as lists.
SELECT
    c.code,
    c.code_system,
    c.title,
    c.service_type,
    c.laterality,
    c.approach,
    c.imaging_guidance_included,
    coalesce((
        SELECT list(cm.modifier_code ORDER BY cm.modifier_code)
        FROM core.code_modifiers AS cm
        JOIN core.modifiers AS m USING (modifier_code)
        WHERE cm.code = c.code AND m.is_real_modifier
    ), []::VARCHAR[]) AS modifiers,
    coalesce((
        SELECT list(p.payer_name ORDER BY p.payer_name)
        FROM core.code_payers AS cp
        JOIN core.payers AS p USING (payer_id)
        WHERE cp.code = c.code
    ), []::VARCHAR[]) AS payers,
    coalesce((
        SELECT list(cs.care_site_name ORDER BY cs.care_site_name)
        FROM core.code_care_sites AS ccs
        JOIN core.care_sites AS cs USING (care_site_id)
        WHERE ccs.code = c.code
    ), []::VARCHAR[]) AS care_sites,
    coalesce((
        SELECT list_sort(list_distinct(flatten(list(cs.pos_codes))))
        FROM core.code_care_sites AS ccs
        JOIN core.care_sites AS cs USING (care_site_id)
        WHERE ccs.code = c.code
    ), []::VARCHAR[]) AS pos_codes,
    c.document_id,
    c.document_status
FROM core.codes AS c
ORDER BY c.code
