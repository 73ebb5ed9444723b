"""The dashboard bundle in a real Superset 6.1: imported with the real CLI, every chart asked for its data with and
without each native filter, the numbers compared with SQL on the serving file.

Superset runs in its own environment (pinned, built once with uv under the user cache and reused), with a SQLite
metadata database in a temporary folder. If it cannot be installed or started, the test fails saying why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.bi.superset_bundle import BRIDGES, CHARTS, DATASETS, NATIVE_FILTERS
from pipeline.contracts.mart_tables import MART_CONTRACTS
from tests.conftest import run_pipeline
from tests.test_bi_ecosystem import SUPERSET_STACK, _uv

REPO = Path(__file__).resolve().parent.parent
# Superset's own pins beside the DuckDB stack: flask-caching 2.5 breaks `superset fab create-admin`, and the
# wheel does not declare cachetools and rich, which Superset 6.1.0 imports (docs/bi_tools.md).
SUPERSET_REQUIREMENTS = (
    "apache-superset==6.1.0",
    *SUPERSET_STACK,
    "flask-caching==2.3.1",
    "cachetools==8.0.3",
    "rich==15.0.0",
)
ADMIN = ("admin", "admin-password-for-tests")
CACHED_CHART = "Medicare services, national"
# What the simulated publish changes: one code's national rows disappear.
PUBLISH_CHANGE = (
    "DELETE FROM marts.code_utilization WHERE geo_type = 'national' "
    "AND code = (SELECT min(code) FROM marts.code_utilization WHERE geo_type = 'national')"
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("superset_dashboard")]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cpt-warehouse"


def _clean_env(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return environment | extra


def _run(command: list[str], *, env: dict, what: str, timeout: float = 900) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"{what}: {error}")
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


def superset_environment(timings: dict) -> Path:
    """The pinned Superset environment, made once per set of pins and reused (a lock keeps two runs apart)."""
    pins = "\n".join(SUPERSET_REQUIREMENTS) + f"\npython {sys.version_info[:2]}"
    venv = _cache_root() / f"superset-{hashlib.sha256(pins.encode()).hexdigest()[:12]}"
    venv.parent.mkdir(parents=True, exist_ok=True)
    ready = venv / "cpt-ready"
    started = time.monotonic()
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            environment = _clean_env()
            _run(
                [_uv(), "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)],
                env=environment,
                what="uv venv",
            )
            _run(
                [_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *SUPERSET_REQUIREMENTS],
                env=environment,
                what="installing Superset 6.1.0",
            )
            ready.write_text(pins, encoding="utf-8")
    timings["environment"] = time.monotonic() - started
    return venv


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> dict:
    """A real Superset with the bundle imported, and every chart's data for every filter case."""
    from tests.conftest import make_pipeline_env

    timings: dict[str, float] = {}
    root = tmp_path_factory.mktemp("superset")
    served = make_pipeline_env(root)
    assert run_pipeline(served).success
    venv = superset_environment(timings)
    superset = str(venv / "bin" / "superset")

    config = root / "superset_config.py"
    config.write_text(
        (REPO / "bi" / "superset" / "superset_config.py").read_text(encoding="utf-8")
        + f"\nSECRET_KEY = {'test-' + os.urandom(16).hex()!r}\n"
        + f"SQLALCHEMY_DATABASE_URI = {'sqlite:///' + str(root / 'superset.db')!r}\n"
        # A real chart-data cache (off by default), to see what a publish does to cached numbers.
        + f"DATA_CACHE_CONFIG = {{'CACHE_TYPE': 'FileSystemCache', 'CACHE_DIR': {str(root / 'cache')!r}, "
        + "'CACHE_DEFAULT_TIMEOUT': 3600}\n"
        # What the post-publish refresh needs (pipeline/bi/superset_refresh.py): cache keys recorded, one store.
        + "CACHE_CONFIG = DATA_CACHE_CONFIG\nSTORE_CACHE_KEYS_IN_METADATA_DB = True\n",
        encoding="utf-8",
    )
    environment = _clean_env(SUPERSET_CONFIG_PATH=str(config), FLASK_APP="superset", SUPERSET_HOME=str(root))
    started = time.monotonic()
    _run([superset, "db", "upgrade"], env=environment, what="superset db upgrade")
    user, password = ADMIN
    _run(
        [
            superset,
            "fab",
            "create-admin",
            "--username",
            user,
            "--firstname",
            "A",
            "--lastname",
            "Dmin",
            "--email",
            "admin@example.org",
            "--password",
            password,
        ],
        env=environment,
        what="superset fab create-admin",
    )
    _run([superset, "init"], env=environment, what="superset init")
    timings["init"] = time.monotonic() - started

    bundle = root / "bundle.zip"
    _run(
        [
            sys.executable,
            "-m",
            "pipeline.defs.cli",
            "superset-bundle",
            "--serving-path",
            str(served.serving_path),
            "--out",
            str(bundle),
        ],
        env=_clean_env(),
        what="cpt-warehouse superset-bundle",
    )
    started = time.monotonic()
    _run(
        [superset, "import-dashboards", "-p", str(bundle), "-u", user],
        env=environment,
        what="superset import-dashboards",
    )
    timings["import"] = time.monotonic() - started

    cases = _cases(served)
    spec = root / "cases.json"
    spec.write_text(
        json.dumps(
            {
                "dashboard_slug": "cpt-analytics",
                "user": user,
                "password": password,
                "cases": cases,
                "cache_check": {
                    "chart": CACHED_CHART,
                    "serving_path": str(served.serving_path),
                    "change_sql": PUBLISH_CHANGE,
                    "filtered": cases["two payers"],
                },
            }
        ),
        encoding="utf-8",
    )
    started = time.monotonic()
    done = _run(
        [str(venv / "bin" / "python"), str(REPO / "tests" / "superset_chart_data.py"), str(spec)],
        env=environment,
        what="chart data requests",
    )
    timings["chart_data"] = time.monotonic() - started
    print("superset timings (s):", {k: round(v, 1) for k, v in timings.items()})
    result = json.loads(done.stdout.split("@@RESULT@@", 1)[1])
    return {
        "served": served,
        "cases": cases,
        "result": result,
        "timings": timings,
        "superset": superset,
        "environment": environment,
    }


def _first(served, sql: str) -> list:
    return [row[0] for row in served.query(sql, serving=True)]


def _cases(served) -> dict[str, dict[str, list]]:
    """No filter; each native filter with one value; payers with two values that share codes; all at once."""
    payers = _first(served, "SELECT payer_name FROM marts.code_payers GROUP BY 1 ORDER BY count(*), 1")
    shared = _first(
        served,
        "SELECT a.payer_name || '|' || b.payer_name FROM marts.code_payers a JOIN marts.code_payers b "
        "ON a.code = b.code AND a.payer_name < b.payer_name GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    )[0].split("|")
    state = _first(served, "SELECT geo_desc FROM marts.code_utilization WHERE geo_type = 'state' ORDER BY 1 LIMIT 1")
    year = _first(served, "SELECT max(data_year) FROM marts.code_utilization")
    code = _first(served, "SELECT code FROM marts.code_utilization WHERE geo_type = 'state' ORDER BY 1 LIMIT 1")
    return {
        "no filter": {},
        "payer": {"payer_name": payers[:1]},
        "two payers": {"payer_name": shared},
        "care site": {"care_site_name": ["Hospital outpatient department"]},
        "modifier": {"modifier_code": ["50"]},
        "state": {"geo_desc": state},
        "year": {"data_year": year},
        "code": {"code": code},
        "all": {
            "payer_name": shared,
            "care_site_name": ["Hospital outpatient department", "Office"],
            "modifier_code": ["00"],
            "geo_desc": state,
            "data_year": year,
        },
    }


def _columns(table: str) -> set[str]:
    return set(next(c for c in MART_CONTRACTS if c.table == table).column_names)


def _expected(served, chart, chosen: dict[str, list]) -> tuple[list, list[str]]:
    """The chart's numbers by SQL on the serving file (bridges as `code IN (…)`), and the filters it cannot take."""
    dataset = DATASETS[chart.dataset]
    metric = next(m for m in dataset.metrics if m.name == chart.metric)
    where, params, rejected = ["TRUE"], [], []
    for column, operator, value in chart.where:
        assert operator == "=="
        where.append(f"{column} = ?")
        params.append(value)
    for column, values in chosen.items():
        if column in _columns(dataset.table):
            where.append(f"{column} IN (SELECT unnest(?))")
        elif column in BRIDGES:
            where.append(f"code IN (SELECT code FROM {BRIDGES[column]} WHERE {column} IN (SELECT unnest(?)))")
        else:
            rejected.append(column)
            continue
        params.append(values)
    select = ", ".join([*chart.columns, f"{metric.expression} AS m"])
    group = " GROUP BY ALL" if chart.columns else ""
    rows = served.query(
        f"SELECT {select} FROM {dataset.table} WHERE {' AND '.join(where)}{group}", params, serving=True
    )
    return sorted(rows, key=repr), rejected


def _rows(chart, data: list[dict]) -> list[tuple]:
    return sorted((tuple(row[c] for c in chart.columns) + (row[chart.metric],) for row in data), key=repr)


def test_superset_runs_with_template_processing(dashboard):
    assert dashboard["result"]["feature_flags"].get("ENABLE_TEMPLATE_PROCESSING") is True


def test_the_dashboard_has_its_native_filters(dashboard):
    filters = {f["name"]: f["column"] for f in dashboard["result"]["filters"]}
    assert filters == {f.name: f.column for f in NATIVE_FILTERS}
    assert filters == {
        "Payer": "payer_name",
        "Care site": "care_site_name",
        "Modifier": "modifier_code",
        "State": "geo_desc",
        "Year": "data_year",
        "Code": "code",
    }


def test_saved_query_contexts_point_at_the_imported_datasets(dashboard):
    """Reports, cache warm-up and GET /api/v1/chart/<id>/data use the saved query context as it is."""
    for title, chart in dashboard["result"]["charts"].items():
        assert chart["query_context_datasource"] == {"id": chart["datasource_id"], "type": "table"}, title


def test_every_chart_was_imported(dashboard):
    assert sorted(dashboard["result"]["charts"]) == sorted(chart.title for chart in CHARTS)


@pytest.mark.parametrize("chart", CHARTS, ids=lambda chart: chart.key)
def test_chart_numbers_match_sql_with_and_without_each_filter(dashboard, chart):
    got = dashboard["result"]["charts"][chart.title]["results"]
    for case, chosen in dashboard["cases"].items():
        answer = got[case]
        assert answer["status"] == 200, (case, answer.get("error"))
        expected, rejected = _expected(dashboard["served"], chart, chosen)
        assert _rows(chart, answer["data"]) == expected, (case, answer.get("query"))
        assert sorted(answer["rejected"]) == sorted(rejected), case


def test_a_bridge_filter_changes_utilization_and_two_payers_do_not_inflate(dashboard):
    """The issue's symptom: Payer = Humana kept the utilization charts unchanged (rejected_filters)."""
    national = dashboard["result"]["charts"]["Medicare services, national"]["results"]
    total = national["no filter"]["data"][0]["total_services"]
    one = national["payer"]["data"][0]["total_services"]
    two = national["two payers"]["data"][0]["total_services"]
    assert "payer_name" in national["payer"]["applied"]
    assert one < total
    assert two <= total  # a join would count the codes both payers list twice


def test_a_publish_reaches_a_cached_chart_only_when_forced(dashboard):
    """docs/bi_tools.md: with a data cache, a chart keeps its cached numbers after a publish until a forced refresh
    (the dashboard's *Refresh dashboard*, or "force": true), which also stores the fresh numbers in the cache."""
    check = dashboard["result"]["cache_check"]
    before = check["first"]["data"]
    assert check["second"] == {"data": before, "is_cached": True}
    assert check["after_publish"] == {"data": before, "is_cached": True}
    assert not check["forced"]["is_cached"]
    assert check["forced"]["data"] != before
    assert check["after_forced"] == {"data": check["forced"]["data"], "is_cached": True}


# --- The optional post-publish refresh, against this Superset running as a server -------------------------------


@pytest.fixture(scope="module")
def server(dashboard, tmp_path_factory):
    """``superset run`` on a free port, with the same metadata database and cache as the requests above."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("superset_server") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [dashboard["superset"], "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
            env=dashboard["environment"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"superset run did not start: {log.read_text()[-3000:]}")
        time.sleep(1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _api(url: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    import urllib.request

    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def _ask(url: str, token: str, chart_title: str, chosen: dict | None = None) -> dict:
    charts = _api(url, "GET", "/api/v1/dashboard/cpt-analytics/charts", token=token)["result"]
    chart_id = next(c["id"] for c in charts if c["slice_name"] == chart_title)
    context = json.loads(_api(url, "GET", f"/api/v1/chart/{chart_id}", token=token)["result"]["query_context"])
    for column, values in (chosen or {}).items():
        context["queries"][0]["filters"].append({"col": column, "op": "IN", "val": values})
    result = _api(url, "POST", "/api/v1/chart/data", context | {"force": False}, token=token)["result"][0]
    return {"data": result["data"], "is_cached": bool(result.get("is_cached"))}


def test_the_post_publish_refresh_replaces_stale_cached_numbers(dashboard, server):
    """The cache holds numbers of a snapshot that is no longer served (the publish check above left them): the
    unfiltered view and a two-payer view. The pipeline's refresh step makes both answer the served file again."""
    from pipeline.bi.superset_refresh import refresh_dashboard_cache

    user, password = ADMIN
    token = _api(server, "POST", "/api/v1/security/login", {"username": user, "password": password, "provider": "db"})[
        "access_token"
    ]
    check = dashboard["result"]["cache_check"]
    chosen = dashboard["cases"]["two payers"]
    assert _ask(server, token, CACHED_CHART) == {"data": check["forced"]["data"], "is_cached": True}
    assert _ask(server, token, CACHED_CHART, chosen) == {"data": check["filtered_forced"]["data"], "is_cached": True}

    outcome = refresh_dashboard_cache(server, user, password, "cpt-analytics")
    assert outcome.ok, outcome.summary
    assert (outcome.invalidated_datasets, outcome.refreshed_charts) == (len(DATASETS), len(CHARTS))

    chart = next(c for c in CHARTS if c.title == CACHED_CHART)
    for view in ({}, chosen):
        expected, _ = _expected(dashboard["served"], chart, view)
        assert _rows(chart, _ask(server, token, CACHED_CHART, view)["data"]) == expected, view


def test_the_refresh_reports_a_refusing_superset(server):
    from pipeline.bi.superset_refresh import refresh_dashboard_cache

    outcome = refresh_dashboard_cache(server, ADMIN[0], "wrong password", "cpt-analytics")
    assert not outcome.ok
    assert outcome.summary.startswith("warning:") and "401" in outcome.summary
