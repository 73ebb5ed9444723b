-- marts.code_payers: one row per documented code and key payer (long form of code_overview.payers_text).
SELECT
    cp.code,
    c.title,
    p.payer_id,
    p.payer_name,
    p.payer_type,
    p.parent_organization,
    p.is_resolved
FROM core.code_payers AS cp
JOIN core.codes AS c USING (code)
JOIN core.payers AS p USING (payer_id)
ORDER BY cp.code, p.payer_name, p.payer_id
