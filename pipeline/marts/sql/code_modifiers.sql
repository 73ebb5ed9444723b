-- marts.code_modifiers: one row per documented code and modifier (long form of code_overview.modifiers_text,
-- plus the pseudo-modifiers it leaves out). Which modifiers are pseudo ('00', "no modifier") is reference data
-- (is_real_modifier in sources/reference/modifiers.csv), never a code written here.
SELECT
    cm.code,
    c.title,
    cm.modifier_code,
    m.description AS modifier_description,
    cm.description_in_document,
    cm.when_to_use,
    NOT m.is_real_modifier AS is_pseudo_modifier,
    cm.document_id,
    cm.line_number
FROM core.code_modifiers AS cm
JOIN core.codes AS c USING (code)
JOIN core.modifiers AS m USING (modifier_code)
ORDER BY cm.code, cm.modifier_code
