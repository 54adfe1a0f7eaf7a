"""The Docker engine restarted in the middle of a run: jobs are retried, none is lost.

This test stops and starts the machine's Docker daemon, which disturbs anything else using
it, so it runs in CI (a machine of its own) or when ``SCANBOX_CHAOS_DOCKER=1`` is set.
"""

from __future__ import annotations

import os
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
from tests.integration.conftest import scanbox_containers, settings_from
from tests.services import CI, poll, worker_processes
from tests.sites import serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.containers.spec import LABEL_DEPLOYMENT
from worker.store.database import Database
from worker.store.models import ScanJob, ScanResult
from worker.submit.batch import submit_urls

pytestmark = pytest.mark.skipif(
    not (CI or os.environ.get("SCANBOX_CHAOS_DOCKER") == "1"),
    reason="restarts the Docker daemon: runs in CI or with SCANBOX_CHAOS_DOCKER=1",
)

PAGE = b"<html><head><title>engine restart</title></head></html>"


def _dockerd_command() -> tuple[int, list[str]]:
    pid = int(
        subprocess.run(
            ["pidof", "-s", "dockerd"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return pid, [part.decode() for part in command if part]


def _engine_answers() -> bool | None:
    # The CLI, not the SDK: docker-py leaks a socket per refused connection.
    answered = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return True if answered.returncode == 0 else None


def _restart_dockerd() -> float:
    """Stop dockerd with SIGTERM, start it again with the same command line, wait for it."""
    pid, command = _dockerd_command()
    started = time.monotonic()
    os.kill(pid, 15)
    poll(
        lambda: None if Path(f"/proc/{pid}").exists() else True,
        timeout_s=60,
        what="dockerd to stop",
    )
    # A shell starts dockerd in the background and exits: the engine outlives this test.
    subprocess.run(
        [
            "setsid",
            "sh",
            "-c",
            'exec "$@" >>/var/log/scanbox-dockerd.log 2>&1 </dev/null &',
            "sh",
            *command,
        ],
        check=True,
    )
    poll(_engine_answers, timeout_s=60, what="dockerd to answer again")
    return time.monotonic() - started


@pytest.mark.timeout(600)
@pytest.mark.parametrize("runner", ["docker", "standby"])
def test_jobs_survive_a_docker_daemon_restart(
    scan_env: dict[str, str], tmp_path: Path, figures: list[dict[str, Any]], runner: str
) -> None:
    if os.geteuid() != 0:
        pytest.fail("restarting dockerd needs root") if CI else pytest.skip("needs root")
    # The default of three attempts: an engine restart costs a job at most the attempt its
    # worker had in hand, because workers claim nothing while the engine is away.
    env = scan_env | {
        "RETRY_BACKOFF_MS": "500",
        "RETRY_BACKOFF_MAX_MS": "2000",
        "LEASE_TTL_MS": "3000",
        "HOUSEKEEPING_INTERVAL_MS": "500",
        "RECONCILE_AFTER_MS": "1000",
        "HOST_RATE_LIMIT": "0",
        "CONTAINER_RUNNER": runner,
    }
    total = 20
    settings = settings_from(env)
    with serve() as site:
        site.page("/", PAGE)
        db = open_database(settings)
        redis = Redis.from_url(settings.effective_redis_url)
        job_ids = submit_urls(
            [site.url(f"/?n={n}") for n in range(total)],
            db=db,
            dispatcher=dispatcher(settings, redis),
            max_attempts=settings.max_attempts,
        )
        redis.close()
        with worker_processes(env, tmp_path) as workers:
            workers.start("--concurrency", "2")
            poll(
                lambda: True if _count(db, job_ids, State.COMPLETED) >= 3 else None,
                timeout_s=120,
                what="a few jobs to complete",
            )
            outage = _restart_dockerd()
            restarted = time.monotonic()
            poll(
                lambda: True if _count_terminal(db, job_ids) == total else None,
                timeout_s=300,
                every_s=0.5,
                what="every job to be terminal",
            )
            recovered = time.monotonic() - restarted
            client = docker.from_env()
            poll(
                lambda: True if scanbox_containers(client, job_ids) == [] else None,
                timeout_s=60,
                what="containers of interrupted attempts to be reaped",
            )
            client.close()
    # Stopped workers leave nothing of this deployment behind, standby containers included
    # (one the engine made while its answer was lost in the restart among them).
    client = docker.from_env()
    left = client.containers.list(
        all=True,
        filters={"label": f"{LABEL_DEPLOYMENT}={settings.deployment}"},
        ignore_removed=True,
    )
    client.close()
    assert [container.name for container in left] == []
    with db.read() as session:
        jobs = [job for job in session.exec(select(ScanJob)) if job.id in set(job_ids)]
        results = Counter(r.job_id for r in session.exec(select(ScanResult)))
    assert Counter(str(job.state) for job in jobs) == Counter({"COMPLETED": total})
    assert sorted(results.values()) == [1] * total
    retried = sum(job.attempts - 1 for job in jobs)
    figures.append(
        {
            "runner": runner,
            "submitted": total,
            "terminal": total,
            "duplicates": 0,
            "containers_left": 0,
            "retried_attempts": retried,
            "engine_down_s": round(outage, 2),
            "recovery_s": round(recovered, 2),
        }
    )


def _count(db: Database, job_ids: list[str], state: State) -> int:
    with db.read() as session:
        return sum(
            1
            for job in session.exec(select(ScanJob))
            if job.id in set(job_ids) and job.state == state
        )


def _count_terminal(db: Database, job_ids: list[str]) -> int:
    with db.read() as session:
        return sum(
            1
            for job in session.exec(select(ScanJob))
            if job.id in set(job_ids) and State(job.state) in TERMINAL
        )
