"""A real PostgreSQL server for the DuckLake tests: a throw-away cluster made with the installed ``initdb`` and
started with ``pg_ctl`` on a free local port. Never a mock: when no server can be started, the test fails and
says why (``.ci/run`` installs Debian's ``postgresql`` package when ``initdb`` is missing)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "cpt"


def server_binaries() -> Path | None:
    """The folder of initdb / pg_ctl / createdb: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    run_as: list[str]

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()[-800:]}")
        return done

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its DuckLake catalog string."""
        self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name)
        return self.catalog(name)

    def catalog(self, name: str) -> str:
        return f"postgres:dbname={name} host=127.0.0.1 port={self.port} user={SUPERUSER}"

    def sql(self, database: str, statement: str) -> str:
        psql = self.bin_dir / "psql"
        return self._run(
            str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-At", "-c", statement
        ).stdout


def start_postgres() -> PostgresServer:
    """Start a cluster or fail the calling test with the reason (never skip)."""
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.fail(
            "no PostgreSQL server installed (initdb not found on PATH or in /usr/lib/postgresql/*/bin): "
            "`apt-get install -y postgresql` (.ci/run does this on a fresh machine)"
        )
    # initdb refuses to run as root: the cluster then belongs to the package's `postgres` account.
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and there is no `postgres` account to own the test cluster")
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="cpt-lake-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(bin_dir, root, free_port(), run_as)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        log = server.root / "log"
        detail = log.read_text()[-800:] if log.exists() else ""
        server.stop()
        pytest.fail(f"PostgreSQL could not be started from {bin_dir}: {exc}\n{detail}")
    return server
