"""The CPT_LAKE_S3_* settings without a server: what is refused at start, and how the secret travels (by name in
the Dagster UI, on the worker's stdin, never in an error message). The publish itself against a real S3 server is
tests/pipeline/test_lake.py::test_a_lake_with_data_on_s3_is_published_and_read_back_by_a_bi_reader."""

from __future__ import annotations

import dagster as dg
import pytest

from pipeline.defs.resources import LakeResource
from pipeline.publishing.lake import S3Settings, s3_problems
from pipeline.settings import Settings

S3_PATH = "s3://bucket/cpt/"


@pytest.mark.parametrize(
    ("data_path", "settings", "named"),
    [
        (S3_PATH, {"CPT_LAKE_S3_URL_STYLE": "virtual"}, "CPT_LAKE_S3_URL_STYLE='virtual'"),
        (S3_PATH, {"CPT_LAKE_S3_USE_SSL": "maybe"}, "CPT_LAKE_S3_USE_SSL='maybe'"),
        (S3_PATH, {"CPT_LAKE_S3_ENDPOINT": "http://minio:9000"}, "give host[:port] only"),
        (S3_PATH, {"CPT_LAKE_S3_KEY_ID": "k"}, "go together"),
        (S3_PATH, {"CPT_LAKE_S3_SECRET": "s"}, "go together"),
        ("/srv/lake/", {"CPT_LAKE_S3_ENDPOINT": "minio:9000"}, "is not an s3:// path"),
    ],
)
def test_s3_settings_that_cannot_work_are_refused_by_name(data_path, settings, named):
    problems = s3_problems(data_path, settings)
    assert len(problems) == 1 and named in problems[0], problems


def test_s3_settings_that_work_are_accepted_and_the_secret_is_never_repeated():
    working = {
        "CPT_LAKE_S3_ENDPOINT": "minio.internal:9000",
        "CPT_LAKE_S3_REGION": "eu-central-1",
        "CPT_LAKE_S3_URL_STYLE": "path",
        "CPT_LAKE_S3_USE_SSL": "false",
        "CPT_LAKE_S3_KEY_ID": "cpt-publisher",
        "CPT_LAKE_S3_SECRET": "very-secret",
    }
    assert s3_problems(S3_PATH, working) == []
    assert s3_problems(S3_PATH, {}) == []  # AWS, anonymous: DuckDB's defaults
    assert not any("very-secret" in p for p in s3_problems("/srv/lake/", working))
    assert "very-secret" not in repr(S3Settings(secret="very-secret"))


def test_the_s3_secret_is_shown_in_dagster_by_its_variable_name_only():
    environ = {"CPT_LAKE_DATA_PATH": S3_PATH, "CPT_LAKE_S3_KEY_ID": "k", "CPT_LAKE_S3_SECRET": "very-secret"}
    resource = LakeResource.from_settings(Settings.from_env(environ))
    assert isinstance(resource.s3_secret, dg.EnvVar) and resource.s3_secret.env_var_name == "CPT_LAKE_S3_SECRET"
    assert resource.s3_key_id == "k"
    direct = LakeResource.from_settings(Settings.from_env(environ), env_vars=False).settings
    assert direct.s3 == S3Settings(key_id="k", secret="very-secret")
    assert direct.s3.for_worker()["use_ssl"] is None  # unset: DuckDB's default (https)
    ssl_off = {**environ, "CPT_LAKE_S3_USE_SSL": "False"}
    assert (
        LakeResource.from_settings(Settings.from_env(ssl_off), env_vars=False).settings.s3.for_worker()["use_ssl"]
        is False
    )
