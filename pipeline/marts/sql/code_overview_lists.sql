-- marts_lists.code_overview_lists: one row per documented code with its modifiers, payers, care sites and POS codes
-- as sorted lists. marts.code_overview's *_text columns are these lists joined with ', '.
WITH modifier_lists AS (
    SELECT cm.code, list(cm.modifier_code ORDER BY cm.modifier_code) AS modifiers
    FROM core.code_modifiers AS cm
    JOIN core.modifiers AS m USING (modifier_code)
    WHERE m.is_real_modifier
    GROUP BY cm.code
),
payer_lists AS (
    SELECT cp.code, list(p.payer_name ORDER BY p.payer_name) AS payers
    FROM core.code_payers AS cp
    JOIN core.payers AS p USING (payer_id)
    GROUP BY cp.code
),
care_site_lists AS (
    -- One join of code_care_sites to care_sites serves both the names and the POS codes.
    SELECT
        ccs.code,
        list(cs.care_site_name ORDER BY cs.care_site_name) AS care_sites,
        list_sort(list_distinct(flatten(list(cs.pos_codes)))) AS pos_codes
    FROM core.code_care_sites AS ccs
    JOIN core.care_sites AS cs USING (care_site_id)
    GROUP BY ccs.code
)
SELECT
    c.code,
    coalesce(ml.modifiers, []::VARCHAR[]) AS modifiers,
    coalesce(pl.payers, []::VARCHAR[]) AS payers,
    coalesce(sl.care_sites, []::VARCHAR[]) AS care_sites,
    coalesce(sl.pos_codes, []::VARCHAR[]) AS pos_codes
FROM core.codes AS c
LEFT JOIN modifier_lists AS ml ON ml.code = c.code
LEFT JOIN payer_lists AS pl ON pl.code = c.code
LEFT JOIN care_site_lists AS sl ON sl.code = c.code
ORDER BY c.code
