"""``scanbox api`` as a real server process on loopback for tests, and a small HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.services import free_port, poll
from worker.api.keys import new_key
from worker.clock import utcnow
from worker.store.apikeys import create_key
from worker.store.database import Database


@dataclass(frozen=True)
class Answer:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """Requests to one server on loopback, each on a connection of its own."""

    port: int
    key: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        token = key if key is not None else self.key
        if token is not None and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Answer(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=response.read(),
            )
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)


@dataclass
class ApiServer:
    """A ``scanbox api`` process; ``client()`` talks to it."""

    port: int
    process: subprocess.Popen[str]
    log: Path

    def client(self, key: str | None = None) -> Client:
        return Client(port=self.port, key=key)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _answers(port: int) -> bool | None:
    try:
        return True if Client(port=port).get("/healthz").status == 200 else None
    except OSError:
        return None


@contextmanager
def api_server(env: Mapping[str, str], logs: Path) -> Iterator[ApiServer]:
    """``scanbox api`` on a free loopback port, stopped (SIGTERM) however the test ends."""
    port = free_port()
    log = logs / f"api-{port}.log"
    output: IO[str] = open(log, "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def up() -> bool | None:
            if process.poll() is not None:
                raise AssertionError(f"scanbox api exited {process.returncode}: {log.read_text()}")
            return _answers(port)

        poll(up, timeout_s=30, what="scanbox api to answer /healthz")
        yield ApiServer(port=port, process=process, log=log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        output.close()


def make_key(database_url: str, *, scope: str, name: str = "test") -> tuple[str, str]:
    """A new API key of ``scope`` in the database: ``(key id, key)``."""
    made = new_key()
    db = Database(url=database_url)
    try:
        create_key(
            db, key_id=made.key_id, name=name, scope=scope, key_hash=made.key_hash, now=utcnow()
        )
    finally:
        db.dispose()
    return made.key_id, made.key
