"""The Superset dashboard bundle for the serving file: one database, virtual datasets, charts, a dashboard.

Payer, care site and modifier live in bridge marts (many rows per code). A dashboard filter on one of them must
reach every chart without repeating utilization rows, so each dataset is a virtual (SQL) dataset that reads the
bridge filters with Superset's Jinja macro ``filter_values(column, remove_filter=True)`` and keeps a row when the
code EXISTS in the bridge with one of the chosen values (a semi-join). ``remove_filter=True`` takes the filter out
of the outer query, where the column does not exist. Superset must run with ``ENABLE_TEMPLATE_PROCESSING``.

The bundle is generated from the mart contracts (dataset columns and types) into ``bi/superset/bundle/`` with a
placeholder for the serving file's path; ``cpt-warehouse superset-bundle`` replaces it and zips the result for
``superset import-dashboards``.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.contracts.mart_tables import BI_SCHEMA, MART_CONTRACTS, table_alias

BUNDLE_DIR = Path(__file__).resolve().parents[2] / "bi" / "superset" / "bundle"
SERVING_PATH_PLACEHOLDER = "__CPT_SERVING_PATH__"
# The README's recipe (docs/bi_tools.md): read-only, no access to the Superset host's files.
URI_TEMPLATE = f"duckdb:///{SERVING_PATH_PLACEHOLDER}?access_mode=read_only&enable_external_access=false"
BUNDLE_ROOT = "cpt_analytics_dashboard"
VERSION = "1.0.0"
# Stable ids, so a second import updates the same objects instead of adding copies.
_NAMESPACE = uuid.UUID("6f1d1a52-3c1e-4a55-9d57-1b7f0c2e9a10")


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


DATABASE_UUID = _uuid("database/cpt_analytics")

# Dashboard filter column -> the bridge mart holding it (many rows per code).
BRIDGES = {
    "payer_name": f"{BI_SCHEMA}.code_payers",
    "care_site_name": f"{BI_SCHEMA}.code_care_sites",
    "modifier_code": f"{BI_SCHEMA}.code_modifiers",
}


def semi_join_filters(outer_alias: str, *, native: str | None = None) -> str:
    """Jinja for a virtual dataset's WHERE clause: one EXISTS per bridge filter the dashboard sends.

    ``native`` is the bridge column the dataset holds itself; Superset filters that one in the outer query."""
    blocks = []
    for column, bridge in BRIDGES.items():
        if column == native:
            continue
        alias = table_alias(bridge)
        chosen = f"chosen_{column}"
        blocks.append(
            f"{{% set {chosen} = filter_values('{column}', remove_filter=True) %}}\n"
            f"{{% if {chosen} %}}\n"
            f"  AND EXISTS (SELECT 1 FROM {bridge} AS {alias} "
            f"WHERE {alias}.code = {outer_alias}.code AND {alias}.{column} IN {{{{ {chosen} | where_in }}}})\n"
            f"{{% endif %}}"
        )
    return "\n".join(blocks)


def dataset_sql(table: str) -> str:
    """The SQL of the virtual dataset over ``table`` (marts.<name>)."""
    alias = table_alias(table)
    native = next((c for c, bridge in BRIDGES.items() if bridge == table), None)
    header = (
        f"-- {table}, rows of the codes that match the dashboard's Payer, Care site and Modifier filters.\n"
        "-- One EXISTS (semi-join) per bridge: each row counts once however many payers, sites or modifiers match.\n"
    )
    return f"{header}SELECT {alias}.*\nFROM {table} AS {alias}\nWHERE TRUE\n{semi_join_filters(alias, native=native)}\n"


@dataclass(frozen=True)
class Metric:
    name: str
    expression: str
    label: str


@dataclass(frozen=True)
class Dataset:
    table: str  # marts.<name>
    metrics: tuple[Metric, ...]

    @property
    def name(self) -> str:
        return f"{self.table.split('.')[1]}_filtered"

    @property
    def uuid(self) -> str:
        return _uuid(f"dataset/{self.name}")


CODES = Metric("codes", "COUNT(DISTINCT code)", "Codes")
ROWS = Metric("count", "COUNT(*)", "Rows")
DATASETS = {
    "utilization": Dataset(
        f"{BI_SCHEMA}.code_utilization",
        (
            Metric("total_services", "SUM(total_services)", "Services"),
            Metric("total_beneficiaries", "SUM(total_beneficiaries)", "Beneficiaries"),
            CODES,
            ROWS,
        ),
    ),
    "overview": Dataset(f"{BI_SCHEMA}.code_overview", (CODES, ROWS)),
    "payers": Dataset(f"{BI_SCHEMA}.code_payers", (CODES, ROWS)),
    "care_sites": Dataset(f"{BI_SCHEMA}.code_care_sites", (CODES, ROWS)),
    "modifiers": Dataset(f"{BI_SCHEMA}.code_modifiers", (CODES, ROWS)),
}


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    dataset: str  # key of DATASETS
    viz_type: str
    columns: tuple[str, ...]
    metric: str
    where: tuple[tuple[str, str, str], ...] = ()  # (column, operator, value) fixed on the chart

    @property
    def uuid(self) -> str:
        return _uuid(f"chart/{self.key}")


NATIONAL = (("geo_type", "==", "national"),)
STATES = (("geo_type", "==", "state"),)
CHARTS = (
    Chart(
        "services_national",
        "Medicare services, national",
        "utilization",
        "big_number_total",
        (),
        "total_services",
        NATIONAL,
    ),
    Chart(
        "services_by_code_year",
        "Medicare services by code, year and setting (national)",
        "utilization",
        "table",
        ("code", "data_year", "place_of_service"),
        "total_services",
        NATIONAL,
    ),
    Chart(
        "services_by_state",
        "Medicare services by state",
        "utilization",
        "table",
        ("geo_desc",),
        "total_services",
        STATES,
    ),
    Chart("codes_by_payer", "Codes by payer", "payers", "table", ("payer_name",), "codes"),
    Chart("codes_by_care_site", "Codes by care site", "care_sites", "table", ("care_site_name",), "codes"),
    Chart(
        "codes_by_modifier",
        "Codes by modifier",
        "modifiers",
        "table",
        ("modifier_code", "modifier_description"),
        "codes",
    ),
    Chart("codes", "Codes", "overview", "table", ("code", "title"), "count"),
)


@dataclass(frozen=True)
class NativeFilter:
    key: str
    name: str
    dataset: str
    column: str


NATIVE_FILTERS = (
    NativeFilter("payer", "Payer", "payers", "payer_name"),
    NativeFilter("care_site", "Care site", "care_sites", "care_site_name"),
    NativeFilter("modifier", "Modifier", "modifiers", "modifier_code"),
    NativeFilter("state", "State", "utilization", "geo_desc"),
    NativeFilter("year", "Year", "utilization", "data_year"),
    NativeFilter("code", "Code", "overview", "code"),
)
DASHBOARD_UUID = _uuid("dashboard/cpt_analytics")
DASHBOARD_TITLE = "CPT codes and Medicare utilization"


def _contract(table: str):
    return next(c for c in MART_CONTRACTS if c.table == table)


def _dataset_config(dataset: Dataset) -> dict:
    contract = _contract(dataset.table)
    columns = [
        {
            "column_name": column.name,
            "verbose_name": None,
            "is_dttm": column.sql_type in ("DATE", "TIMESTAMP"),
            "is_active": True,
            "type": column.sql_type,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": column.description,
            "python_date_format": None,
            "extra": {},
        }
        for column in contract.columns
    ]
    dttm = next((c["column_name"] for c in columns if c["is_dttm"]), None)
    return {
        "table_name": dataset.name,
        "main_dttm_col": dttm,
        "description": contract.description,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": None,
        "sql": dataset_sql(dataset.table),
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": dataset.uuid,
        "metrics": [
            {
                "metric_name": m.name,
                "verbose_name": m.label,
                "metric_type": None,
                "expression": m.expression,
                "description": None,
                "d3format": None,
                "extra": {},
                "warning_text": None,
            }
            for m in dataset.metrics
        ],
        "columns": columns,
        "version": VERSION,
        "database_uuid": DATABASE_UUID,
    }


def _adhoc(column: str, operator: str, value: str) -> dict:
    return {
        "expressionType": "SIMPLE",
        "subject": column,
        "operator": operator,
        "comparator": value,
        "clause": "WHERE",
        "isExtra": False,
    }


def chart_query(chart: Chart, datasource_id: int | str = "__DATASET_ID__") -> dict:
    """The chart-data request the dashboard sends for ``chart`` with no dashboard filter applied.

    A dashboard filter adds ``{"col": …, "op": "IN", "val": […]}`` to ``queries[0].filters``."""
    form_data = chart_params(chart)
    query = {
        "columns": list(chart.columns),
        "metrics": [chart.metric],
        "filters": [{"col": c, "op": op, "val": v} for c, op, v in chart.where],
        "orderby": [[chart.metric, False]] if chart.columns else [],
        "row_limit": 10000,
        "extras": {"having": "", "where": ""},
        "annotation_layers": [],
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    return {
        "datasource": {"id": datasource_id, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": form_data,
        "result_format": "json",
        "result_type": "full",
    }


def chart_params(chart: Chart) -> dict:
    params = {
        "datasource": f"__DATASET_ID__{DATASETS[chart.dataset].uuid}",
        "viz_type": chart.viz_type,
        "adhoc_filters": [_adhoc(*w) for w in chart.where],
        "row_limit": 10000,
        "extra_form_data": {},
        "dashboards": [],
    }
    if chart.viz_type == "big_number_total":
        params |= {"metric": chart.metric, "header_font_size": 0.4, "subheader_font_size": 0.15, "y_axis_format": ",d"}
    else:
        params |= {
            "query_mode": "aggregate",
            "groupby": list(chart.columns),
            "metrics": [chart.metric],
            "all_columns": [],
            "percent_metrics": [],
            "order_desc": True,
            "timeseries_limit_metric": chart.metric,
            "table_timestamp_format": "smart_date",
            "server_pagination": False,
        }
    return params


def _chart_config(chart: Chart) -> dict:
    return {
        "slice_name": chart.title,
        "description": None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": chart.viz_type,
        "params": chart_params(chart),
        "query_context": json.dumps(chart_query(chart)),
        "cache_timeout": None,
        "uuid": chart.uuid,
        "version": VERSION,
        "dataset_uuid": DATASETS[chart.dataset].uuid,
    }


def _position() -> dict:
    position: dict = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": DASHBOARD_TITLE}},
    }
    rows = [CHARTS[i : i + 3] for i in range(0, len(CHARTS), 3)]
    for row_number, row in enumerate(rows):
        row_id = f"ROW-{row_number}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in row:
            chart_id = f"CHART-{chart.key}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART",
                "id": chart_id,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {"width": 4, "height": 50, "chartId": 0, "uuid": chart.uuid, "sliceName": chart.title},
            }
    return position


def _native_filter(native: NativeFilter) -> dict:
    return {
        "id": f"NATIVE_FILTER-{native.key}",
        "name": native.name,
        "filterType": "filter_select",
        "targets": [{"datasetUuid": DATASETS[native.dataset].uuid, "column": {"name": native.column}}],
        "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
        "controlValues": {
            "enableEmptyFilter": False,
            "defaultToFirstItem": False,
            "multiSelect": True,
            "searchAllOptions": False,
            "inverseSelection": False,
        },
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
        "type": "NATIVE_FILTER",
        "description": f"{native.column} of {DATASETS[native.dataset].table}",
    }


def _dashboard_config() -> dict:
    return {
        "dashboard_title": DASHBOARD_TITLE,
        "description": None,
        "css": "",
        "slug": "cpt-analytics",
        "uuid": DASHBOARD_UUID,
        "position": _position(),
        "metadata": {
            "native_filter_configuration": [_native_filter(n) for n in NATIVE_FILTERS],
            "color_scheme": "",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": {},
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": False,
            "default_filters": "{}",
            "chart_configuration": {},
        },
        "version": VERSION,
        "published": True,
    }


def _database_config() -> dict:
    return {
        "database_name": "cpt_analytics",
        "sqlalchemy_uri": URI_TEMPLATE,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_csv_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": DATABASE_UUID,
        "version": VERSION,
    }


class _BundleDumper(yaml.SafeDumper):
    """Multi-line strings (the datasets' SQL) as YAML literal blocks, readable in a diff."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BundleDumper.add_representer(str, _text)


def bundle_files() -> dict[str, str]:
    """Relative path -> YAML text of every file of the bundle (the serving path still a placeholder)."""
    files = {
        "metadata.yaml": {"version": VERSION, "type": "Dashboard", "timestamp": "2026-01-01T00:00:00+00:00"},
        "databases/cpt_analytics.yaml": _database_config(),
        "dashboards/cpt_analytics.yaml": _dashboard_config(),
    }
    for dataset in DATASETS.values():
        files[f"datasets/cpt_analytics/{dataset.name}.yaml"] = _dataset_config(dataset)
    for chart in CHARTS:
        files[f"charts/{chart.key}.yaml"] = _chart_config(chart)
    header = "# Generated by `uv run python -m pipeline.bi.superset_bundle` from the mart contracts; do not edit.\n"
    return {
        path: header + yaml.dump(config, Dumper=_BundleDumper, sort_keys=False, allow_unicode=True, width=120)
        for path, config in files.items()
    }


def write_bundle_dir(target: Path = BUNDLE_DIR) -> list[Path]:
    written = []
    for relative, text in bundle_files().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_bundle_zip(serving_path: Path, out: Path, source: Path = BUNDLE_DIR) -> Path:
    """``source`` (the committed bundle) zipped for ``superset import-dashboards`` with the serving path filled in."""
    serving = Path(serving_path).expanduser().resolve()
    if SERVING_PATH_PLACEHOLDER in str(serving) or "?" in str(serving):
        raise ValueError(f"unusable serving path for a SQLAlchemy URI: {serving}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*.yaml")):
            text = path.read_text(encoding="utf-8").replace(SERVING_PATH_PLACEHOLDER, serving.as_posix())
            archive.writestr(f"{BUNDLE_ROOT}/{path.relative_to(source).as_posix()}", text)
    return out


if __name__ == "__main__":
    for written in write_bundle_dir():
        print(written.relative_to(BUNDLE_DIR.parents[2]))
