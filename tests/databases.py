"""Database servers for tests: the in-project libSQL server and a PostgreSQL of the test's own.

Each runs as a process of the test session on a free loopback port and hands out a fresh,
empty database per test (``new_database``), so tests never see each other's rows.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.services import free_port, poll, unavailable

#: The repository root, from which ``python -m tests.libsqlserver`` runs.
REPOSITORY = Path(__file__).resolve().parent.parent
#: Seconds a server may take to start answering.
START_TIMEOUT_S = 30
#: The unprivileged account PostgreSQL runs as when the tests run as root.
POSTGRES_ACCOUNT = "postgres"


def _fresh_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass
class LibsqlServer:
    """``tests.libsqlserver`` (Hrana over WebSocket on SQLite files) on a loopback port."""

    directory: Path
    port: int = field(default_factory=free_port)
    auth_token: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        token = [] if self.auth_token is None else ["--auth-token", self.auth_token]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.libsqlserver",
                "--dir",
                str(self.directory),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *token,
            ],
            cwd=REPOSITORY,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        poll(self._answers, timeout_s=START_TIMEOUT_S, what=f"libsqlserver on port {self.port}")

    def _answers(self) -> bool | None:
        import urllib.request  # noqa: PLC0415

        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"libsqlserver exited with status {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                return True
        except OSError:
            return None

    def new_database(self) -> str:
        """The ``TURSO_CONNECTION_URL`` of a new, empty database on this server."""
        return f"ws://127.0.0.1:{self.port}/{_fresh_name('db')}"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def postgres_binaries() -> Path | None:
    """The directory of Debian's PostgreSQL server programs (newest version), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of the test session's own, in a temporary directory.

    PostgreSQL refuses to run as root: as root, the cluster belongs to ``postgres`` and its
    programs run as that account.
    """

    binaries: Path
    port: int = field(default_factory=free_port)
    directory: Path | None = None
    user: str = "scanbox"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", POSTGRES_ACCOUNT, "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def start(self) -> None:
        # Not under pytest's tmp_path: its parents are private to root.
        self.directory = Path(tempfile.mkdtemp(prefix="scanbox-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, POSTGRES_ACCOUNT, POSTGRES_ACCOUNT)
        data = self.directory / "data"
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The ``TURSO_CONNECTION_URL`` of a new, empty database in this cluster."""
        name = _fresh_name("scanbox")
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.directory is None:
            return
        try:
            self._run(
                str(self.binaries / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            )
        except subprocess.CalledProcessError:
            pid_file = self.directory / "data" / "postmaster.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None


def start_postgres() -> PostgresServer:
    """A running PostgreSQL of the session's own, or ``unavailable`` (fails under CI)."""
    binaries = postgres_binaries()
    if binaries is None:
        unavailable("PostgreSQL (Debian's postgresql package; run scripts/setup.sh)")
    server = PostgresServer(binaries=binaries)
    try:
        server.start()
    except subprocess.CalledProcessError as error:
        server.stop()
        unavailable(f"PostgreSQL ({error.stderr.decode(errors='replace').strip()[:300]})")
    return server
