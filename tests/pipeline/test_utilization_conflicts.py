"""Two files for one layout and year: the outcome follows the documented rule, never the names' sort order."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from tests.conftest import run_pipeline
from tests.synthetic.cms import GEO_HEADER, geo_rows, write_csv

SAMPLE = "MUP_PHY_R25_P05_V20_D23_Geo.csv"


def load(env):
    assert run_pipeline(env, "group:utilization").success


def statuses(env) -> dict[str, tuple[str, str | None]]:
    rows = env.query("SELECT file_name, status, error FROM utilization.source_files")
    return {name: (status, error) for name, status, error in rows}


def rows_by_file(env) -> dict[str, int]:
    return dict(env.query("SELECT source_file, count(*) FROM utilization.physician_geo_service GROUP BY 1"))


def write_geo(env, name: str, seed: int, *, mtime: float | None = None) -> int:
    rows = geo_rows(random.Random(seed), 2023)
    path = write_csv(env.utilization_dir / name, GEO_HEADER, rows)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return len(rows)


@pytest.mark.parametrize("newcomer", ["Geo_2023.csv", "zz_geo_2023.csv"])  # sorts before / after the loaded file
def test_a_newcomer_without_a_newer_release_is_rejected_and_the_loaded_file_keeps_the_year(pipeline_env, newcomer):
    load(pipeline_env)
    before = rows_by_file(pipeline_env)
    write_geo(pipeline_env, newcomer, seed=5)
    load(pipeline_env)
    status, error = statuses(pipeline_env)[newcomer]
    assert status == "rejected" and SAMPLE in error and "loaded first" in error
    assert statuses(pipeline_env)[SAMPLE][0] == "loaded"
    assert rows_by_file(pipeline_env) == before


@pytest.mark.parametrize("prefix", ["A", "ZZ"])
def test_a_newer_cms_release_wins_whatever_its_name(pipeline_env, prefix):
    load(pipeline_env)
    newer = f"{prefix}_PHY_R26_P01_V10_D23_Geo.csv"
    rows = write_geo(pipeline_env, newer, seed=6)
    load(pipeline_env)
    status, error = statuses(pipeline_env)[SAMPLE]
    assert status == "rejected" and newer in error and "R25_P05_V20, older than R26_P01_V10" in error
    assert rows_by_file(pipeline_env) == {newer: rows}


@pytest.mark.parametrize("prefix", ["A", "ZZ"])
def test_an_older_cms_release_never_takes_the_year(pipeline_env, prefix):
    load(pipeline_env)
    before = rows_by_file(pipeline_env)
    older = f"{prefix}_PHY_R24_P05_V10_D23_Geo.csv"
    write_geo(pipeline_env, older, seed=7)
    load(pipeline_env)
    status, error = statuses(pipeline_env)[older]
    assert status == "rejected" and SAMPLE in error and "older than R25_P05_V20" in error
    assert rows_by_file(pipeline_env) == before


@pytest.mark.parametrize("newest", ["Geo_2023.csv", "zz_geo_2023.csv"])
def test_first_load_of_two_files_takes_the_newest_modification_time(pipeline_env, newest):
    os.remove(pipeline_env.utilization_dir / SAMPLE)
    names = ["Geo_2023.csv", "zz_geo_2023.csv"]
    counts = {name: write_geo(pipeline_env, name, seed=i, mtime=2_000_000_000 if name == newest else 1_900_000_000)
              for i, name in enumerate(names)}  # fmt: skip
    load(pipeline_env)
    [other] = [n for n in names if n != newest]
    assert statuses(pipeline_env)[other][0] == "rejected" and newest in statuses(pipeline_env)[other][1]
    assert rows_by_file(pipeline_env) == {newest: counts[newest]}


@pytest.mark.parametrize("seeds", [(1, 2), (2, 1)])
def test_same_modification_time_is_settled_by_content_not_name(pipeline_env, seeds):
    os.remove(pipeline_env.utilization_dir / SAMPLE)
    names = ["Geo_2023.csv", "zz_geo_2023.csv"]
    for name, seed in zip(names, seeds, strict=True):
        write_geo(pipeline_env, name, seed=seed, mtime=2_000_000_000)
    digests = {n: hashlib.sha256((pipeline_env.utilization_dir / n).read_bytes()).hexdigest() for n in names}
    winner = max(names, key=digests.get)
    load(pipeline_env)
    assert {n: s for n, (s, _) in statuses(pipeline_env).items()} == {
        n: "loaded" if n == winner else "rejected" for n in names
    }
    assert set(rows_by_file(pipeline_env)) == {winner}
