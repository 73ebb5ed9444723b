"""Runs inside the Superset environment (not the project's): every chart of the imported dashboard, asked for
its data through Superset's real app (Flask test client, REST API, JWT login) the way the dashboard asks:
the chart's saved query context, with a native filter's value added to ``queries[0].filters`` as the
dashboard's ``extra_form_data`` does.

Usage: python superset_chart_data.py CASES.json  (SUPERSET_CONFIG_PATH set); prints JSON.
CASES.json: {"dashboard_slug": …, "user": …, "password": …, "cases": {name: {column: [values]}}}
"""

from __future__ import annotations

import json
import sys


def main(spec_path: str) -> dict:  # pragma: no cover - runs in the Superset env
    from superset.app import create_app

    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    app = create_app()
    client = app.test_client()
    login = client.post(
        "/api/v1/security/login",
        json={"username": spec["user"], "password": spec["password"], "provider": "db", "refresh": False},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json['access_token']}"}

    def get(url: str) -> dict:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:2000])
        return answer.json

    dashboard = get(f"/api/v1/dashboard/{spec['dashboard_slug']}")["result"]
    metadata = json.loads(dashboard["json_metadata"])
    filters = [
        {"name": f["name"], "column": f["targets"][0]["column"]["name"], "dataset_id": f["targets"][0]["datasetId"]}
        for f in metadata["native_filter_configuration"]
    ]
    charts = get(f"/api/v1/dashboard/{spec['dashboard_slug']}/charts")["result"]
    out = {"filters": filters, "charts": {}, "feature_flags": app.config["FEATURE_FLAGS"]}
    for listed in charts:
        chart = get(f"/api/v1/chart/{listed['id']}")["result"]
        context = json.loads(chart["query_context"])
        form_data = json.loads(chart["params"])
        datasource_id = int(form_data["datasource"].split("__")[0])
        results = {}
        for case, chosen in spec["cases"].items():
            # The saved query context as the import left it (Superset rewrites its datasource to the new id).
            request = json.loads(json.dumps(context))
            request["force"] = True
            for column, values in chosen.items():
                extra = {"filters": [{"col": column, "op": "IN", "val": values}]}
                request["form_data"]["extra_form_data"] = extra
                request["queries"][0]["filters"] += extra["filters"]
            answer = client.post("/api/v1/chart/data", json=request, headers=headers)
            if answer.status_code != 200:
                results[case] = {"status": answer.status_code, "error": answer.text[:3000]}
                continue
            result = answer.json["result"][0]
            results[case] = {
                "status": 200,
                "data": result["data"],
                "query": result.get("query"),
                "applied": [f["column"] for f in result.get("applied_filters", [])],
                "rejected": [f["column"] for f in result.get("rejected_filters", [])],
            }
        out["charts"][chart["slice_name"]] = {
            "uuid": chart.get("uuid"),
            "datasource_id": datasource_id,
            "query_context_datasource": context["datasource"],
            "form_data": form_data,
            "results": results,
        }
    if spec.get("cache_check"):
        out["cache_check"] = _cache_check(client, headers, charts, spec["cache_check"])
    return out


def _cache_check(client, headers, charts, check: dict) -> dict:  # pragma: no cover - runs in the Superset env
    """A chart with a data cache configured, across a publish: cached, still cached after it, fresh when forced.

    The publish is simulated as the pipeline does it: a changed copy renamed over the serving file (restored after).
    """
    import os
    import shutil

    import duckdb

    chart_id = next(c["id"] for c in charts if c["slice_name"] == check["chart"])
    chart = client.get(f"/api/v1/chart/{chart_id}", headers=headers).json["result"]
    context = json.loads(chart["query_context"])

    def ask(force: bool, chosen: dict | None = None) -> dict:
        request = json.loads(json.dumps(context)) | {"force": force}
        for column, values in (chosen or {}).items():
            request["queries"][0]["filters"].append({"col": column, "op": "IN", "val": values})
        answer = client.post("/api/v1/chart/data", json=request, headers=headers)
        assert answer.status_code == 200, answer.text[:2000]
        result = answer.json["result"][0]
        return {"data": result["data"], "is_cached": bool(result.get("is_cached"))}

    serving = check["serving_path"]
    backup, changed = f"{serving}.backup", f"{serving}.next"
    shutil.copy(serving, backup)
    out = {"first": ask(False), "second": ask(False)}
    shutil.copy(serving, changed)
    writer = duckdb.connect(changed)
    writer.execute(check["change_sql"])
    writer.close()
    os.replace(changed, serving)
    try:
        out["after_publish"] = ask(False)
        out["forced"] = ask(True)
        out["after_forced"] = ask(False)
        # A filtered view cached while the changed file was served: only an invalidation can drop it.
        out["filtered_forced"] = ask(True, check["filtered"])
    finally:
        os.replace(backup, serving)
    return out


if __name__ == "__main__":  # pragma: no cover
    print("@@RESULT@@" + json.dumps(main(sys.argv[1]), default=str))
