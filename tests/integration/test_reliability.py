"""Nothing lost, nothing run twice: workers killed, Redis and Docker restarted, signals sent.

Each scenario reports jobs submitted, jobs terminal, duplicates, containers left and the
recovery time through the ``figures`` fixture (printed at the end of the run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import docker
import pytest
from redis import Redis
from sqlmodel import select

from statemachine.states import TERMINAL, State
from tests.integration.conftest import scanbox_containers, settings_from
from tests.services import RedisServer, free_port, poll, worker_processes
from tests.sites import serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.containers.spec import LABEL_DEPLOYMENT, LABEL_JOB, LABEL_MANAGED
from worker.store import queries
from worker.store.database import Database
from worker.store.models import ScanJob, ScanResult
from worker.submit.batch import submit_urls

PAGE = b"<html><head><title>reliable</title></head><body>ok</body></html>"

#: Settings that make recovery quick enough to test: short leases, frequent housekeeping, and
#: no per-host rate limit (every page here is on 127.0.0.1).
FAST_RECOVERY = {
    "LEASE_TTL_MS": "1500",
    "HOUSEKEEPING_INTERVAL_MS": "300",
    "RECONCILE_AFTER_MS": "500",
    "RETRY_BACKOFF_MS": "200",
    "RETRY_BACKOFF_MAX_MS": "1000",
    "HOST_RATE_LIMIT": "0",
}


def _submit(env: dict[str, str], urls: list[str]) -> tuple[Database, list[str]]:
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    try:
        ids = submit_urls(urls, db=db, dispatcher=dispatcher(settings, redis))
    finally:
        redis.close()
    return db, ids


def _jobs(db: Database, job_ids: list[str]) -> dict[str, ScanJob]:
    with db.read() as session:
        return {job.id: job for job in session.exec(select(ScanJob)) if job.id in set(job_ids)}


def _all_terminal(db: Database, job_ids: list[str]) -> dict[str, ScanJob] | None:
    jobs = _jobs(db, job_ids)
    done = len(jobs) == len(job_ids) and all(State(j.state) in TERMINAL for j in jobs.values())
    return jobs if done else None


def _state_is(db: Database, job_id: str, state: State) -> ScanJob | None:
    job = queries.get_job(db, job_id)
    return job if job.state == state else None


def _claims(db: Database, job_id: str) -> list[int]:
    return [
        int((row.detail or {}).get("attempt", 0))
        for row in queries.get_audit(db, job_id)
        if (row.from_state, row.to_state) == ("QUEUED", "FETCHING")
    ]


def _result_counts(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(result.job_id for result in session.exec(select(ScanResult)))


def _no_containers(client: docker.DockerClient, job_ids: list[str]) -> bool | None:
    return True if scanbox_containers(client, job_ids) == [] else None


def _running_container(client: docker.DockerClient, job_id: str) -> bool | None:
    containers = client.containers.list(
        filters={"label": f"{LABEL_JOB}={job_id}"}, ignore_removed=True
    )
    return True if containers else None


@pytest.fixture
def recovery_env(scan_env: dict[str, str]) -> dict[str, str]:
    return scan_env | FAST_RECOVERY


def test_a_job_of_a_killed_worker_completes_on_another(
    recovery_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    figures: list[dict[str, Any]],
) -> None:
    release = threading.Event()
    with serve() as site:
        site.held_page("/", PAGE, release=release)
        db, [job_id] = _submit(recovery_env, [site.url("/")])
        with worker_processes(recovery_env, tmp_path) as workers:
            first = workers.start("--concurrency", "1")
            poll(lambda: _state_is(db, job_id, State.FETCHING), timeout_s=30, what="a claim")
            poll(
                lambda: _running_container(docker_client, job_id),
                timeout_s=30,
                what="the fetcher container",
            )
            first.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            first.wait(timeout=10)
            release.set()
            workers.start("--concurrency", "1")
            poll(
                lambda: _state_is(db, job_id, State.COMPLETED),
                timeout_s=60,
                what="the job to complete on the second worker",
            )
            recovered = time.monotonic() - killed
            poll(
                lambda: _no_containers(docker_client, [job_id]),
                timeout_s=30,
                what="the orphan container to be reaped",
            )
    job = queries.get_job(db, job_id)
    assert job.attempts == 2
    assert _claims(db, job_id) == [1, 2]
    trail = [(row.from_state, row.to_state, row.actor) for row in queries.get_audit(db, job_id)]
    assert ("FETCHING", "QUEUED", "reaper") in trail
    assert _result_counts(db) == Counter({job_id: 1})
    figures.append(
        {
            "submitted": 1,
            "terminal": 1,
            "duplicates": 0,
            "containers_left": 0,
            "recovery_s": round(recovered, 2),
        }
    )


def test_a_worker_killed_between_container_exit_and_result_gives_one_result(
    recovery_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    figures: list[dict[str, Any]],
) -> None:
    release = threading.Event()
    database_file = recovery_env["TURSO_CONNECTION_URL"].removeprefix("file:")
    with serve() as site:
        site.held_page("/", PAGE, release=release)
        db, [job_id] = _submit(recovery_env, [site.url("/")])
        with worker_processes(recovery_env, tmp_path) as workers:
            first = workers.start("--concurrency", "1")
            poll(
                lambda: _running_container(docker_client, job_id),
                timeout_s=30,
                what="the fetcher container",
            )
            # Hold the database's write lock: the worker can't record what the container saw.
            lock = sqlite3.connect(database_file, timeout=30, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                release.set()
                poll(
                    lambda: None if _running_container(docker_client, job_id) else True,
                    timeout_s=30,
                    what="the container to exit",
                )
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            killed = time.monotonic()
            assert queries.get_job(db, job_id).state == State.FETCHING
            workers.start("--concurrency", "1")
            poll(
                lambda: _state_is(db, job_id, State.COMPLETED),
                timeout_s=60,
                what="the job to complete",
            )
            recovered = time.monotonic() - killed
            poll(
                lambda: _no_containers(docker_client, [job_id]),
                timeout_s=30,
                what="the exited container to be reaped",
            )
    assert _result_counts(db) == Counter({job_id: 1})
    assert [
        to for _, to in [(r.from_state, r.to_state) for r in queries.get_audit(db, job_id)]
    ].count("COMPLETED") == 1
    figures.append(
        {
            "submitted": 1,
            "terminal": 1,
            "duplicates": 0,
            "containers_left": 0,
            "recovery_s": round(recovered, 2),
        }
    )


@pytest.fixture
def own_redis() -> Any:
    server = RedisServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(600)
def test_redis_restarted_and_flushed_during_a_run_loses_nothing(
    recovery_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    own_redis: RedisServer,
    figures: list[dict[str, Any]],
) -> None:
    env = recovery_env | {"REDIS_URL": own_redis.url}
    total = 30
    with serve() as site:
        site.page("/", PAGE)
        db, job_ids = _submit(env, [site.url(f"/?n={n}") for n in range(total)])
        with worker_processes(env, tmp_path) as workers:
            workers.start("--concurrency", "2")
            poll(
                lambda: (
                    True
                    if sum(j.state == State.COMPLETED for j in _jobs(db, job_ids).values()) >= 3
                    else None
                ),
                timeout_s=60,
                what="a few jobs to complete",
            )
            own_redis.stop()
            outage = time.monotonic()
            time.sleep(1.0)  # the outage itself
            own_redis.start()
            Redis.from_url(own_redis.url).flushall()
            jobs = poll(
                lambda: _all_terminal(db, job_ids), timeout_s=180, what="every job to be terminal"
            )
            recovered = time.monotonic() - outage
    states = Counter(str(job.state) for job in jobs.values())
    assert states == Counter({"COMPLETED": total})
    results = _result_counts(db)
    assert set(results) == set(job_ids)
    duplicates = sum(count - 1 for count in results.values())
    assert duplicates == 0
    left = scanbox_containers(docker_client, job_ids)
    assert left == []
    figures.append(
        {
            "submitted": total,
            "terminal": len(jobs),
            "duplicates": duplicates,
            "containers_left": len(left),
            "recovery_s": round(recovered, 2),
        }
    )


@pytest.mark.timeout(600)
def test_many_workers_claim_each_attempt_once(
    recovery_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    figures: list[dict[str, Any]],
) -> None:
    total = 200
    with serve() as site:
        site.page("/", PAGE)
        db, job_ids = _submit(recovery_env, [site.url(f"/?n={n}") for n in range(total)])
        started = time.monotonic()
        with worker_processes(recovery_env, tmp_path) as workers:
            workers.start("--concurrency", "8")
            jobs = poll(
                lambda: _all_terminal(db, job_ids),
                timeout_s=600,
                every_s=0.5,
                what="every job to be terminal",
            )
            elapsed = time.monotonic() - started
    assert Counter(str(job.state) for job in jobs.values()) == Counter({"COMPLETED": total})
    for job_id in job_ids:
        claims = _claims(db, job_id)
        assert claims == sorted(set(claims)), f"an attempt of {job_id} was claimed twice"
    assert all(job.error_code != "database_busy" for job in jobs.values())
    logs = "".join(path.read_text() for path in tmp_path.glob("worker-*.log"))
    assert "database is locked" not in logs
    assert "Traceback" not in logs
    results = _result_counts(db)
    assert sorted(results.values()) == [1] * total
    assert scanbox_containers(docker_client, job_ids) == []
    figures.append(
        {
            "submitted": total,
            "terminal": len(jobs),
            "duplicates": 0,
            "containers_left": 0,
            "workers": 8,
            "elapsed_s": round(elapsed, 1),
            "scans_per_s": round(total / elapsed, 2),
        }
    )


@pytest.mark.parametrize("scenario", ["grace", "grace_over", "second_signal"])
def test_sigterm_during_a_scan(
    recovery_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    scenario: str,
    figures: list[dict[str, Any]],
) -> None:
    grace = {"grace": "30000", "grace_over": "300", "second_signal": "60000"}[scenario]
    env = recovery_env | {"SHUTDOWN_GRACE_MS": grace}
    release = threading.Event()
    with serve() as site:
        site.held_page("/", PAGE, release=release)
        db, [job_id] = _submit(env, [site.url("/")])
        with worker_processes(env, tmp_path) as workers:
            worker = workers.start("--concurrency", "1")
            poll(
                lambda: _running_container(docker_client, job_id),
                timeout_s=30,
                what="the fetcher container",
            )
            worker.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            if scenario == "grace":
                release.set()
            if scenario == "second_signal":
                time.sleep(0.2)  # two separate signals, as a person pressing twice
                worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
            stopped = time.monotonic() - signalled
            job = queries.get_job(db, job_id)
            if scenario == "grace":
                assert job.state == State.COMPLETED
            else:
                assert (job.state, job.error_code) == (State.QUEUED, "worker_shutdown")
                assert scanbox_containers(docker_client, [job_id]) == []
                release.set()
                workers.start("--concurrency", "1")
                poll(
                    lambda: _state_is(db, job_id, State.COMPLETED),
                    timeout_s=60,
                    what="another worker to finish the job",
                )
    assert _result_counts(db) == Counter({job_id: 1})
    assert scanbox_containers(docker_client, [job_id]) == []
    figures.append(
        {
            "scenario": scenario,
            "stop_s": round(stopped, 2),
            "attempts": queries.get_job(db, job_id).attempts,
        }
    )


def test_the_reaper_touches_only_its_own_deployment(
    recovery_env: dict[str, str],
    docker_client: docker.DockerClient,
    fetcher_image: str,
) -> None:
    settings = settings_from(recovery_env)
    created = []
    try:
        for deployment in (settings.deployment, "someone-else"):
            created.append(
                docker_client.containers.create(
                    fetcher_image,
                    command=["--help"],
                    labels={
                        LABEL_MANAGED: "true",
                        LABEL_DEPLOYMENT: deployment,
                        LABEL_JOB: "f" * 32,
                        "org.scanbox.attempt": "1",
                    },
                )
            )
        unlabelled = docker_client.containers.create(fetcher_image, command=["--help"])
        created.append(unlabelled)
        out = subprocess.run(
            [sys.executable, "-m", "worker", "reap", "--json"],
            check=True,
            env={**os.environ, **recovery_env},
            capture_output=True,
            text=True,
        ).stdout
        assert created[0].name in out
        remaining = {c.id for c in docker_client.containers.list(all=True, ignore_removed=True)}
        assert created[0].id not in remaining
        assert created[1].id in remaining
        assert unlabelled.id in remaining
    finally:
        for container in created:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
