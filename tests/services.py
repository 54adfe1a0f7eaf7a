"""Real services for integration tests: Redis processes, the Docker engine, worker processes.

When ``CI=true`` a missing service fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn, TypeVar

import pytest

from worker.egress.client import EgressClient
from worker.egress.config import CONTROL_SOCKET
from worker.egress.errors import EgressUnavailable

#: Whether this run is CI, where a missing service must fail the run, not skip tests.
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

T = TypeVar("T")


def unavailable(what: str) -> NoReturn:
    """Fail in CI, skip elsewhere: ``what`` is needed and missing."""
    message = f"{what} is not available"
    if CI:
        pytest.fail(f"{message} (CI=true: integration tests must run)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], T | None], *, timeout_s: float, what: str, every_s: float = 0.05) -> T:
    """Call ``check`` until it returns something other than ``None`` or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


@dataclass(frozen=True)
class RedisTls:
    """The files of a Redis server that speaks TLS: its certificate, its key, the CA's."""

    cert: Path
    key: Path
    ca: Path


@dataclass
class RedisServer:
    """A redis-server process of the test's own, on its own port (with a password or TLS)."""

    port: int
    process: subprocess.Popen[bytes] | None = None
    password: str | None = None
    tls: RedisTls | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server")
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            listen = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                str(self.tls.cert),
                "--tls-key-file",
                str(self.tls.key),
                "--tls-ca-cert-file",
                str(self.tls.ca),
                "--tls-auth-clients",
                "no",
            ]
        password = ["--requirepass", self.password] if self.password else []
        self.process = subprocess.Popen(
            [
                binary,
                *listen,
                *password,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        poll(self._answers, timeout_s=10, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool | None:
        if self.tls is not None or self.password:
            import redis  # noqa: PLC0415 (only these servers need a real client to answer)

            client = redis.Redis.from_url(self.url, socket_timeout=0.5)
            try:
                return True if client.ping() else None
            except redis.exceptions.RedisError:
                return None
            finally:
                client.close()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return True if sock.recv(16).startswith(b"+PONG") else None
        except OSError:
            return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class WorkerProcesses:
    """``scanbox worker`` (or another ``command``) processes started by a test, always stopped
    at the end."""

    env: Mapping[str, str]
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    logs: Path | None = None
    command: str = "worker"
    _files: list[IO[str]] = field(default_factory=list)

    def start(self, *args: str) -> subprocess.Popen[str]:
        log = None
        if self.logs is not None:
            log = open(self.logs / f"{self.command}-{len(self.processes)}.log", "w")  # noqa: SIM115
            self._files.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", self.command, *args],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=log or subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def run(self, *args: str, timeout_s: float = 120) -> int:
        """Start a worker and wait for it to exit (``--burst``); return its exit status."""
        process = self.start(*args)
        return process.wait(timeout=timeout_s)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for file in self._files:
            file.close()


@contextmanager
def worker_processes(
    env: Mapping[str, str], logs: Path, *, command: str = "worker"
) -> Iterator[WorkerProcesses]:
    """Worker (or ``command``) processes that are stopped however the test ends."""
    workers = WorkerProcesses(env=env, logs=logs, command=command)
    try:
        yield workers
    finally:
        workers.stop_all()


@contextmanager
def egress_proxy(env: Mapping[str, str], *, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``scanbox egress`` with ``env`` (its ``EGRESS_DIR``), answering, for the block."""
    client = EgressClient(control_socket=Path(env["EGRESS_DIR"]) / CONTROL_SOCKET)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", "egress"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:

            def answers() -> bool | None:
                if process.poll() is not None:
                    raise AssertionError(f"scanbox egress exited: {log.read_text()[-2000:]}")
                try:
                    client.ping()
                except EgressUnavailable:
                    return None
                return True

            poll(answers, timeout_s=30, what="scanbox egress answering")
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
