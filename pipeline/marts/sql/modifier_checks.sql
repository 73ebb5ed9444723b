-- marts.modifier_checks: one row per documented (code, modifier) and each check that applies to the modifier
-- (NCCI PTP checks once per setting), with a verdict and a reason a coder can act on. Every verdict and reason
-- comes from medicare.modifier_rules (sources/reference/modifier_rules.csv); this SQL only finds the value each
-- rule judges:
--   fee-schedule checks: the indicator of the code's global row (modifier blank) in the latest fee-schedule
--     release; a code not on that release, or of a status no modifier can make payable, is judged by the '*'
--     fee_schedule_status rules first;
--   ncci_ptp: among the edits active on the reference date (effective on or before it, no deletion date or one
--     after it; indicator 9 never counts) in which the code is column 1 or column 2: '1' if any allows a
--     modifier, '0' if there are edits and none does, 'none' if there is none, 'no_release' if no release of that
--     setting is loaded.
--   advice: a rule of the modifier with indicator_column 'none' holds whatever the indicators say.
-- A modifier no rule names gets the '*' unchecked rule; a value no rule names the '*' unmatched_value rule.
-- Not sorted (no ORDER BY, unlike the other marts): sorting its wide rows held them all in memory at once, and
-- that was the run's peak (200 MB more at 100,000 documents; docs/benchmarks.md). Read it with an ORDER BY.
WITH parameters AS (
    SELECT coalesce(max(reference_date), current_date) AS reference_date FROM medicare.coding_edit_parameters
),
rules AS (
    SELECT * FROM medicare.modifier_rules
),
documented AS (
    SELECT cm.code, cm.modifier_code AS modifier, cm.when_to_use, cm.document_id, m.description AS reference_description
    FROM core.code_modifiers AS cm
    JOIN core.modifiers AS m USING (modifier_code)
    WHERE m.is_real_modifier
),
latest_release AS (
    SELECT data_year, release FROM medicare.pfs_rvu ORDER BY data_year DESC, release DESC LIMIT 1
),
fee_schedule AS (
    SELECT
        p.hcpcs_code AS code,
        p.release,
        CAST(p.status_code AS VARCHAR) AS status_code,
        CAST(p.bilateral_indicator AS VARCHAR) AS bilateral_indicator,
        CAST(p.assistant_indicator AS VARCHAR) AS assistant_indicator,
        CAST(p.cosurgeon_indicator AS VARCHAR) AS cosurgeon_indicator,
        CAST(p.team_indicator AS VARCHAR) AS team_indicator,
        CAST(p.pctc_indicator AS VARCHAR) AS pctc_indicator,
        CAST(p.global_days AS VARCHAR) AS global_days
    FROM medicare.pfs_rvu AS p
    JOIN latest_release AS l ON p.data_year = l.data_year AND p.release = l.release
    WHERE p.modifier IS NULL
    -- The conversion-factor variants of one release share every indicator: any one row per code.
    QUALIFY row_number() OVER (PARTITION BY p.hcpcs_code ORDER BY p.conversion_factor_variant) = 1
),
indicator_values AS (
    UNPIVOT fee_schedule
    ON bilateral_indicator, assistant_indicator, cosurgeon_indicator, team_indicator, pctc_indicator, global_days
    INTO NAME indicator_column VALUE indicator_value
),
fee_checks AS (
    SELECT DISTINCT modifier_code, check_name, indicator_column
    FROM rules
    WHERE modifier_code <> '*' AND check_name <> 'ncci_ptp' AND indicator_column <> 'none'
),
fee_judged AS (
    SELECT
        d.*,
        fc.check_name,
        CAST(NULL AS VARCHAR) AS setting,
        CASE WHEN fs.code IS NULL OR gate.indicator_value IS NOT NULL THEN 'status_code' ELSE fc.indicator_column END
            AS indicator_column,
        CASE WHEN fs.code IS NULL THEN 'none' ELSE coalesce(gate.indicator_value, iv.indicator_value) END
            AS judged_value,
        coalesce(fs.release, (SELECT release FROM latest_release), 'none loaded') AS release,
        CAST(NULL AS VARCHAR) AS ncci_version,
        CAST(NULL AS BIGINT) AS edits_allowing_modifier,
        CAST(NULL AS BIGINT) AS edits_not_allowing_modifier,
        coalesce(gate.verdict, exact.verdict, CASE WHEN iv.indicator_value IS NOT NULL THEN otherwise.verdict END)
            AS rule_verdict,
        coalesce(
            gate.reason_template,
            exact.reason_template,
            CASE WHEN iv.indicator_value IS NOT NULL THEN otherwise.reason_template END
        ) AS rule_reason
    FROM documented AS d
    JOIN fee_checks AS fc ON fc.modifier_code = d.modifier
    LEFT JOIN fee_schedule AS fs ON fs.code = d.code
    LEFT JOIN indicator_values AS iv ON iv.code = d.code AND iv.indicator_column = fc.indicator_column
    LEFT JOIN rules AS gate
        ON gate.modifier_code = '*' AND gate.check_name = 'fee_schedule_status'
        AND gate.indicator_value = coalesce(fs.status_code, 'none')
    LEFT JOIN rules AS exact
        ON exact.modifier_code = d.modifier AND exact.check_name = fc.check_name
        AND exact.indicator_value = iv.indicator_value
    LEFT JOIN rules AS otherwise
        ON otherwise.modifier_code = d.modifier AND otherwise.check_name = fc.check_name
        AND otherwise.indicator_value = '*'
),
settings AS (
    SELECT * FROM (VALUES ('practitioner'), ('hospital_outpatient')) AS s(setting)
),
releases AS (
    SELECT setting, max(ncci_version) AS ncci_version FROM medicare.ncci_ptp GROUP BY setting
),
active_edits AS (
    SELECT e.setting, e.code, e.modifier_indicator
    FROM (
        SELECT setting, column_1_code AS code, modifier_indicator, effective_date, deletion_date
        FROM medicare.ncci_ptp
        WHERE column_1_code IN (SELECT code FROM documented)
        UNION ALL
        SELECT setting, column_2_code AS code, modifier_indicator, effective_date, deletion_date
        FROM medicare.ncci_ptp
        WHERE column_2_code IN (SELECT code FROM documented)
    ) AS e, parameters AS p
    WHERE e.modifier_indicator IN ('0', '1')
        AND e.effective_date <= p.reference_date
        AND (e.deletion_date IS NULL OR e.deletion_date > p.reference_date)
),
edit_counts AS (
    SELECT
        setting,
        code,
        count(*) FILTER (WHERE modifier_indicator = '1') AS edits_allowing_modifier,
        count(*) FILTER (WHERE modifier_indicator = '0') AS edits_not_allowing_modifier
    FROM active_edits
    GROUP BY setting, code
),
ptp_judged AS (
    SELECT
        d.*,
        'ncci_ptp' AS check_name,
        s.setting,
        'modifier_indicator' AS indicator_column,
        CASE
            WHEN r.ncci_version IS NULL THEN 'no_release'
            WHEN coalesce(ec.edits_allowing_modifier, 0) > 0 THEN '1'
            WHEN coalesce(ec.edits_not_allowing_modifier, 0) > 0 THEN '0'
            ELSE 'none'
        END AS judged_value,
        CAST(NULL AS VARCHAR) AS release,
        r.ncci_version,
        coalesce(ec.edits_allowing_modifier, 0) AS edits_allowing_modifier,
        coalesce(ec.edits_not_allowing_modifier, 0) AS edits_not_allowing_modifier
    FROM documented AS d
    JOIN (SELECT DISTINCT modifier_code FROM rules WHERE check_name = 'ncci_ptp') AS pm ON pm.modifier_code = d.modifier
    CROSS JOIN settings AS s
    LEFT JOIN releases AS r ON r.setting = s.setting
    LEFT JOIN edit_counts AS ec ON ec.setting = s.setting AND ec.code = d.code
),
ptp_ruled AS (
    SELECT j.*, rule.verdict AS rule_verdict, rule.reason_template AS rule_reason
    FROM ptp_judged AS j
    LEFT JOIN rules AS rule
        ON rule.modifier_code = j.modifier AND rule.check_name = 'ncci_ptp' AND rule.indicator_value = j.judged_value
),
advice AS (
    -- Rules that hold whatever the indicators say (indicator_column 'none'), such as CMS's preference for XE, XS,
    -- XP or XU over 59.
    SELECT
        d.*,
        rule.check_name,
        CAST(NULL AS VARCHAR) AS setting,
        CAST(NULL AS VARCHAR) AS indicator_column,
        CAST(NULL AS VARCHAR) AS judged_value,
        CAST(NULL AS VARCHAR) AS release,
        CAST(NULL AS VARCHAR) AS ncci_version,
        CAST(NULL AS BIGINT) AS edits_allowing_modifier,
        CAST(NULL AS BIGINT) AS edits_not_allowing_modifier,
        rule.verdict AS rule_verdict,
        rule.reason_template AS rule_reason
    FROM documented AS d
    JOIN rules AS rule ON rule.modifier_code = d.modifier AND rule.indicator_column = 'none'
),
unchecked AS (
    SELECT
        d.*,
        'unchecked' AS check_name,
        CAST(NULL AS VARCHAR) AS setting,
        CAST(NULL AS VARCHAR) AS indicator_column,
        CAST(NULL AS VARCHAR) AS judged_value,
        CAST(NULL AS VARCHAR) AS release,
        CAST(NULL AS VARCHAR) AS ncci_version,
        CAST(NULL AS BIGINT) AS edits_allowing_modifier,
        CAST(NULL AS BIGINT) AS edits_not_allowing_modifier,
        rule.verdict AS rule_verdict,
        rule.reason_template AS rule_reason
    FROM documented AS d
    JOIN rules AS rule ON rule.modifier_code = '*' AND rule.check_name = 'unchecked'
    WHERE d.modifier NOT IN (SELECT modifier_code FROM rules)
),
judged AS (
    SELECT * FROM fee_judged
    UNION ALL BY NAME
    SELECT * FROM ptp_ruled
    UNION ALL BY NAME
    SELECT * FROM advice
    UNION ALL BY NAME
    SELECT * FROM unchecked
),
ruled AS (
    SELECT
        j.* EXCLUDE (rule_verdict, rule_reason),
        coalesce(j.rule_verdict, unmatched.verdict) AS verdict,
        coalesce(j.rule_reason, unmatched.reason_template) AS reason_template
    FROM judged AS j
    LEFT JOIN rules AS unmatched ON unmatched.modifier_code = '*' AND unmatched.check_name = 'unmatched_value'
),
hcpcs_modifiers AS (
    SELECT hcpcs_code AS modifier, long_description, release
    FROM medicare.hcpcs_level2
    WHERE record_kind = 'modifier'
    QUALIFY row_number() OVER (PARTITION BY hcpcs_code ORDER BY release DESC) = 1
)
SELECT
    r.code,
    r.modifier,
    coalesce(h.long_description, r.reference_description) AS modifier_description,
    CASE
        WHEN h.long_description IS NOT NULL THEN 'hcpcs_level2'
        WHEN r.reference_description IS NOT NULL THEN 'project_reference'
    END AS modifier_description_source,
    r.when_to_use,
    r.check_name,
    r.setting,
    r.indicator_column,
    r.judged_value AS indicator_value,
    r.verdict,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(
        r.reason_template,
        '{code}', r.code),
        '{modifier}', r.modifier),
        '{value}', coalesce(r.judged_value, 'blank')),
        '{release}', coalesce(r.ncci_version, r.release, 'none loaded')),
        '{setting}', coalesce(replace(r.setting, '_', ' '), '')),
        '{edit_count_0}', coalesce(CAST(r.edits_not_allowing_modifier AS VARCHAR), '0')),
        '{edit_count}', coalesce(CAST(r.edits_allowing_modifier AS VARCHAR), '0')),
        '{reference_date}', strftime(p.reference_date, '%Y-%m-%d')),
        '{indicator}', coalesce(r.indicator_column, 'indicator')) AS reason,
    r.release,
    r.ncci_version,
    CASE WHEN r.check_name = 'ncci_ptp' THEN p.reference_date END AS reference_date,
    r.edits_allowing_modifier,
    r.edits_not_allowing_modifier,
    r.document_id
FROM ruled AS r
CROSS JOIN parameters AS p
LEFT JOIN hcpcs_modifiers AS h ON h.modifier = r.modifier
