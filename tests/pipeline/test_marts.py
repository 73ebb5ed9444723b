"""Marts over the sample documents and the synthetic utilization sample."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.contracts.mart_tables import (
    BI_SCHEMA,
    CARDINALITIES,
    LISTS_SCHEMA,
    MART_CONTRACTS,
    relationship_rows,
    relationships,
    relationships_sql,
)
from pipeline.marts.queries import MART_SQL_DIR
from tests.conftest import run_pipeline
from tests.synthetic.coding_edits import SAMPLE_HCPCS

SELECTION = "group:core or group:utilization or group:medicare or group:marts or group:marts_lists"


# One worker runs this module (pytest-xdist loadgroup): its module-scoped pipeline run is made once.
pytestmark = pytest.mark.xdist_group("marts")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from tests.conftest import make_pipeline_env

    env = make_pipeline_env(tmp_path_factory.mktemp("marts"))
    result = run_pipeline(env, SELECTION)
    assert result.success
    return env


def _text(items: list[str]) -> str | None:
    return ", ".join(items) if items else None


def test_code_utilization_has_national_and_state_rows_for_32994(built):
    rows = built.query(
        "SELECT geo_level, place_of_service, care_sites_text, payer_count, title, is_synthetic, data_year, "
        "data_year_start FROM marts.code_utilization WHERE code = '32994' "
        "ORDER BY geo_level, geo_code NULLS FIRST, place_of_service"
    )
    assert {r[0] for r in rows} == {"National", "State"}
    national = [r for r in rows if r[0] == "National"]
    assert [r[1] for r in national] == ["F", "O"]
    assert national[0][2] == "Ambulatory surgery center, Hospital outpatient department"
    assert national[1][2] is None  # no documented office setting for 32994
    assert {r[3] for r in rows} == {5}
    assert all(r[5] for r in rows)
    assert all(r[7] == dt.date(r[6], 1, 1) for r in rows)


def test_code_utilization_grain_matches_the_geo_table(built):
    [(mart_rows,)] = built.query("SELECT count(*) FROM marts.code_utilization WHERE has_utilization")
    [(source_rows,)] = built.query(
        "SELECT count(*) FROM utilization.physician_geo_service WHERE hcpcs_code IN (SELECT code FROM core.codes)"
    )
    assert mart_rows == source_rows > 0


def test_code_without_utilization_appears_once_with_null_measures(built):
    rows = built.query(
        "SELECT place_of_service, total_services, has_utilization, payer_count, data_year_start, care_sites_text "
        "FROM marts.code_utilization WHERE code = 'C9751'"
    )
    assert rows == [(None, None, False, 1, None, None)]


def test_care_sites_text_is_the_list_of_the_rows_setting(built):
    rows = built.query(
        "SELECT DISTINCT u.code, u.place_of_service, u.care_sites_text, l.care_sites FROM marts.code_utilization u "
        "JOIN marts_lists.code_utilization_care_sites l USING (code, place_of_service)"
    )
    assert rows and all(text == _text(items) for _, _, text, items in rows)
    assert built.query(
        "SELECT DISTINCT place_of_service, care_sites_text FROM marts.code_utilization WHERE code = '20982' ORDER BY 1"
    ) == [("F", "Ambulatory surgery center, Hospital outpatient department"), ("O", "Office")]


def test_code_overview_lists_and_their_text(built):
    [(modifiers, payers, care_sites, pos_codes)] = built.query(
        "SELECT modifiers, payers, care_sites, pos_codes FROM marts_lists.code_overview_lists WHERE code = '32994'"
    )
    assert modifiers == []  # only the '00' "no modifier" row, which is not a real modifier
    assert payers == ["Aetna", "Blue Cross Blue Shield", "Cigna Healthcare", "Medicare", "UnitedHealthcare"]
    assert care_sites == ["Ambulatory surgery center", "Hospital outpatient department"]
    assert pos_codes == ["19", "22", "24"]
    [(modifiers,)] = built.query("SELECT modifiers FROM marts_lists.code_overview_lists WHERE code = '50593'")
    assert modifiers == ["50", "LT", "RT"]
    pairs = built.query(
        "SELECT o.modifiers_text, o.payers_text, o.care_sites_text, o.pos_codes_text, "
        "l.modifiers, l.payers, l.care_sites, l.pos_codes "
        "FROM marts.code_overview o JOIN marts_lists.code_overview_lists l USING (code)"
    )
    assert len(pairs) == built.query("SELECT count(*) FROM core.codes")[0][0] > 0
    for row in pairs:
        assert list(row[:4]) == [_text(items) for items in row[4:]]


def test_no_list_typed_column_is_left_in_marts(built):
    declared = {(c.table, col.name, col.sql_type) for c in MART_CONTRACTS for col in c.columns}
    assert not {d for d in declared if d[0].startswith(f"{BI_SCHEMA}.") and d[2].endswith("[]")}
    assert {d for d in declared if d[0].startswith(f"{LISTS_SCHEMA}.") and d[2].endswith("[]")}
    nested = built.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
        "AND (data_type LIKE '%[]' OR data_type SIMILAR TO '(STRUCT|MAP|UNION).*')",
        [BI_SCHEMA],
    )
    assert nested == []


def test_code_payers_is_the_long_form_of_payers_text(built):
    long_form = built.query("SELECT code, payer_name FROM marts.code_payers")
    from_lists = built.query("SELECT code, unnest(payers) FROM marts_lists.code_overview_lists")
    assert sorted(long_form) == sorted(from_lists) and long_form
    assert built.query("SELECT count(*) FROM marts.code_payers") == built.query("SELECT count(*) FROM core.code_payers")
    rows = built.query(
        "SELECT DISTINCT code FROM marts.code_payers WHERE payer_name IN ('Aetna', 'Medicaid') ORDER BY code"
    )
    expected = built.query(
        "SELECT code FROM marts_lists.code_overview_lists WHERE list_has_any(payers, ['Aetna', 'Medicaid']) ORDER BY 1"
    )
    assert rows == expected and rows


def test_code_care_sites_has_one_row_per_pos_code(built):
    sites = built.query("SELECT DISTINCT code, care_site_name FROM marts.code_care_sites")
    assert sorted(sites) == sorted(built.query("SELECT code, unnest(care_sites) FROM marts_lists.code_overview_lists"))
    pos = built.query("SELECT DISTINCT code, pos_code FROM marts.code_care_sites WHERE pos_code IS NOT NULL")
    assert sorted(pos) == sorted(built.query("SELECT code, unnest(pos_codes) FROM marts_lists.code_overview_lists"))
    per_site = built.query(
        "SELECT cs.care_site_id, count(*), any_value(len(c.pos_codes)) FROM marts.code_care_sites cs "
        "JOIN core.care_sites c USING (care_site_id) WHERE cs.code = '32994' GROUP BY 1"
    )
    assert per_site and all(n == n_pos for _, n, n_pos in per_site)


def test_unresolved_care_site_keeps_one_row_without_pos_code(pipeline_env):
    document = pipeline_env.documents_dir / "20983_bone_cryo.txt"
    text = document.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("Typical site of service:"))
    document.write_text(text.replace(line, line + ", mobile lithotripsy van"), encoding="utf-8")
    assert run_pipeline(pipeline_env, SELECTION).success
    rows = pipeline_env.query(
        "SELECT care_site_name, pos_code, cms_facility_setting, is_resolved FROM marts.code_care_sites "
        "WHERE code = '20983' AND NOT is_resolved"
    )
    assert len(rows) == 1 and rows[0][1:] == (None, None, False)
    assert "lithotripsy van" in rows[0][0].lower()


def test_relationships_sql_is_generated_from_the_contracts():
    assert (MART_SQL_DIR / "relationships.sql").read_text(encoding="utf-8") == relationships_sql()
    declared = {(c.table, fk.column, fk.ref_table, fk.ref_column) for c in MART_CONTRACTS for fk in c.foreign_keys}
    assert declared <= {row[:4] for row in relationship_rows()}


def test_every_relationship_joins(built):
    rows = built.query("SELECT * FROM marts.relationships ORDER BY ALL")
    assert rows == relationship_rows()
    for from_table, _, to_table, _, condition, *_ in rows:
        [(matches,)] = built.query(f"SELECT count(*) FROM {from_table} JOIN {to_table} ON {condition}")
        assert matches > 0, condition


def _most_matches_per_row(built, joined: str, alias: str) -> int:
    """The most rows of the other side one row of ``alias`` meets in ``joined`` (rowid names a base-table row)."""
    return built.query(f"SELECT max(n) FROM (SELECT count(*) AS n {joined} GROUP BY {alias}.rowid)")[0][0]


def test_every_relationship_hint_works_pasted_with_or_without_aliases(built):
    """Both ON clauses run as pasted, match the same rows, and the cardinality is what the joined rows show."""
    hints = built.query(
        "SELECT from_table, to_table, join_condition, from_alias, to_alias, join_condition_aliased, cardinality, "
        "description FROM marts.relationships ORDER BY ALL"
    )
    assert len(hints) == len(relationship_rows()) and {h[6] for h in hints} <= set(CARDINALITIES)
    for from_table, to_table, condition, from_alias, to_alias, aliased, cardinality, description in hints:
        assert from_alias != to_alias
        full = f"FROM {from_table} JOIN {to_table} ON {condition}"
        short = f"FROM {from_table} AS {from_alias} JOIN {to_table} AS {to_alias} ON {aliased}"
        [(full_matches,)] = built.query(f"SELECT count(*) {full}")
        [(aliased_matches,)] = built.query(f"SELECT count(*) {short}")
        assert full_matches == aliased_matches > 0, aliased
        if to_table == "utilization.physician_geo_service":
            # Every CMS-backed row finds its source row, National rows (geo_code NULL) included.
            [(backed,)] = built.query(f"SELECT count(*) FROM {from_table} WHERE has_utilization")
            assert full_matches == backed, aliased
        elif " has exactly one " in description:
            [(from_rows,)] = built.query(f"SELECT count(*) FROM {from_table}")
            assert full_matches == from_rows, description
        to_per_from = _most_matches_per_row(built, short, from_alias)
        from_per_to = _most_matches_per_row(built, short, to_alias)
        many_from, many_to = cardinality.split("-to-")
        if many_to == "one":
            assert to_per_from == 1, f"{aliased}: a {from_table} row meets {to_per_from} {to_table} rows"
        if many_from == "one":
            assert from_per_to == 1, f"{aliased}: a {to_table} row meets {from_per_to} {from_table} rows"
        if cardinality == "many-to-many":
            assert to_per_from > 1 and from_per_to > 1, f"{aliased} is not many-to-many on the sample"


def test_a_hint_aliased_wrongly_fails_when_pasted(built):
    """The check above is able to fail: a full-name condition does not bind once the tables have aliases."""
    import duckdb

    relationship = relationships()[0]
    with pytest.raises(duckdb.BinderException):
        built.query(
            f"SELECT count(*) FROM {relationship.from_table} AS {relationship.from_alias} "
            f"JOIN {relationship.to_table} AS {relationship.to_alias} "
            f"ON {relationship.condition(relationship.from_table, relationship.to_table)}"
        )


def test_many_to_many_hints_give_a_semi_join_that_counts_utilization_once(built):
    many = [r for r in relationships() if r.cardinality == "many-to-many"]
    assert {r.to_table for r in many} >= {"marts.code_care_sites", "marts.code_payers", "marts.code_modifiers"}
    stored = dict(
        built.query("SELECT to_table, semi_join_example FROM marts.relationships WHERE cardinality = 'many-to-many'")
    )
    assert built.query(
        "SELECT count(*) FROM marts.relationships WHERE (cardinality = 'many-to-many') <> (semi_join_example IS NOT NULL)"
    ) == [(0,)]
    national = built.query(
        "SELECT code, place_of_service, data_year, total_services FROM marts.code_utilization "
        "WHERE geo_level = 'National'"
    )
    inflated = False
    for relationship in many:
        example = stored[relationship.to_table]
        columns = ", ".join(relationship.to_columns)
        predicate = relationship.example_filter.format(to=relationship.to_alias)
        keys = set(
            built.query(f"SELECT {columns} FROM {relationship.to_table} AS {relationship.to_alias} WHERE {predicate}")
        )
        assert keys, f"{predicate} matches nothing on the sample"
        position = {"code": 0, "place_of_service": 1, "data_year": 2}
        expected: dict[int, float] = {}
        for row in national:
            if tuple(row[position[c]] for c in relationship.from_columns) in keys:
                expected[row[2]] = expected.get(row[2], 0.0) + row[3]
        result = built.query(example)
        assert result == sorted(expected.items()) and result, example
        joined = built.query(
            f"SELECT sum({relationship.from_alias}.total_services) FROM {relationship.from_table} AS "
            f"{relationship.from_alias} JOIN {relationship.to_table} AS {relationship.to_alias} ON "
            f"{relationship.condition(relationship.from_alias, relationship.to_alias)} "
            f"WHERE {relationship.from_alias}.geo_level = 'National' AND {predicate}"
        )[0][0]
        inflated |= joined > sum(expected.values())
    assert inflated, "no example filter shows why the semi-join is needed"


def test_code_modifiers_mart_has_every_core_row_and_flags_the_pseudo_modifier(built):
    assert built.query("SELECT count(*) FROM marts.code_modifiers") == built.query(
        "SELECT count(*) FROM core.code_modifiers"
    )
    pseudo = built.query("SELECT DISTINCT modifier_code FROM marts.code_modifiers WHERE is_pseudo_modifier")
    assert pseudo == [("00",)]
    assert built.query(
        "SELECT count(*) FROM marts.code_modifiers WHERE modifier_code = '00' AND NOT is_pseudo_modifier"
    ) == [(0,)]
    real = built.query("SELECT code, modifier_code FROM marts.code_modifiers WHERE NOT is_pseudo_modifier ORDER BY ALL")
    assert real == sorted(built.query("SELECT code, unnest(modifiers) FROM marts_lists.code_overview_lists")) and real
    assert built.query("SELECT count(*) FROM marts.code_modifiers WHERE modifier_description IS NULL") == [(0,)]
    # RT's official text from the bundled HCPCS Level II sample (core.modifiers takes it over the reference list's).
    [official_rt] = [entry.long_description for entry in SAMPLE_HCPCS if entry.code == "RT"]
    assert built.query("SELECT modifier_description FROM marts.code_modifiers WHERE modifier_code = 'RT' LIMIT 1") == [
        (official_rt,)
    ]


def test_code_modifiers_mart_carries_each_value_under_its_own_name(built):
    """Kills swapped SELECT columns in code_modifiers.sql: every column equals its source column."""
    mart = built.query(
        "SELECT code, modifier_code, description_in_document, when_to_use, document_id, line_number "
        "FROM marts.code_modifiers ORDER BY ALL"
    )
    core = built.query(
        "SELECT code, modifier_code, description_in_document, when_to_use, document_id, line_number "
        "FROM core.code_modifiers ORDER BY ALL"
    )
    assert mart == core and len(core) > 1
    assert len({row[3] for row in core}) > 1 and len({row[5] for row in core}) > 1
    assert built.query(
        "SELECT count(*) FROM marts.code_modifiers cm JOIN core.modifiers m USING (modifier_code) "
        "JOIN core.codes c USING (code) WHERE cm.modifier_description IS DISTINCT FROM m.description "
        "OR cm.title IS DISTINCT FROM c.title OR cm.is_pseudo_modifier = m.is_real_modifier"
    ) == [(0,)]


def test_code_modifiers_line_number_points_at_the_modifier_row(built):
    from pipeline.settings import REPO_ROOT

    rows = built.query("SELECT document_id, modifier_code, line_number FROM marts.code_modifiers")
    for document_id, modifier_code, line_number in rows:
        line = (
            (REPO_ROOT / "sources" / "documents" / document_id)
            .read_text(encoding="utf-8")
            .splitlines()[line_number - 1]
        )
        assert modifier_code in line, (document_id, line_number, line)


def test_blank_coded_state_rows_keep_the_grain_unique(pipeline_env):
    """CMS leaves a few State rows without a code: they load with geo_type 'unknown' and stay distinct rows."""
    [csv_file] = pipeline_env.utilization_dir.glob("*Geo*.csv")
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    national = next(ln.split(",") for ln in lines if ln.startswith("National,") and ",32994," in ln)
    blank = ["State", "", "Unknown", *national[3:]]
    csv_file.write_text("\n".join([*lines, ",".join(blank)]) + "\n", encoding="utf-8")
    result = run_pipeline(pipeline_env, SELECTION)
    assert result.success
    checks = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == BI_SCHEMA]
    assert checks and all(e.passed for e in checks)
    rows = pipeline_env.query(
        "SELECT geo_code, geo_type, total_services FROM marts.code_utilization "
        "WHERE code = '32994' AND geo_level = 'State' AND place_of_service = ? AND geo_code IS NULL",
        [national[6]],
    )
    assert rows == [(None, "unknown", float(national[9]))]
    mart = pipeline_env.query(
        "SELECT code, place_of_service, geo_level, geo_code, data_year, geo_type FROM marts.code_utilization "
        "WHERE has_utilization"
    )
    source = pipeline_env.query(
        "SELECT hcpcs_code, place_of_service, geo_level, geo_code, data_year, geo_type "
        "FROM utilization.physician_geo_service WHERE hcpcs_code IN (SELECT code FROM core.codes)"
    )
    assert sorted(mart, key=repr) == sorted(source, key=repr)


def test_code_overview_carries_each_code_attribute_under_its_own_name(built):
    """Kills 'two SELECT columns swapped' in code_overview.sql: every attribute must equal core.codes'."""
    attributes = ["code_system", "title", "service_type", "laterality", "approach", "imaging_guidance_included"]
    columns = ", ".join(attributes)
    mart = built.query(f"SELECT code, {columns} FROM marts.code_overview ORDER BY code")
    core = built.query(f"SELECT code, {columns} FROM core.codes ORDER BY code")
    assert mart == core and len(core) > 1
    assert len({row[3] for row in core}) > 1, "service_type must vary for the swap to be visible"


def test_a_reordered_mart_select_still_lands_by_name(built, monkeypatch):
    """The mart INSERT binds by name: a SELECT whose columns come in another order fills the same values."""
    import duckdb

    from pipeline.contracts.mart_tables import MART_CONTRACTS
    from pipeline.marts import build as marts

    contract = next(c for c in MART_CONTRACTS if c.table == "marts.code_overview")
    real_query = marts.mart_query
    select_list = ", ".join(reversed(contract.column_names))
    monkeypatch.setattr(
        marts,
        "mart_query",
        lambda name: (
            f"SELECT {select_list} FROM ({real_query(name)})" if name == contract.table_name else real_query(name)
        ),
    )
    expected = built.query("SELECT * FROM marts.code_overview ORDER BY code")
    con = duckdb.connect(str(built.warehouse_path))
    try:
        con.execute(f"DELETE FROM {marts.BUILDS_TABLE} WHERE mart = ?", [contract.table])
        marts.rebuild_stale_marts(con)
        assert con.execute("SELECT * FROM marts.code_overview ORDER BY code").fetchall() == expected
    finally:
        con.close()


def _code_overview_contract():
    from pipeline.contracts.mart_tables import MART_CONTRACTS

    return next(c for c in MART_CONTRACTS if c.table == "marts.code_overview")


@pytest.mark.parametrize(
    "change, complaint",
    [
        (lambda cols: cols[1:], r"missing: \['code'\]"),
        (lambda cols: [*cols, "surprise"], r"not in the contract: \['surprise'\]"),
        (lambda cols: [*cols, "title"], r"repeated: \['title'\]"),
    ],
    ids=["missing", "extra", "repeated"],
)
def test_a_mart_must_return_exactly_its_contract_columns(change, complaint):
    from pipeline.marts.build import MartColumnsMismatch, check_mart_columns

    contract = _code_overview_contract()
    with pytest.raises(MartColumnsMismatch, match=complaint):
        check_mart_columns(contract, change(list(contract.column_names)))


def test_a_mart_returning_its_contract_columns_in_any_order_is_accepted():
    from pipeline.marts.build import check_mart_columns

    contract = _code_overview_contract()
    check_mart_columns(contract, list(reversed(contract.column_names)))


def test_the_pseudo_modifier_flag_follows_the_reference_data(pipeline_env, tmp_path):
    """Which modifiers are pseudo is data in sources/reference/modifiers.csv, not a code written in the mart."""
    import shutil

    import dagster as dg

    from pipeline.definitions import ASSETS, CHECKS
    from pipeline.defs.resources import SourcesResource

    reference = tmp_path / "reference"
    shutil.copytree(pipeline_env.resources["sources"].reference_dir, reference)
    modifiers = reference / "modifiers.csv"
    text = modifiers.read_text(encoding="utf-8")
    assert "\n50,Bilateral procedure,true\n" in text
    modifiers.write_text(text.replace("\n50,Bilateral procedure,true\n", "\n50,Bilateral procedure,false\n"))
    resources = pipeline_env.resources
    resources["sources"] = SourcesResource(
        documents_dir=str(pipeline_env.documents_dir),
        utilization_dir=str(pipeline_env.utilization_dir),
        reference_dir=str(reference),
    )
    assert dg.materialize([*ASSETS, *CHECKS], resources=resources, selection=SELECTION).success
    assert pipeline_env.query(
        "SELECT DISTINCT modifier_code FROM marts.code_modifiers WHERE is_pseudo_modifier ORDER BY 1"
    ) == [("00",), ("50",)]


def test_the_bundled_sample_shows_every_modifier_verdict(built):
    verdicts = dict(built.query("SELECT verdict, count(*) FROM marts.modifier_checks GROUP BY verdict"))
    assert set(verdicts) == {"ok", "needs_documentation", "conflict", "no_data"}
    conflicts = built.query(
        "SELECT code, modifier, check_name, setting FROM marts.modifier_checks WHERE verdict = 'conflict' ORDER BY ALL"
    )
    assert ("32998", "78", "global_surgery", None) in conflicts
    assert ("47383", "58", "ncci_ptp", "practitioner") in conflicts
    # XS is described by the bundled HCPCS Level II file; 59 only by the project's list.
    sources = dict(built.query("SELECT DISTINCT modifier, modifier_description_source FROM marts.modifier_checks"))
    assert (sources["XS"], sources["59"]) == ("hcpcs_level2", "project_reference")


def test_the_bundled_sample_unit_limits_take_the_mue_in_force_at_the_end_of_the_year(built):
    rows = built.query(
        "SELECT code, mue_value, mue_effective_date, services_per_beneficiary_day, exceeds_mue "
        "FROM marts.code_unit_limits WHERE mue_setting = 'practitioner' AND data_year = 2023 AND has_mue ORDER BY code"
    )
    assert [(r[0], r[2]) for r in rows] == [("32998", dt.date(2023, 10, 1)), ("50593", dt.date(2023, 10, 1))]
    assert all(r[3] is not None and r[4] == (r[3] > r[1]) for r in rows)


def test_a_mart_that_fails_keeps_its_rows_and_the_marts_before_it_stay_rebuilt(built, tmp_path, monkeypatch):
    """Each mart is rebuilt in its own transaction (one mart's rows in memory at a time): the one that fails is
    rolled back to its old rows, never left empty, and the marts rebuilt before it are committed with their
    build records, so the next run rebuilds only the rest."""
    import shutil

    import duckdb

    from pipeline.contracts.mart_tables import MART_CONTRACTS
    from pipeline.marts import build as marts

    order = [c.table for c in MART_CONTRACTS]
    failing = "marts.code_modifiers"
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse_path, warehouse)
    real_query = marts.mart_query
    monkeypatch.setattr(
        marts,
        "mart_query",
        lambda name: (
            f"SELECT * FROM ({real_query(name)}) WHERE error('boom') IS NULL"
            if f"marts.{name}" == failing
            else real_query(name)
        ),
    )
    con = duckdb.connect(str(warehouse))
    try:
        before = con.execute(f"SELECT * FROM {failing} ORDER BY ALL").fetchall()
        con.execute(f"DELETE FROM {marts.BUILDS_TABLE}")
        with pytest.raises(duckdb.Error, match="boom"):
            marts.rebuild_stale_marts(con, commit_each=True)
        assert before and con.execute(f"SELECT * FROM {failing} ORDER BY ALL").fetchall() == before
        recorded = {m for (m,) in con.execute(f"SELECT mart FROM {marts.BUILDS_TABLE}").fetchall()}
        assert recorded == set(order[: order.index(failing)])
    finally:
        con.close()


def test_rows_a_removed_source_takes_out_of_a_mart_are_logged_as_explained(built, tmp_path):
    """The publish guard accepts a mart that shrank only when its change-log entry says how many rows left it and
    which removed source files explain that: a rebuild after an input lost a file's rows records both."""
    import shutil

    import duckdb

    from pipeline.marts import build as marts
    from pipeline.warehouse.change_log import record_change

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse_path, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        (code,) = con.execute(
            "SELECT code FROM core.code_payers GROUP BY code ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        before = con.execute("SELECT count(*) FROM marts.code_payers").fetchone()[0]
        (gone,) = con.execute("SELECT count(*) FROM core.code_payers WHERE code = ?", [code]).fetchone()
        con.execute("DELETE FROM core.code_payers WHERE code = ?", [code])
        record_change(con, "core.code_payers", removed_rows=gone, removed_sources=["removed_document.txt"])
        assert "marts.code_payers" in marts.rebuild_stale_marts(con, commit_each=True)
        after = con.execute("SELECT count(*) FROM marts.code_payers").fetchone()[0]
        logged = con.execute(
            "SELECT removed_rows, removed_sources FROM internal.table_change_log WHERE table_name = 'marts.code_payers' "
            "ORDER BY version DESC LIMIT 1"
        ).fetchone()
        assert gone > 1 and after == before - gone
        assert logged == (gone, ["removed_document.txt"])
        # A mart that kept its rows logs none removed, whatever its inputs lost.
        (kept,) = con.execute(
            "SELECT removed_rows FROM internal.table_change_log WHERE table_name = 'marts.code_overview' "
            "ORDER BY version DESC LIMIT 1"
        ).fetchone()
        assert kept == 0
    finally:
        con.close()


def test_each_mart_is_keyed_as_its_contract_declares(built):
    """Marts are filled, then keyed (an index built once, not at the insert and again at the commit): every mart
    whose contract declares a PRIMARY KEY has exactly that one, and its key columns are NOT NULL."""
    keyed = 0
    for contract in MART_CONTRACTS:
        keys = built.query(
            "SELECT constraint_column_names FROM duckdb_constraints() "
            "WHERE schema_name = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
            [contract.schema_name, contract.table_name],
        )
        assert keys == ([(list(contract.ddl_primary_key),)] if contract.ddl_primary_key else []), contract.table
        nullable = dict(
            built.query(
                "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ?",
                [contract.schema_name, contract.table_name],
            )
        )
        assert all(nullable[column] == "NO" for column in contract.ddl_primary_key), contract.table
        keyed += bool(contract.ddl_primary_key)
    assert keyed >= 5
