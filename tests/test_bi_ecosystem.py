"""The serving file as Superset's Python stack sees it: duckdb-engine 0.17, SQLAlchemy 1.4, DuckDB 1.5.

The probe runs in an isolated environment (``uv run --no-project --with …``) with the versions that
``apache-superset[duckdb]`` 6.1 resolves to, connects with the README's recipe (read-only, external access off,
NullPool as Superset does) and reports as JSON what the SQLAlchemy inspector and a few queries saw.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from pipeline.contracts.mart_tables import BI_SCHEMA, MART_CONTRACTS
from tests.conftest import run_pipeline

# Exactly what `apache-superset[duckdb]` 6.1.0 resolves to today, pinned so a new release cannot move the test.
SUPERSET_STACK = ("duckdb-engine==0.17.0", "sqlalchemy==1.4.54", "duckdb==1.5.6")
# The README's recipe: the query string of the SQLAlchemy URI (everything else in Superset is left at defaults).
RECIPE_QUERY = "access_mode=read_only&enable_external_access=false"
SECRET = "SECRET_KEY = 'do-not-leak-me'"


# --- The probe: these functions run in the isolated environment (shipped there as source) ---------------------


def _engine(path, query):  # pragma: no cover - runs in the probe env
    """An engine as Superset creates it: NullPool, settings in the URI's query string."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    return sa.create_engine(f"duckdb:///{path}?{query}" if query else f"duckdb:///{path}", poolclass=NullPool)


def _attempt(engine, sql):  # pragma: no cover - runs in the probe env
    import sqlalchemy as sa

    try:
        with engine.connect() as con:
            return {"ok": True, "rows": [list(map(str, r)) for r in con.execute(sa.text(sql))]}
    except Exception as error:  # noqa: BLE001 - the error text is the result
        return {"ok": False, "error": str(error).splitlines()[0]}


def _inspect(engine) -> dict:  # pragma: no cover - runs in the probe env
    """What Superset's database browser reads: schemas, tables, column types and comments, keys."""
    import warnings

    import sqlalchemy as sa
    from sqlalchemy.sql import sqltypes

    inspector = sa.inspect(engine)
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["schemas"] = inspector.get_schema_names()
        out["tables"] = {s: inspector.get_table_names(schema=s) for s in ("core", "utilization", "marts")}
        out["columns"] = {
            table: [
                {
                    "name": c["name"],
                    "type": type(c["type"]).__name__,
                    "is_null_type": isinstance(c["type"], sqltypes.NullType),
                    "comment": c.get("comment"),
                }
                for c in inspector.get_columns(table, schema="marts")
            ]
            for table in out["tables"]["marts"]
        }
        marts = out["tables"]["marts"]
        out["table_comments"] = {t: inspector.get_table_comment(t, schema="marts")["text"] for t in marts}
        out["pk_code_overview"] = inspector.get_pk_constraint("code_overview", schema="marts")
        out["fk_code_payers"] = inspector.get_foreign_keys("code_payers", schema="marts")
    out["warnings"] = [str(w.message) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Did not recognize type 'list'": expected here
        lists = inspector.get_columns("code_overview_lists", schema="marts_lists")
    out["list_columns"] = [c["name"] for c in lists if isinstance(c["type"], sqltypes.NullType)]
    return out


def _filters(engine) -> dict:  # pragma: no cover - runs in the probe env
    """A dashboard filter as Superset builds it: expressions on a reflected table, bound parameters."""
    import sqlalchemy as sa

    sites = sa.Table("code_care_sites", sa.MetaData(), schema="marts", autoload_with=engine)
    names = ["Office", "Ambulatory surgery center"]
    out = {}
    with engine.connect() as con:
        chosen = sa.select(sites.c.code, sites.c.care_site_name).where(sites.c.care_site_name.in_(names))
        out["filter_in"] = sorted(map(list, con.execute(chosen)))
        like = sa.select(sites.c.care_site_name).where(sites.c.care_site_name.ilike("%surgery%"))
        out["filter_ilike"] = sorted(r[0] for r in con.execute(like))
    out["expected_in"] = _attempt(
        engine,
        "SELECT DISTINCT code, care_site_name FROM marts_lists.code_overview_lists, "
        "unnest(care_sites) AS u(care_site_name) WHERE care_site_name IN ('Office', 'Ambulatory surgery center')",
    )
    out["time_series"] = _attempt(
        engine,
        "SELECT data_year_start, sum(total_services) FROM marts.code_utilization WHERE has_utilization GROUP BY 1",
    )
    out["unqualified"] = _attempt(engine, "SELECT count(*) FROM code_overview")
    return out


def _host_access(engine, host_file) -> dict:  # pragma: no cover - runs in the probe env
    """Reading and writing the BI host's files from SQL."""
    import tempfile

    copy_target = Path(tempfile.mkdtemp()) / "leak.csv"
    statements = {
        "read_text": f"SELECT content FROM read_text('{host_file}')",
        "read_csv": f"SELECT * FROM read_csv('{host_file}', header = false, sep = '|')",
        "copy_to": f"COPY (SELECT code FROM marts.code_overview) TO '{copy_target}'",
        "mart_query": "SELECT count(*) FROM marts.code_payers",
    }
    out = {name: _attempt(engine, sql) for name, sql in statements.items()}
    out["copy_target_exists"] = copy_target.exists()
    return out


def _second_entry(serving_path, recipe_query) -> dict:  # pragma: no cover - runs in the probe env
    """Two database entries on one file in one process, while the first has a connection open."""
    import sqlalchemy as sa

    engine = _engine(serving_path, recipe_query)
    with engine.connect() as held:
        held.execute(sa.text("SELECT 1"))
        out = {
            "same_settings": _attempt(_engine(serving_path, recipe_query), "SELECT 1"),
            "other_settings": _attempt(_engine(serving_path, "access_mode=read_only"), "SELECT 1"),
        }
    engine.dispose()
    return out


def _freshness(serving_path, recipe_query) -> dict:  # pragma: no cover - runs in the probe env
    """A publish (atomic rename) is seen only once no connection in the process holds the old file."""
    import shutil as sh
    import tempfile

    import duckdb
    import sqlalchemy as sa

    served = Path(tempfile.mkdtemp()) / "serving.duckdb"
    sh.copy(serving_path, served)
    engine = _engine(served, recipe_query)
    count = "SELECT count(*) FROM marts.code_payers"
    out = {"before": _attempt(engine, count)}
    held = engine.connect()
    held.execute(sa.text("SELECT 1"))
    new = served.with_name("next.duckdb")
    sh.copy(served, new)
    writer = duckdb.connect(str(new))
    writer.execute("DELETE FROM marts.code_payers WHERE rowid = (SELECT min(rowid) FROM marts.code_payers)")
    writer.close()
    os.replace(new, served)
    out["new_connection_while_one_is_open"] = _attempt(engine, count)
    held.close()
    out["new_connection_after_all_closed"] = _attempt(engine, count)
    out["pool_class"] = type(engine.pool).__name__
    engine.dispose()
    return out


def probe(serving_path: str, host_file: str, recipe_query: str) -> dict:  # pragma: no cover - runs in the probe env
    import duckdb
    import sqlalchemy as sa

    out = {"versions": {"duckdb": duckdb.__version__, "sqlalchemy": sa.__version__}}
    engine = _engine(serving_path, recipe_query)
    out |= _inspect(engine) | _filters(engine)
    out["recipe"] = _host_access(engine, host_file)
    engine.dispose()
    plain = _engine(serving_path, "access_mode=read_only")
    out["read_only_only"] = _host_access(plain, host_file)
    plain.dispose()
    out["second_entry"] = _second_entry(serving_path, recipe_query)
    out["freshness"] = _freshness(serving_path, recipe_query)
    return out


_PROBE_FUNCTIONS = (_engine, _attempt, _inspect, _filters, _host_access, _second_entry, _freshness, probe)
PROBE_SCRIPT = (
    "import json, os, sys\nfrom pathlib import Path\n\n"
    + "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in _PROBE_FUNCTIONS)
    + "\n\nprint(json.dumps(probe(sys.argv[1], sys.argv[2], sys.argv[3])))\n"
)


# --- The tests ---------------------------------------------------------------------------------------------------


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.fail("uv is needed to run the BI probe in an isolated environment (it runs the test suite too)")
    return uv


@pytest.fixture(scope="module")
def bi_view(tmp_path_factory) -> dict:
    from tests.conftest import make_pipeline_env

    root = tmp_path_factory.mktemp("bi")
    env = make_pipeline_env(root)
    assert run_pipeline(env).success
    host_file = root / "superset_config.py"
    host_file.write_text(SECRET + "\n", encoding="utf-8")
    script = root / "probe.py"
    script.write_text(PROBE_SCRIPT, encoding="utf-8")
    command = [_uv(), "run", "--no-project", "--quiet"]
    for requirement in SUPERSET_STACK:
        command += ["--with", requirement]
    command += ["python", str(script), str(env.serving_path), str(host_file), RECIPE_QUERY]
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    view = json.loads(done.stdout)
    view["mart_tables"] = sorted(c.table_name for c in MART_CONTRACTS if c.schema_name == BI_SCHEMA)
    return view


# Slow: installs and runs the Superset stack. One worker runs the module (pytest-xdist loadgroup), so the
# module-scoped probe runs once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bi_ecosystem")]


def test_probe_ran_superset_versions(bi_view):
    assert bi_view["versions"]["sqlalchemy"].startswith("1.4.")
    assert bi_view["versions"]["duckdb"].startswith("1.")
    assert int(bi_view["versions"]["duckdb"].split(".")[1]) >= 5


def test_schemas_and_tables_are_listed(bi_view):
    schemas = bi_view["schemas"]
    for schema in ("core", "utilization", "marts"):
        assert any(s.split(".")[-1] == schema for s in schemas), schemas
    assert sorted(bi_view["tables"]["marts"]) == bi_view["mart_tables"]
    assert {"codes", "payers", "care_sites"} <= set(bi_view["tables"]["core"])


def test_no_mart_column_is_null_type(bi_view):
    columns = bi_view["columns"]
    assert sorted(columns) == bi_view["mart_tables"]
    untyped = [(t, c["name"], c["type"]) for t, cols in columns.items() for c in cols if c["is_null_type"]]
    assert untyped == []
    assert not [w for w in bi_view["warnings"] if "Did not recognize type" in w]
    types = {c["name"]: c["type"] for c in columns["code_utilization"]}
    assert types["data_year_start"] == "DATE"


def test_list_columns_are_null_type_which_is_why_they_live_outside_marts(bi_view):
    lists = next(c for c in MART_CONTRACTS if c.table == "marts_lists.code_overview_lists")
    expected = {col.name for col in lists.columns if col.sql_type.endswith("[]")}
    assert set(bi_view["list_columns"]) == expected and expected


def test_table_and_column_comments_are_present(bi_view):
    contracts = {c.table_name: c for c in MART_CONTRACTS if c.schema_name == BI_SCHEMA}
    assert bi_view["table_comments"] == {name: c.description for name, c in contracts.items()}
    for table, cols in bi_view["columns"].items():
        expected = {col.name: col.description for col in contracts[table].columns}
        assert {c["name"]: c["comment"] for c in cols} == expected


def test_filters_on_code_care_sites_work(bi_view):
    assert bi_view["expected_in"]["ok"]
    expected = sorted(bi_view["expected_in"]["rows"])
    assert bi_view["filter_in"] == expected and expected
    assert bi_view["filter_ilike"] and all("surgery" in name.lower() for name in bi_view["filter_ilike"])
    assert bi_view["time_series"]["ok"] and bi_view["time_series"]["rows"]


def test_tables_must_be_schema_qualified(bi_view):
    assert not bi_view["unqualified"]["ok"]


def test_external_access_off_blocks_host_files_but_not_marts(bi_view):
    recipe = bi_view["recipe"]
    for name in ("read_text", "read_csv", "copy_to"):
        assert not recipe[name]["ok"], name
        assert "disabled by configuration" in recipe[name]["error"], recipe[name]
    assert not recipe["copy_target_exists"]
    assert recipe["mart_query"]["ok"] and int(recipe["mart_query"]["rows"][0][0]) > 0


def test_read_only_alone_does_not_protect_host_files(bi_view):
    """The control: without enable_external_access=false the same statements read and write host files."""
    plain = bi_view["read_only_only"]
    assert plain["read_text"]["ok"] and SECRET in plain["read_text"]["rows"][0][0]
    assert plain["copy_to"]["ok"] and plain["copy_target_exists"]


def test_every_database_entry_on_the_file_needs_identical_settings(bi_view):
    assert bi_view["second_entry"]["same_settings"]["ok"]
    other = bi_view["second_entry"]["other_settings"]
    assert not other["ok"] and "different configuration" in other["error"]


def test_new_snapshot_is_seen_once_no_connection_holds_the_old_file(bi_view):
    fresh = bi_view["freshness"]
    before = int(fresh["before"]["rows"][0][0])
    assert int(fresh["new_connection_while_one_is_open"]["rows"][0][0]) == before
    assert int(fresh["new_connection_after_all_closed"]["rows"][0][0]) == before - 1
    assert fresh["pool_class"] == "NullPool"


def test_declared_keys_are_not_reflected(bi_view):
    """Why marts.relationships exists: duckdb-engine reflects no key columns and no foreign keys."""
    assert bi_view["pk_code_overview"]["constrained_columns"] == []
    assert bi_view["fk_code_payers"] == []
