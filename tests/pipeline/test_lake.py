"""The DuckLake target against a real PostgreSQL catalog: what a publish commits (one snapshot, exactly the changed
tables, the data dictionary), that a failed publish commits nothing, time travel, retention, the history command,
the Dagster asset, and a BI reader (duckdb-engine, as Superset connects) in another process during publishes.

Every test here starts processes (a Postgres server, the lake publisher's pinned DuckDB 1.5.5 environment), so
all are marked slow. When Postgres cannot start they fail with the reason (tests/postgres_server.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import boto3
import duckdb
import pytest

from pipeline.contracts.bookkeeping_tables import SNAPSHOT_TABLES_CONTRACT
from pipeline.defs.resources import LakeResource
from pipeline.publishing.lake import (
    REQUIREMENTS,
    LakePublishFailed,
    LakeSettings,
    format_history,
    lake_history,
    pinned_python,
    publish_to_lake,
    read_only_uri,
    uv_executable,
)
from pipeline.publishing.snapshot import PublishSettings, publish_snapshot
from pipeline.settings import DUCKDB_STORAGE_VERSION, REPO_ROOT, Settings, validate_settings
from pipeline.warehouse.change_log import record_change
from pipeline.warehouse.tables import create_table, insert_rows
from tests.conftest import PipelineEnv, make_pipeline_env, run_pipeline
from tests.postgres_server import start_postgres

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lake")]

NEVER_COMPACT = PublishSettings(full_rebuild_rows=10**12, compact_every=10**6, max_free_fraction=1.0)
_names = count()


def _bi_host_python() -> list[str]:
    """``python -c`` in a BI host's own environment: the lake's pinned DuckDB with duckdb-engine, as Superset's
    [duckdb] extra has it."""
    return [
        uv_executable(),
        "run",
        "--quiet",
        "--no-project",
        "--python",
        sys.executable,
        "--with-requirements",
        str(REQUIREMENTS),
        "--with",
        "duckdb-engine==0.17.0",
        "--with",
        "sqlalchemy>=2.0,<2.1",
        "python",
        "-c",
    ]


@pytest.fixture(scope="module")
def postgres():
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def lake(postgres, tmp_path) -> LakeSettings:
    """A new lake: its own Postgres database and data folder; extensions shared by the module's tests."""
    name = f"lake_{next(_names)}_{int(time.time() * 1000) % 10**8}"
    return LakeSettings(
        postgres.create_database(name),
        str(tmp_path / "lake_data") + "/",
        30,
        REPO_ROOT / "warehouse" / "duckdb_extensions",
    )


@pytest.fixture(scope="module")
def built_once(tmp_path_factory) -> PipelineEnv:
    env = make_pipeline_env(tmp_path_factory.mktemp("lake_built_once"))
    assert run_pipeline(env).success
    return env


@pytest.fixture
def built(built_once, tmp_path) -> PipelineEnv:
    shutil.copytree(built_once.root, tmp_path / "env")
    root = tmp_path / "env"
    return PipelineEnv(
        root,
        root / built_once.documents_dir.relative_to(built_once.root),
        root / built_once.utilization_dir.relative_to(built_once.root),
        root / built_once.warehouse_path.relative_to(built_once.root),
        root / built_once.serving_path.relative_to(built_once.root),
    )


def lake_query(settings: LakeSettings, sql: str) -> list[tuple]:
    """Read the lake in the pinned DuckDB 1.5.5 environment (the project's DuckDB cannot load the extension)."""
    script = textwrap.dedent(
        """
        import json, sys, duckdb
        p = json.loads(sys.argv[1])
        con = duckdb.connect(config={"extension_directory": p["ext"], "autoinstall_known_extensions": False})
        con.execute("ATTACH '" + "ducklake:" + p["catalog"] + "' AS lake (READ_ONLY)")
        print(json.dumps(con.execute(p["sql"]).fetchall(), default=str))
        """
    )
    params = json.dumps({"ext": str(settings.extension_dir), "catalog": settings.catalog, "sql": sql})
    done = subprocess.run(
        [str(pinned_python(settings.extension_dir)), "-c", script, params],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [tuple(row) for row in json.loads(done.stdout)]


def serving_tables(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name <> 'internal'"
        ).fetchall()
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in names}
    finally:
        con.close()


def serving_comments(path: Path) -> set[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name, '', comment FROM duckdb_tables() WHERE schema_name <> 'internal'"
        ).fetchall()
        columns = con.execute(
            "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name <> 'internal' AND NOT internal"
        ).fetchall()
        return set(tables) | set(columns)
    finally:
        con.close()


def lake_comments(lake: LakeSettings) -> set[tuple]:
    return set(
        lake_query(
            lake,
            "SELECT schema_name, table_name, '', comment FROM duckdb_tables() WHERE database_name = 'lake' UNION ALL "
            "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() WHERE database_name = 'lake'",
        )
    )


def change_one_document(env: PipelineEnv) -> None:
    """What a one-document edit does to the working file (one table's rows and its change-log version), then the
    file publish that follows it."""
    con = duckdb.connect(str(env.warehouse_path))
    try:
        con.execute("BEGIN")
        con.execute(
            "UPDATE core.documents SET problems = 'edited' WHERE document_id = (SELECT min(document_id) FROM core.documents)"
        )
        record_change(con, "core.documents")
        con.execute("COMMIT")
        publish_snapshot(con, env.serving_path, settings=NEVER_COMPACT)
    finally:
        con.close()


def cpt_snapshots(lake: LakeSettings) -> list[tuple]:
    return lake_query(
        lake, "SELECT snapshot_id, changes FROM ducklake_snapshots('lake') WHERE author = 'cpt-warehouse' ORDER BY 1"
    )


# --- the publish ---------------------------------------------------------------------------------------------


def test_the_first_publish_holds_every_served_table_with_its_rows_and_comments(built, lake):
    result = publish_to_lake(built.serving_path, lake)
    served = serving_tables(built.serving_path)
    assert sorted(result.tables_written) == sorted(served)
    in_lake = lake_query(
        lake,
        "SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables() WHERE database_name = 'lake'",
    )
    assert sorted(t for t, _ in in_lake) == sorted(served)
    counts = lake_query(lake, " UNION ALL ".join(f"SELECT '{t}', count(*) FROM lake.{t}" for t in served))
    assert dict(counts) == served
    assert lake_comments(lake) == serving_comments(built.serving_path)
    assert len(cpt_snapshots(lake)) == 1
    # Same rows, value for value, in one of the marts BI tools read.
    digest = "SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM {} t"
    con = duckdb.connect(str(built.serving_path), read_only=True)
    expected = con.execute(digest.format("marts.code_utilization")).fetchone()[0]
    con.close()
    assert lake_query(lake, digest.format("lake.marts.code_utilization")) == [(expected,)]


def test_a_change_commits_one_snapshot_with_exactly_the_changed_tables(built, lake):
    first = publish_to_lake(built.serving_path, lake)
    before = dict(lake_query(lake, "SELECT problems IS NULL, count(*) FROM lake.core.documents GROUP BY 1"))
    change_one_document(built)
    second = publish_to_lake(built.serving_path, lake)
    assert second.tables_written == ["core.documents"]
    assert second.snapshot_id > first.snapshot_id
    snapshots = cpt_snapshots(lake)
    assert len(snapshots) == 2
    # DuckLake's own record of the snapshot names one table id, the documents table's.
    ((table_id,),) = lake_query(
        lake,
        "SELECT DISTINCT table_id FROM ducklake_table_info('lake') WHERE table_name = 'documents'",
    )
    changed_ids = {i for ids in snapshots[-1][1].values() for i in ids}
    assert changed_ids == {str(table_id)}, snapshots[-1][1]
    assert lake_query(lake, "SELECT count(*) FROM lake.core.documents WHERE problems = 'edited'") == [(1,)]
    # Time travel: the previous snapshot still has the documents as they were.
    as_before = lake_query(
        lake,
        f"SELECT problems IS NULL, count(*) FROM lake.core.documents AT (VERSION => {first.snapshot_id}) GROUP BY 1",
    )
    assert dict(as_before) == before
    # Nothing changed since: no new snapshot.
    third = publish_to_lake(built.serving_path, lake)
    assert third.tables_written == [] and third.snapshot_id == second.snapshot_id
    assert len(cpt_snapshots(lake)) == 2


def test_a_failed_publish_commits_nothing(built, lake, postgres):
    publish_to_lake(built.serving_path, lake)
    change_one_document(built)
    with pytest.raises(LakePublishFailed, match="untouched"):
        publish_to_lake(built.serving_path, lake, fail_before_commit=True)
    assert len(cpt_snapshots(lake)) == 1
    assert lake_query(lake, "SELECT count(*) FROM lake.core.documents WHERE problems = 'edited'") == [(0,)]
    # A catalog that does not answer: the publish fails with the reason, nothing is written anywhere.
    unreachable = LakeSettings(
        lake.catalog.replace(f"port={postgres.port}", "port=1"), lake.data_path, 30, lake.extension_dir
    )
    with pytest.raises(LakePublishFailed, match="lake publish"):
        publish_to_lake(built.serving_path, unreachable)
    # The next publish that works brings the lake up to date in one snapshot.
    assert publish_to_lake(built.serving_path, lake).tables_written == ["core.documents"]


def test_retention_expires_old_snapshots_and_deletes_their_files(tmp_path, lake, postgres):
    serving = tmp_path / "serving.duckdb"
    make_serving_file(serving, {"marts.big": 5000}, version=1)
    first = publish_to_lake(serving, lake)
    make_serving_file(serving, {"marts.big": 6000}, version=2)
    publish_to_lake(serving, lake)
    files_before = set(Path(lake.data_path).rglob("*.parquet"))
    database = lake.catalog.split("dbname=")[1].split()[0]
    # Age every snapshot by 40 days in the catalog (nobody waits a month in a test); retention is 30 days.
    postgres.sql(database, "UPDATE ducklake_snapshot SET snapshot_time = snapshot_time - interval '40 days'")
    make_serving_file(serving, {"marts.big": 7000}, version=3)
    result = publish_to_lake(serving, lake)
    assert result.expired_snapshots >= 2
    remaining = [s for (s,) in lake_query(lake, "SELECT snapshot_id FROM ducklake_snapshots('lake')")]
    assert first.snapshot_id not in remaining and result.snapshot_id in remaining
    # The files only the expired snapshots used are gone; the current data is whole.
    assert result.files_removed >= 1
    assert not all(f.exists() for f in files_before)
    assert lake_query(lake, "SELECT count(*), max(v) FROM lake.marts.big") == [(7000, 3)]
    # With retention 0 nothing is expired.
    postgres.sql(database, "UPDATE ducklake_snapshot SET snapshot_time = snapshot_time - interval '40 days'")
    make_serving_file(serving, {"marts.big": 8000}, version=4)
    keep = LakeSettings(lake.catalog, lake.data_path, 0, lake.extension_dir)
    assert publish_to_lake(serving, keep).expired_snapshots == 0


def test_the_lake_follows_whatever_tables_the_serving_file_publishes(tmp_path, lake):
    """Generic over schemas and tables: a schema the lake has never seen (as a new ``medicare`` schema would be)
    is created; a table the serving file no longer has is dropped."""
    serving = tmp_path / "serving.duckdb"
    make_serving_file(serving, {"medicare.providers": 5, "marts.summary": 3}, version=1)
    assert sorted(publish_to_lake(serving, lake).tables_written) == ["marts.summary", "medicare.providers"]
    make_serving_file(serving, {"medicare.providers": 7}, version=2)
    result = publish_to_lake(serving, lake)
    assert result.tables_written == ["medicare.providers"] and result.tables_dropped == ["marts.summary"]
    assert lake_query(lake, "SELECT count(*) FROM lake.medicare.providers") == [(7,)]
    assert lake_query(lake, "SELECT comment FROM duckdb_tables() WHERE table_name = 'providers'") == [
        ("synthetic table medicare.providers",)
    ]


def make_serving_file(
    path: Path, tables: dict[str, int], *, version: int, column: str = "n", recorded: dict[str, int] | None = None
) -> None:
    """A serving file as the file publish writes it (tables, comments, internal.snapshot_tables), by hand."""
    path.unlink(missing_ok=True)
    temp = path.with_name(path.name + ".new")
    temp.unlink(missing_ok=True)
    con = duckdb.connect()
    con.execute(f"ATTACH '{temp}' AS f (STORAGE_VERSION '{DUCKDB_STORAGE_VERSION}')")
    con.execute("USE f")
    for table, rows in tables.items():
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT range AS {column}, {version} AS v FROM range({rows})")
        con.execute(f"COMMENT ON TABLE {table} IS 'synthetic table {table}'")
        con.execute(f"COMMENT ON COLUMN {table}.{column} IS 'row number'")
    con.execute("CREATE SCHEMA internal")
    create_table(con, SNAPSHOT_TABLES_CONTRACT)
    insert_rows(
        con,
        SNAPSHOT_TABLES_CONTRACT,
        [
            {"table_name": t, "version": version, "contract_digest": "d", "rows": (recorded or {}).get(t, n)}
            for t, n in tables.items()
        ],
    )
    con.execute("USE memory")
    con.execute("DETACH f")
    con.close()
    temp.replace(path)  # atomically, as the file publish replaces the serving file


def test_a_table_whose_rows_do_not_match_the_serving_record_is_not_published(tmp_path, lake):
    serving = tmp_path / "serving.duckdb"
    make_serving_file(serving, {"marts.a": 3, "marts.b": 4}, version=1)
    publish_to_lake(serving, lake)
    make_serving_file(serving, {"marts.a": 5, "marts.b": 6}, version=2, recorded={"marts.b": 7})
    with pytest.raises(LakePublishFailed, match="marts.b would hold 6 rows, the serving file 7"):
        publish_to_lake(serving, lake)
    assert lake_query(lake, "SELECT (SELECT count(*) FROM lake.marts.a), (SELECT count(*) FROM lake.marts.b)") == [
        (3, 4)
    ]
    assert len(cpt_snapshots(lake)) == 1


def test_a_serving_file_in_a_newer_storage_format_is_named_and_the_lake_untouched(tmp_path, lake):
    serving = tmp_path / "serving.duckdb"
    make_serving_file(serving, {"marts.summary": 3}, version=1)
    publish_to_lake(serving, lake)
    newer = tmp_path / "newer.duckdb"
    con = duckdb.connect(str(newer), config={"storage_compatibility_version": "latest"})
    con.execute(f"ATTACH '{serving}' AS old (READ_ONLY)")
    con.execute("COPY FROM DATABASE old TO newer")
    con.close()
    with pytest.raises(LakePublishFailed, match=r"storage format DuckDB 1\.5\.5 .* cannot read.*cpt-warehouse build"):
        publish_to_lake(newer, lake)
    assert len(cpt_snapshots(lake)) == 1


def test_an_extension_binary_changed_after_its_check_is_replaced_and_checked_again(tmp_path, lake):
    """The publisher skips DuckDB's signature check only for the very file it checked; a binary rewritten since
    (here: bytes overwritten in place, same size) is copied from its wheel again and checked again."""
    own = LakeSettings(lake.catalog, lake.data_path, 30, tmp_path / "extensions")
    serving = tmp_path / "serving.duckdb"
    make_serving_file(serving, {"marts.summary": 3}, version=1)
    publish_to_lake(serving, own)
    (binary,) = (own.extension_dir).glob("v*/*/ducklake.duckdb_extension")
    original = binary.read_bytes()
    with open(binary, "r+b") as handle:
        handle.seek(len(original) // 2)
        handle.write(b"\0" * 4096)
    make_serving_file(serving, {"marts.summary": 4}, version=2)
    assert publish_to_lake(serving, own).tables_written == ["marts.summary"]
    assert binary.read_bytes() == original


# --- users: history, the asset, settings --------------------------------------------------------------------


def test_lake_history_lists_each_publish_with_its_tables_and_rows(built, lake):
    publish_to_lake(built.serving_path, lake)
    change_one_document(built)
    publish_to_lake(built.serving_path, lake)
    env = {
        **os.environ,
        **built.env_vars,
        "CPT_LAKE_CATALOG": lake.catalog,
        "CPT_LAKE_DATA_PATH": lake.data_path,
        "CPT_LAKE_EXTENSION_DIR": str(lake.extension_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.defs.cli", "lake", "history"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    publishes = [line for line in lines if "table(s) written" in line]
    assert len(publishes) == 2
    assert publishes[-1].endswith("1 table(s) written: core.documents")
    documents_rows = serving_tables(built.serving_path)["core.documents"]
    assert any(line.split() == ["core.documents", f"{documents_rows:,}", "rows"] for line in lines)
    # The same from the function the command prints.
    assert format_history(lake_history(lake)) == done.stdout.rstrip("\n")


def test_the_lake_asset_publishes_after_the_serving_file_with_metadata(tmp_path, lake):
    import dagster as dg

    from pipeline.definitions import ASSETS, CHECKS
    from pipeline.defs.assets.lake import LAKE_KEY

    env = make_pipeline_env(tmp_path / "env")
    resources = {
        **env.resources,
        "lake": LakeResource(
            catalog=lake.catalog,
            data_path=lake.data_path,
            retention_days=30,
            extension_dir=str(lake.extension_dir),
        ),
    }

    def lake_materialization(result) -> dg.AssetMaterialization:
        assert result.success
        (materialization,) = [
            event.event_specific_data.materialization
            for event in result.get_asset_materialization_events()
            if event.asset_key == LAKE_KEY
        ]
        return materialization

    materialization = lake_materialization(dg.materialize([*ASSETS, *CHECKS], resources=resources))
    metadata = materialization.metadata
    assert metadata["snapshot_id"].value >= 1
    assert sorted(metadata["tables_written"].value) == sorted(serving_tables(env.serving_path))
    assert metadata["seconds"].value > 0
    # The data version is the lake snapshot: a publish that writes nothing leaves it as it was.
    version = materialization.tags["dagster/data_version"]
    assert version == str(metadata["snapshot_id"].value)
    again = lake_materialization(dg.materialize([*ASSETS, *CHECKS], resources=resources, selection="group:serving"))
    assert again.metadata["tables_written"].value == []
    assert again.tags["dagster/data_version"] == version
    from pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["serving", "cpt_analytics"]) in graph.get(LAKE_KEY).parent_keys


# --- a BI reader in another process ---------------------------------------------------------------------------

READER = textwrap.dedent(
    """
    import json, sys, time
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    uri, expected, seconds = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    exec(sys.stdin.read())  # the superset_config.py lines of docs/lake.md, as Superset would run them

    engine = sa.create_engine(uri)
    seen, reads, partial, writes_refused, host_file_refused = set(), 0, [], False, False
    query = "SELECT (SELECT max(v) FROM marts.left_half), (SELECT max(v) FROM marts.right_half), " \\
            "(SELECT count(*) FROM marts.left_half), (SELECT count(*) FROM marts.right_half)"
    with engine.connect() as c:
        try:
            c.execute(sa.text("CREATE TABLE marts.x AS SELECT 1"))
        except Exception:
            writes_refused = True
        try:
            c.execute(sa.text("SELECT count(*) FROM read_csv('/etc/passwd')")).fetchall()
        except Exception:
            host_file_refused = True
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as c:
            left, right, n_left, n_right = c.execute(sa.text(query)).one()
        reads += 1
        if left != right or [n_left, n_right] != expected[str(left)]:
            partial.append([left, right, n_left, n_right])
        seen.add(left)
    print(json.dumps({"reads": reads, "seen": sorted(seen), "partial": partial[:5],
                      "writes_refused": writes_refused, "host_file_refused": host_file_refused}), flush=True)
    """
)


def superset_config_lines() -> str:
    """The Python block of docs/lake.md that a Superset host puts in superset_config.py."""
    text = (REPO_ROOT / "docs" / "lake.md").read_text()
    block = text.split("```python\n# superset_config.py", 1)[1].split("```", 1)[0]
    return "# superset_config.py" + block


def test_a_bi_reader_never_sees_a_partial_snapshot_while_publishes_commit(tmp_path, lake):
    """Two tables that every publish changes together (the same version in both, different sizes per version):
    a reader in another process, connected through duckdb-engine with the read-only URI and the settings
    docs/lake.md gives Superset, reads both in one query while publishes commit; every answer is one snapshot."""
    sizes = {1: (30_000, 20_000), 2: (15_000, 35_000)}
    serving = tmp_path / "serving.duckdb"
    make_serving_file(serving, {"marts.left_half": sizes[1][0], "marts.right_half": sizes[1][1]}, version=1)
    publish_to_lake(serving, lake)
    expected = {str(v): list(n) for v, n in sizes.items()}
    # The BI host's own environment: the lake's pinned DuckDB with duckdb-engine, as Superset's [duckdb] extra has.
    reader = subprocess.Popen(
        [
            *_bi_host_python(),
            READER,
            read_only_uri(lake),
            json.dumps(expected),
            "14",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CPT_LAKE_DATA_PATH": lake.data_path},
    )
    reader.stdin.write(superset_config_lines())
    reader.stdin.close()
    try:
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
        publishes = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            version = 2 if publishes % 2 == 0 else 1
            left, right = sizes[version]
            make_serving_file(serving, {"marts.left_half": left, "marts.right_half": right}, version=version)
            result = publish_to_lake(serving, lake)
            assert sorted(result.tables_written) == ["marts.left_half", "marts.right_half"]
            publishes += 1
        out, err = reader.stdout.read(), reader.stderr.read()
        reader.wait(timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert reader.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert publishes >= 3
    assert report["partial"] == [], report
    assert report["seen"] == [1, 2], report  # the reader did see publishes land
    assert report["reads"] >= publishes
    assert report["writes_refused"] and report["host_file_refused"], report


# --- data on S3-compatible storage ----------------------------------------------------------------------------


S3_KEYS = {  # user -> what its policy allows: the publisher writes (and deletes, for retention), the reader reads
    "cpt-publisher": ["s3:*"],
    "cpt-reader": ["s3:GetObject", "s3:ListBucket"],
}


@dataclass
class S3Server:
    port: int
    keys: dict[str, tuple[str, str]]  # user -> (key id, secret)

    def client(self, user: str = "cpt-publisher"):
        key_id, secret = self.keys[user]
        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )


@pytest.fixture(scope="module")
def s3_server():
    """A real S3-compatible server (moto's ``moto_server``, from the dev dependencies) on a free local port, in its
    own process, checking credentials: its first requests (creating the two users, their keys and policies) are
    the only unauthenticated ones; every later request needs a valid key whose policy allows it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(3 * len(S3_KEYS))},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not listen on port {port}") from None
                time.sleep(0.1)
        iam = boto3.client(
            "iam",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name="us-east-1",
        )
        keys = {}
        for user, actions in S3_KEYS.items():
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
            iam.put_user_policy(UserName=user, PolicyName="lake", PolicyDocument=json.dumps(policy))
    except Exception as exc:  # a test that cannot reach its S3 server fails with the reason, never skips
        server.kill()
        stderr = server.communicate(timeout=30)[1].strip()[-2000:]
        pytest.fail(f"the S3-compatible test server (moto_server) could not start: {exc}\n{stderr}")
    yield S3Server(port, keys)
    server.terminate()
    server.wait(timeout=30)


def test_a_lake_with_data_on_s3_is_published_and_read_back_by_a_bi_reader(built, postgres, s3_server):
    """CPT_LAKE_DATA_PATH=s3://bucket/prefix/ with the CPT_LAKE_S3_* settings: the publisher writes the tables as
    Parquet objects into the bucket, and a BI reader in another process (duckdb-engine with the docs/lake.md
    superset_config.py block and the same settings) reads every table back."""
    client = s3_server.client()
    bucket = f"cpt-lake-{next(_names)}"
    client.create_bucket(Bucket=bucket)
    key_id, secret = s3_server.keys["cpt-publisher"]
    environ = {
        "CPT_LAKE_CATALOG": postgres.create_database(f"lake_s3_{next(_names)}_{int(time.time() * 1000) % 10**8}"),
        "CPT_LAKE_DATA_PATH": f"s3://{bucket}/cpt/",
        "CPT_LAKE_EXTENSION_DIR": str(REPO_ROOT / "warehouse" / "duckdb_extensions"),
        "CPT_LAKE_S3_ENDPOINT": f"127.0.0.1:{s3_server.port}",
        "CPT_LAKE_S3_URL_STYLE": "path",
        "CPT_LAKE_S3_USE_SSL": "false",
        "CPT_LAKE_S3_REGION": "us-east-1",
        "CPT_LAKE_S3_KEY_ID": key_id,
        "CPT_LAKE_S3_SECRET": secret,
    }
    assert validate_settings({**built.env_vars, **environ}, check_reference=False) == []
    lake = LakeResource.from_settings(Settings.from_env(environ), env_vars=False).settings
    result = publish_to_lake(built.serving_path, lake)
    served = serving_tables(built.serving_path)
    assert sorted(result.tables_written) == sorted(served)
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="cpt/").get("Contents", [])]
    assert any(key.endswith(".parquet") for key in objects), objects
    largest = max(served, key=served.get)  # small tables may be inlined in the catalog; the largest is not
    assert any(key.startswith(f"cpt/{largest.replace('.', '/')}/") for key in objects), (largest, objects)

    with pytest.raises(Exception, match="AccessDenied"):  # the server does check the policies
        s3_server.client("cpt-reader").put_object(Bucket=bucket, Key="cpt/intruder.txt", Body=b"x")
    # The BI host has its own read-only key, under the same variable names.
    reader_id, reader_secret = s3_server.keys["cpt-reader"]
    reader_environ = {**environ, "CPT_LAKE_S3_KEY_ID": reader_id, "CPT_LAKE_S3_SECRET": reader_secret}
    reader = subprocess.run(
        [
            *_bi_host_python(),
            S3_READER,
            read_only_uri(lake),
            json.dumps(sorted(served)),
        ],
        input=superset_config_lines(),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **reader_environ},
        check=False,
    )
    assert reader.returncode == 0, reader.stderr
    report = json.loads(reader.stdout.strip().splitlines()[-1])
    assert report["rows"] == served
    assert report["host_file_refused"], report
    assert [s["tables_written"] for s in lake_history(lake) if s["author"] == "cpt-warehouse"] == [
        sorted(result.tables_written)
    ]


S3_READER = textwrap.dedent(
    """
    import json, sys
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    uri, tables = sys.argv[1], json.loads(sys.argv[2])
    exec(sys.stdin.read())  # the superset_config.py lines of docs/lake.md, as Superset would run them
    engine = sa.create_engine(uri)
    with engine.connect() as c:
        # Every row fetched: a count(*) alone is answered from the catalog's file statistics, reading no object.
        rows = {t: len(c.execute(sa.text(f"SELECT * FROM {t}")).fetchall()) for t in tables}
        try:
            c.execute(sa.text("SELECT count(*) FROM read_csv('/etc/passwd')")).fetchall()
            host_file_refused = False
        except Exception:
            host_file_refused = True
    print(json.dumps({"rows": rows, "host_file_refused": host_file_refused}))
    """
)
