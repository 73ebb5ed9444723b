"""After a publish, make a Superset dashboard stop answering from its cache (optional; off unless a URL is set).

Two calls of Superset's REST API, as the configured user:

1. ``POST /api/v1/cachekey/invalidate`` with the dashboard's datasets: drops every cached result of those datasets,
   whatever the filters were. Superset 6.1 finds the keys only with ``STORE_CACHE_KEYS_IN_METADATA_DB = True``
   and deletes them from ``CACHE_CONFIG``'s store, so that store must be the one ``DATA_CACHE_CONFIG`` uses.
2. ``GET /api/v1/chart/<id>/data/?force=true`` for every chart of the dashboard: recomputes the unfiltered view
   and stores it, which works with any cache configuration (and warms the cache for the first visitor).

Superset being unreachable or refusing is reported, never raised: the publish has happened and stays valid.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class RefreshOutcome:
    ok: bool
    summary: str
    invalidated_datasets: int = 0
    refreshed_charts: int = 0


class _Api:
    def __init__(self, url: str, timeout: float):
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json"}
        # The CSRF token Superset hands out is bound to its session cookie: keep the cookies between calls.
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        # A JSON content type without a body is a malformed request to Superset's chart-data GET.
        headers = self.headers | ({"Content-Type": "application/json"} if data is not None else {})
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            raise RuntimeError(f"{method} {path}: HTTP {error.code} {detail}") from error


def refresh_dashboard_cache(
    url: str, username: str, password: str, dashboard: str, *, timeout: float = 60.0
) -> RefreshOutcome:
    """Invalidate the cached results of ``dashboard``'s datasets (slug or id) and recompute its charts."""
    api = _Api(url, timeout)
    try:
        _, login = api.call(
            "POST",
            "/api/v1/security/login",
            {"username": username, "password": password, "provider": "db", "refresh": False},
        )
        api.headers["Authorization"] = f"Bearer {login['access_token']}"
        # The cache-key endpoint, unlike chart data, checks a CSRF token even with a bearer token (Superset 6.1).
        _, csrf = api.call("GET", "/api/v1/security/csrf_token/")
        api.headers |= {"X-CSRFToken": csrf["result"], "Referer": api.base}
        slug = urllib.parse.quote(str(dashboard), safe="")
        _, datasets = api.call("GET", f"/api/v1/dashboard/{slug}/datasets")
        uids = [f"{d['id']}__table" for d in datasets["result"]]
        status, _ = api.call("POST", "/api/v1/cachekey/invalidate", {"datasource_uids": uids})
        if status != 201:
            raise RuntimeError(f"POST /api/v1/cachekey/invalidate answered HTTP {status}")
        _, charts = api.call("GET", f"/api/v1/dashboard/{slug}/charts")
        chart_ids = [c["id"] for c in charts["result"]]
        for chart_id in chart_ids:
            api.call("GET", f"/api/v1/chart/{chart_id}/data/?force=true")
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        return RefreshOutcome(False, f"warning: Superset cache not refreshed at {url} ({dashboard}): {error}")
    return RefreshOutcome(
        True,
        f"Superset {url}: cache of {len(uids)} dataset(s) invalidated, {len(chart_ids)} chart(s) recomputed "
        f"(dashboard {dashboard})",
        len(uids),
        len(chart_ids),
    )
