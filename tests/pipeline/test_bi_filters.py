"""Filters on payer, care site and modifier that reach utilization, counting each utilization row once.

The three questions of issue 19, asked in SQL on the serving file of the sample build, the way docs/bi_tools.md
says (a semi-join) and the way the Superset bundle's virtual datasets do it (their Jinja rendered here with
Superset's two macros written out); the expected numbers are computed in Python from the rows of the marts.
``tests/test_superset_dashboard.py`` asks the real Superset the same questions.
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict

import jinja2
import pytest
import yaml

from pipeline.bi.superset_bundle import (
    BRIDGES,
    BUNDLE_DIR,
    DATASETS,
    SERVING_PATH_PLACEHOLDER,
    bundle_files,
    dataset_sql,
    write_bundle_zip,
)
from tests.conftest import run_pipeline

pytestmark = pytest.mark.xdist_group("bi_filters")

HOPD = "Hospital outpatient department"


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    from tests.conftest import make_pipeline_env

    env = make_pipeline_env(tmp_path_factory.mktemp("bi_filters"))
    assert run_pipeline(env).success
    return env


@pytest.fixture(scope="module")
def facts(serving) -> dict:
    """The marts' rows as plain Python: codes per bridge value, utilization rows."""
    bridges = {}
    for column, table in BRIDGES.items():
        codes = defaultdict(set)
        for code, value in serving.query(f"SELECT code, {column} FROM {table}", serving=True):
            codes[value].add(code)
        bridges[column] = dict(codes)
    rows = serving.query(
        "SELECT code, data_year, place_of_service, geo_type, geo_desc, total_services FROM marts.code_utilization "
        "WHERE has_utilization",
        serving=True,
    )
    return {"bridges": bridges, "utilization": rows}


def _expected(facts, *, column: str, values: list[str], geo_type: str, code: str | None = None) -> dict:
    """Services per (year, setting) of the utilization rows whose code any of ``values`` lists: each row once."""
    codes = set().union(*(facts["bridges"][column].get(v, set()) for v in values))
    totals = defaultdict(float)
    for row_code, year, setting, row_geo, _, services in facts["utilization"]:
        if row_code in codes and row_geo == geo_type and (code is None or row_code == code):
            totals[(year, setting)] += services
    return dict(totals)


def _semi_join(serving, *, column: str, values: list[str], geo_type: str, code: str | None = None) -> dict:
    """The documented pattern (docs/bi_tools.md): filter utilization with EXISTS on the bridge."""
    table = BRIDGES[column]
    rows = serving.query(
        f"""SELECT cu.data_year, cu.place_of_service, sum(cu.total_services)
            FROM marts.code_utilization AS cu
            WHERE cu.geo_type = ? AND (? IS NULL OR cu.code = ?)
              AND EXISTS (SELECT 1 FROM {table} AS b WHERE b.code = cu.code AND b.{column} IN (SELECT unnest(?)))
            GROUP BY ALL""",
        [geo_type, code, code, values],
        serving=True,
    )
    return {(year, setting): total for year, setting, total in rows}


def _naive_join(serving, *, column: str, values: list[str], geo_type: str, code: str | None = None) -> dict:
    table = BRIDGES[column]
    rows = serving.query(
        f"""SELECT cu.data_year, cu.place_of_service, sum(cu.total_services)
            FROM marts.code_utilization AS cu JOIN {table} AS b ON b.code = cu.code
            WHERE cu.geo_type = ? AND (? IS NULL OR cu.code = ?) AND b.{column} IN (SELECT unnest(?))
            GROUP BY ALL""",
        [geo_type, code, code, values],
        serving=True,
    )
    return {(year, setting): total for year, setting, total in rows}


def test_medicare_volume_of_the_codes_a_payer_covers(serving, facts):
    """32994, national, per year and setting: the payer's documents list the code once, the volume counts once."""
    payers_of_32994 = sorted(p for p, codes in facts["bridges"]["payer_name"].items() if "32994" in codes)
    assert len(payers_of_32994) > 1  # otherwise a join could not inflate and the test would prove nothing
    for payer in payers_of_32994:
        expected = _expected(facts, column="payer_name", values=[payer], geo_type="national", code="32994")
        assert expected, "the sample has national utilization for 32994"
        assert _semi_join(serving, column="payer_name", values=[payer], geo_type="national", code="32994") == expected
    # The same question without a payer filter, joined naively to all payers: once per payer.
    everyone = _naive_join(serving, column="payer_name", values=payers_of_32994, geo_type="national", code="32994")
    single = _expected(facts, column="payer_name", values=payers_of_32994, geo_type="national", code="32994")
    assert everyone == {key: total * len(payers_of_32994) for key, total in single.items()}


def test_state_volume_of_the_codes_done_in_hospital_outpatient(serving, facts):
    expected = _expected(facts, column="care_site_name", values=[HOPD], geo_type="state")
    assert expected
    assert _semi_join(serving, column="care_site_name", values=[HOPD], geo_type="state") == expected
    # The care-site mart has one row per POS code of the site (19 and 22 for outpatient): a join doubles.
    naive = _naive_join(serving, column="care_site_name", values=[HOPD], geo_type="state")
    assert sum(naive.values()) > sum(expected.values())


def test_two_payers_selected_count_each_row_once(serving, facts):
    payers = facts["bridges"]["payer_name"]
    # Two payers that share codes, so a join would count the shared codes twice.
    first, second = next(
        (a, b) for a in sorted(payers) for b in sorted(payers) if a < b and payers[a] & payers[b] != payers[a]
    )
    assert payers[first] & payers[second]
    chosen = [first, second]
    expected = _expected(facts, column="payer_name", values=chosen, geo_type="national")
    assert _semi_join(serving, column="payer_name", values=chosen, geo_type="national") == expected
    naive = _naive_join(serving, column="payer_name", values=chosen, geo_type="national")
    assert sum(naive.values()) > sum(expected.values())


# --- The bundle's virtual datasets, rendered as Superset renders them ------------------------------------------


def _render(sql: str, chosen: dict[str, list[str]]) -> str:
    """Superset's ``filter_values`` and ``where_in`` (superset/jinja_context.py), enough for these templates."""

    def filter_values(column: str, default=None, remove_filter: bool = False) -> list:
        return list(chosen.get(column, []))

    def where_in(values: list) -> str:
        return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"

    environment = jinja2.Environment()
    environment.filters["where_in"] = where_in
    return environment.from_string(sql).render(filter_values=filter_values)


@pytest.mark.parametrize(
    "chosen",
    [
        {},
        {"payer_name": ["Humana"]},
        {"payer_name": ["Aetna", "Cigna Healthcare"]},
        {"care_site_name": [HOPD]},
        {"care_site_name": ["Office", "Ambulatory surgery center"]},
        {"modifier_code": ["50"]},
        {"payer_name": ["Aetna", "Humana"], "care_site_name": [HOPD], "modifier_code": ["00", "59"]},
        {"payer_name": ["O'Hara's plan"]},  # a quote in a value is data, not SQL
    ],
    ids=lambda chosen: "+".join(f"{k}={len(v)}" for k, v in chosen.items()) or "none",
)
def test_the_utilization_dataset_counts_each_row_once(serving, facts, chosen):
    sql = _render(dataset_sql(DATASETS["utilization"].table), chosen)
    got = serving.query(
        f"SELECT data_year, place_of_service, sum(total_services) FROM ({sql}) WHERE geo_type = 'state' GROUP BY ALL",
        serving=True,
    )
    codes = {row[0] for row in facts["utilization"]}
    for column, values in chosen.items():
        codes &= set().union(*(facts["bridges"][column].get(v, set()) for v in values))
    expected = defaultdict(float)
    for code, year, setting, geo_type, _, services in facts["utilization"]:
        if code in codes and geo_type == "state":
            expected[(year, setting)] += services
    assert {(year, setting): total for year, setting, total in got} == dict(expected)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_dataset_keeps_its_own_bridge_column_for_superset(serving, name):
    """The bridge a dataset is built on is filtered by Superset in the outer query, not by a semi-join on itself."""
    dataset = DATASETS[name]
    own = [column for column, table in BRIDGES.items() if table == dataset.table]
    for column in own:
        assert f"filter_values('{column}'" not in dataset_sql(dataset.table)
    rows = serving.query(f"SELECT count(*) FROM ({_render(dataset_sql(dataset.table), {})})", serving=True)
    assert rows == serving.query(f"SELECT count(*) FROM {dataset.table}", serving=True)


# --- The committed bundle -----------------------------------------------------------------------------------------


def test_the_committed_bundle_is_generated_from_the_contracts():
    committed = {
        p.relative_to(BUNDLE_DIR).as_posix(): p.read_text(encoding="utf-8") for p in BUNDLE_DIR.rglob("*.yaml")
    }
    assert committed == bundle_files(), "run `uv run python -m pipeline.bi.superset_bundle` and commit bi/superset/"


def test_the_bundle_zip_points_at_the_serving_file(serving, tmp_path):
    out = write_bundle_zip(serving.serving_path, tmp_path / "bundle.zip")
    with zipfile.ZipFile(out) as archive:
        texts = {name: archive.read(name).decode() for name in archive.namelist()}
    assert not any(SERVING_PATH_PLACEHOLDER in text for text in texts.values())
    database = yaml.safe_load(next(t for n, t in texts.items() if "/databases/" in n))
    assert database["sqlalchemy_uri"] == (
        f"duckdb:///{serving.serving_path.resolve().as_posix()}?access_mode=read_only&enable_external_access=false"
    )
    charts = [yaml.safe_load(t) for n, t in texts.items() if "/charts/" in n]
    assert charts and all(json.loads(c["query_context"])["queries"] for c in charts)
