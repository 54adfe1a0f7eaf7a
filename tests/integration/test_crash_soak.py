"""The crash soak: worker replicas killed with SIGKILL, again and again, during 150 scans.

Two replicas (``scanbox worker --concurrency 2``, each a process group) scan 150 loopback
pages. Each time another twelfth of the jobs is terminal, one replica, taken in turn, is
killed with SIGKILL and a new one started in its place: 12 kills in all. Then every job must
be terminal, each with one result at most and one terminal transition, each attempt claimed
once, and, once the survivors' housekeeping has run, no container of the deployment left,
standby containers included. With both runners; bounded by the test's timeout.
``SCANBOX_SOAK_SCANS`` and ``SCANBOX_SOAK_KILLS`` change its size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import docker
import pytest
from redis import Redis
from sqlmodel import select

from statemachine.states import TERMINAL, State
from tests.integration.conftest import settings_from
from tests.services import poll, worker_processes
from tests.sites import serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.containers.spec import LABEL_DEPLOYMENT, LABEL_MANAGED, LABEL_WORKER
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob, ScanResult
from worker.submit.batch import submit_urls

#: Scans in the soak, and replica kills during it.
SOAK_SCANS = int(os.environ.get("SCANBOX_SOAK_SCANS", "150"))
SOAK_KILLS = int(os.environ.get("SCANBOX_SOAK_KILLS", "12"))
#: Replicas running at any time.
REPLICAS = 2
PAGE = b"<!doctype html><title>soak</title><p>still here</p>"
#: Quick recovery, no per-host rate limit (every page is on 127.0.0.1).
SOAK_ENV = {
    "LEASE_TTL_MS": "3000",
    "HOUSEKEEPING_INTERVAL_MS": "1000",
    "RECONCILE_AFTER_MS": "1000",
    "RETRY_BACKOFF_MS": "200",
    "RETRY_BACKOFF_MAX_MS": "1000",
    "HOST_RATE_LIMIT": "0",
}


def _jobs(db: Database) -> dict[str, ScanJob]:
    with db.read() as session:
        return {job.id: job for job in session.exec(select(ScanJob))}


def _terminal(db: Database) -> int:
    return sum(State(job.state) in TERMINAL for job in _jobs(db).values())


def _wait_for_terminal(db: Database, *, count: int) -> None:
    poll(
        lambda: True if _terminal(db) >= count else None,
        timeout_s=300,
        every_s=0.2,
        what=f"{count} jobs to be terminal",
    )


def _deployment_containers(client: docker.DockerClient, env: dict[str, str]) -> list[str]:
    labels = [LABEL_MANAGED, f"{LABEL_DEPLOYMENT}={settings_from(env).deployment}"]
    return [
        str(container["Names"][0]).lstrip("/")
        for container in client.api.containers(all=True, filters={"label": labels})
    ]


def _kill(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("runner", ["docker", "standby"])
def test_replicas_killed_during_the_scans_lose_and_double_nothing(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    figures: list[dict[str, Any]],
    runner: str,
) -> None:
    env = scan_env | SOAK_ENV | {"CONTAINER_RUNNER": runner}
    settings = settings_from(env)
    db = open_database(settings)
    started = time.monotonic()
    with serve() as site:
        site.page("/", PAGE)
        redis = Redis.from_url(settings.effective_redis_url)
        try:
            job_ids = submit_urls(
                [site.url(f"/?n={n}") for n in range(SOAK_SCANS)],
                db=db,
                dispatcher=dispatcher(settings, redis),
            )
        finally:
            redis.close()
        with worker_processes(env, tmp_path) as workers:
            replicas = [workers.start("--concurrency", "2") for _ in range(REPLICAS)]
            for kill in range(1, SOAK_KILLS + 1):
                _wait_for_terminal(db, count=kill * SOAK_SCANS // (SOAK_KILLS + 1))
                victim = replicas.pop(0)
                _kill(victim)
                replicas.append(workers.start("--concurrency", "2"))
            last_kill = time.monotonic()
            _wait_for_terminal(db, count=SOAK_SCANS)
            finished = time.monotonic()
            # The survivors' housekeeping removes what the killed replicas left: containers of
            # dead attempts and the killed workers' standby containers. The survivors' own
            # standby containers stay until they stop.
            poll(
                lambda: (
                    True
                    if not [
                        name
                        for name in _deployment_containers(docker_client, env)
                        if not name.startswith("scanbox-standby-")
                        or _is_dead_workers(docker_client, name, replicas)
                    ]
                    else None
                ),
                timeout_s=60,
                what="the killed replicas' containers to be reaped",
            )
            reaped = time.monotonic()
        left = _deployment_containers(docker_client, env)

    jobs = _jobs(db)
    states = Counter(str(job.state) for job in jobs.values())
    with db.read() as session:
        results = Counter(result.job_id for result in session.exec(select(ScanResult)))
        audit = list(session.exec(select(AuditLog)))
    terminal_moves = Counter(
        row.job_id for row in audit if row.to_state in {state.value for state in TERMINAL}
    )
    claims = Counter(
        (row.job_id, (row.detail or {}).get("attempt"))
        for row in audit
        if (row.from_state, row.to_state) == ("QUEUED", "FETCHING")
    )
    duplicate_results = sum(count - 1 for count in results.values())
    assert set(jobs) == set(job_ids)
    assert sum(states.values()) == SOAK_SCANS
    assert duplicate_results == 0
    assert set(terminal_moves.values()) == {1}
    assert set(claims.values()) == {1}
    assert set(results) == {job_id for job_id, job in jobs.items() if job.state == State.COMPLETED}
    assert left == []
    figures.append(
        {
            "scenario": f"crash soak, {runner} runner",
            "submitted": SOAK_SCANS,
            "kills": SOAK_KILLS,
            "states": dict(states),
            "duplicates": duplicate_results,
            "attempts": sum(job.attempts for job in jobs.values()),
            "containers_left": len(left),
            "total_s": round(finished - started, 1),
            "last_kill_to_all_terminal_s": round(finished - last_kill, 1),
            "all_terminal_to_reaped_s": round(reaped - finished, 1),
        }
    )


def _is_dead_workers(
    client: docker.DockerClient,
    name: str,
    replicas: list[subprocess.Popen[str]],
) -> bool:
    """Whether the standby container ``name`` was made by a process of no running replica."""
    found = client.api.containers(all=True, filters={"name": name})
    if not found:
        return False
    worker = (found[0].get("Labels") or {}).get(LABEL_WORKER, "")
    # Worker ids are host.pid.suffix; a replica's processes are its process group.
    try:
        pid = int(worker.split(".")[-2])
        group = os.getpgid(pid)
    except (ValueError, IndexError, ProcessLookupError):
        return True
    return group not in {replica.pid for replica in replicas if replica.poll() is None}
