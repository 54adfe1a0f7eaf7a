"""Redis with a password, and over TLS: workers and producers use it; a wrong password is one
clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import trustme

from statemachine.states import State
from tests.services import RedisServer, RedisTls, free_port, worker_processes
from tests.sites import serve
from worker.app.database import open_database
from worker.settings import Settings
from worker.store import queries

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def tls_files(tmp_path: Path) -> RedisTls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = RedisTls(
        cert=tmp_path / "redis.crt", key=tmp_path / "redis.key", ca=tmp_path / "ca.pem"
    )
    cert.cert_chain_pems[0].write_to_path(str(files.cert))
    cert.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    return files


@pytest.fixture(params=["password", "tls"])
def secured_redis(request: pytest.FixtureRequest, tls_files: RedisTls) -> Iterator[RedisServer]:
    tls = tls_files if request.param == "tls" else None
    server = RedisServer(port=free_port(), password=PASSWORD, tls=tls)
    server.start()
    yield server
    server.stop()


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("scanbox: error: ")]


def _scanbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_scan_runs_through_a_redis_that_wants_a_password(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    secured_redis: RedisServer,
    tmp_path: Path,
) -> None:
    env = scan_env | {"REDIS_URL": secured_redis.url}
    with serve() as site:
        site.page("/", b"<title>behind a password</title>")
        submitted = _scanbox(env, "submit", site.url("/"))
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip()
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    db = open_database(Settings(_env_file=None, turso_connection_url=env["TURSO_CONNECTION_URL"]))
    assert queries.get_job(db, job_id).state == State.COMPLETED


@pytest.mark.parametrize("given", ["a-wrong-password", None])
def test_a_worker_with_a_wrong_or_no_password_stops_at_once_with_one_line(
    scan_env: dict[str, str], secured_redis: RedisServer, given: str | None
) -> None:
    url = secured_redis.url.replace(f":{PASSWORD}@", f":{given}@" if given else "")
    worker = _scanbox(scan_env | {"REDIS_URL": url}, "worker", "--concurrency", "1")
    assert worker.returncode == 2
    [line] = _errors(worker.stderr)
    assert line.startswith("scanbox: error: Redis ")
    assert "REDIS_URL" in line
    assert PASSWORD not in line
    assert given is None or given not in line


def test_a_worker_stops_at_once_when_redis_is_not_there(scan_env: dict[str, str]) -> None:
    gone = f"redis://127.0.0.1:{free_port()}/0"
    worker = _scanbox(scan_env | {"REDIS_URL": gone}, "worker", "--concurrency", "1")
    assert worker.returncode == 1
    warning, error = worker.stderr.splitlines()
    assert error.startswith("scanbox: error: cannot reach Redis")
    # The tests' fetchers run without gVisor (and may reach loopback): said once, as a log
    # line like every other.
    said = json.loads(warning)
    assert (said["event"], said["level"]) == ("sandbox_weakened", "warning")
    assert any("no runtime isolation" in part for part in said["weakened_by"])
