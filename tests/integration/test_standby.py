"""Standby containers on the real engine: a scan on a warm or cold one, limits and labels as
DockerRunner's, the deadline, a crash, and nothing left behind; then real workers using them."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from redis import Redis

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.services import poll, worker_processes
from tests.sites import serve, silent_listener
from worker.app.clients import dispatcher
from worker.app.containers import container_spec, fetcher_args
from worker.app.database import open_database
from worker.app.egress import proxy_sessions
from worker.containers.pooled import URL_STDIN, PooledRunner
from worker.containers.runner import DockerRunner, RunRequest
from worker.containers.spec import LABEL_DEPLOYMENT, LABEL_MANAGED, LABEL_STANDBY
from worker.containers.standby import StandbyPool
from worker.errors import ContainerCrashed, ContainerTimedOut
from worker.store import queries
from worker.submit.batch import new_job_id, submit_urls

PAGE = b"<!doctype html><title>standby</title><p>hello</p>"


def _standby(client: docker.DockerClient, scan_env: dict[str, str]) -> list[Container]:
    """The standby containers of the test's own deployment, running or not."""
    deployment = settings_from(scan_env).deployment
    labels = [LABEL_STANDBY, f"{LABEL_DEPLOYMENT}={deployment}"]
    return list(client.containers.list(all=True, filters={"label": labels}, ignore_removed=True))


def standby_containers(client: docker.DockerClient, scan_env: dict[str, str]) -> list[str]:
    return [c.name or "" for c in _standby(client, scan_env)]


@pytest.fixture
def runner_for(scan_env: dict[str, str], docker_client: docker.DockerClient) -> Iterator[object]:
    made: list[StandbyPool] = []

    def make(*, warm: bool, image: str | None = None, timeout_ms: int = 20_000) -> PooledRunner:
        env = scan_env | {"CONTAINER_TIMEOUT_MS": str(timeout_ms)}
        if image is not None:
            env["FETCHER_IMAGE"] = image
        settings = settings_from(env)
        spec = container_spec(settings)
        options = fetcher_args(settings).options()
        pool = StandbyPool(
            client=docker_client,
            spec=spec,
            command=[*options, URL_STDIN],
            worker_id="test-worker",
            host=socket.gethostname(),
            size=1,
            warm=warm,
            egress=proxy_sessions(settings),
        )
        made.append(pool)
        pool.open()
        return PooledRunner(
            client=docker_client,
            spec=spec,
            pool=pool,
            options=options,
            fallback=DockerRunner(client=docker_client, spec=spec, egress=proxy_sessions(settings)),
        )

    yield make
    for pool in made:
        pool.close()
    assert standby_containers(docker_client, scan_env) == []


@pytest.mark.parametrize("warm", [True, False])
def test_a_scan_on_a_standby_container(
    runner_for: object, scan_env: dict[str, str], docker_client: docker.DockerClient, warm: bool
) -> None:
    runner = runner_for(warm=warm)  # type: ignore[operator]
    settings = settings_from(scan_env)
    job_id = new_job_id()
    with serve() as site:
        site.page("/", PAGE)
        # The container is made with the same locked-down options as DockerRunner's.
        standby = runner.pool.take()
        attrs = docker_client.api.inspect_container(standby.container_id)
        runner.pool.discard(standby)
        host = attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Memory"] == host["MemorySwap"] == 128 * 1024 * 1024
        assert (host["CpuPeriod"], host["CpuQuota"]) == (500_000, 250_000)
        assert host["Init"] is True
        assert host["PidsLimit"] == 64
        assert attrs["Config"]["User"] == "65534:65534"
        assert attrs["Config"]["Labels"][LABEL_MANAGED] == "true"
        assert attrs["Config"]["Cmd"][-1] == URL_STDIN

        run = runner.run(
            RunRequest(
                job_id=job_id,
                attempt=1,
                worker_id="test-worker",
                url=site.url("/"),
                options=fetcher_args(settings).options(),
            )
        )
    report = json.loads(run.stdout)
    assert report["status_code"] == 200
    assert report["title"] == "standby"
    assert report["requested_url"] == site.url("/")
    assert site.hits == ["/"]


def test_the_deadline_kills_a_standby_container(
    runner_for: object, scan_env: dict[str, str]
) -> None:
    runner = runner_for(warm=True, timeout_ms=1500)  # type: ignore[operator]
    settings = settings_from(scan_env)
    with silent_listener() as port, pytest.raises(ContainerTimedOut):
        runner.run(
            RunRequest(
                job_id=new_job_id(),
                attempt=1,
                worker_id="test-worker",
                url=f"http://127.0.0.1:{port}/",
                options=fetcher_args(settings).options(),
            )
        )


def test_a_crash_is_reported_with_its_stderr(
    runner_for: object,
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    fetcher_image: str,
) -> None:
    program = (
        "import sys; sys.stdin.readline(); sys.stderr.write('standby exploded\\n'); sys.exit(3)"
    )
    tag = "scanbox-test-standby-crash:latest"
    content = f"FROM {fetcher_image}\nENTRYPOINT {json.dumps(['python3', '-c', program])}\n"
    docker_client.images.build(fileobj=io.BytesIO(content.encode()), tag=tag, rm=True)
    runner = runner_for(warm=True, image=tag)  # type: ignore[operator]
    settings = settings_from(scan_env)
    with pytest.raises(ContainerCrashed) as raised:
        runner.run(
            RunRequest(
                job_id=new_job_id(),
                attempt=1,
                worker_id="test-worker",
                url="http://127.0.0.1:9/",
                options=fetcher_args(settings).options(),
            )
        )
    assert raised.value.exit_code == 3
    assert "standby exploded" in raised.value.stderr_tail


def test_workers_scan_on_standby_containers_and_leave_none(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    env = scan_env | {"CONTAINER_RUNNER": "standby", "STANDBY_CONTAINERS": "2"}
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    with serve() as site:
        site.page("/", PAGE)
        job_ids = submit_urls([site.url("/")] * 3, db=db, dispatcher=dispatcher(settings, redis))
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    redis.close()
    for job_id in job_ids:
        job = queries.get_job(db, job_id)
        assert job.state == State.COMPLETED, job.error_message
        result = queries.get_result(db, job_id)
        assert result is not None
        assert result.title == "standby"
    assert len(site.hits) == 3
    assert standby_containers(docker_client, scan_env) == []


def test_a_killed_workers_standby_container_exits_and_is_reaped(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    env = scan_env | {"CONTAINER_RUNNER": "standby"}
    with worker_processes(env, tmp_path) as workers:
        worker = workers.start("--concurrency", "1")
        poll(
            lambda: True if _statuses(docker_client, scan_env) == ["running"] else None,
            timeout_s=60,
            what="a warm standby container",
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        # Its attach closed: the fetcher read end-of-file instead of a URL and exited.
        poll(
            lambda: True if _statuses(docker_client, scan_env) == ["exited"] else None,
            timeout_s=30,
            what="the orphaned standby container to exit",
        )
        # The next worker of the deployment reaps it when it starts.
        assert workers.run("--burst", "--concurrency", "1") == 0
    assert standby_containers(docker_client, scan_env) == []


def _statuses(client: docker.DockerClient, scan_env: dict[str, str]) -> list[str]:
    return [c.status for c in _standby(client, scan_env)]
