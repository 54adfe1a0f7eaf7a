"""Running scanbox day to day, with real processes: drains, run statistics, logs, metrics."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import docker.errors
from sqlalchemy.engine import Connection
from sqlmodel import select

from statemachine.states import State
from statemachine.transitions import create_job, transition
from tests.integration.conftest import scanbox_containers, settings_from
from tests.integration.test_pipeline import _submit
from tests.services import free_port, poll, worker_processes
from tests.sites import serve
from worker.app.database import open_database
from worker.containers.spec import LABEL_ATTEMPT, LABEL_DEPLOYMENT, LABEL_JOB, LABEL_MANAGED
from worker.logs import JOB_FIELDS
from worker.store import queries
from worker.store.database import Database
from worker.store.models import RunRecord

PAGE = b"<!doctype html><title>drained</title><p>scanbox</p>"


def _scanbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_a_drain_takes_at_most_n_jobs_across_processes_then_prints_a_summary(
    scan_env: dict[str, str],
) -> None:
    env = scan_env | {"RUN_STATS_FLUSH_MS": "0"}
    with serve() as site:
        for index in range(5):
            site.page(f"/{index}", PAGE)
        db, ids = _submit(env, [site.url(f"/{index}") for index in range(5)])
        first = _summary(
            _scanbox(env, "worker", "--burst", "--max-jobs", "3", "--concurrency", "2", "--json")
        )
        states = [queries.get_job(db, job_id).state for job_id in ids]
        assert first["processed"] == first["succeeded"] == 3
        assert (first["failed"], first["skipped"], first["processes"]) == (0, 0, 2)
        assert sorted(states) == sorted([State.COMPLETED] * 3 + [State.QUEUED] * 2)
        with db.read() as session:
            runs = list(session.exec(select(RunRecord).where(RunRecord.kind == "worker")))
        assert len(runs) == 2
        assert {run.group_id for run in runs} != {None}
        assert len({run.group_id for run in runs}) == 1
        assert {(run.status, run.job_limit) for run in runs} == {("finished", 3)}
        assert sum(run.processed for run in runs) == 3

        rest = _scanbox(env, "worker", "--burst", "--concurrency", "1")
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert rest.stdout.strip().splitlines()[-1].startswith("processed 2 jobs in ")
    assert "2 succeeded, 0 failed, 0 skipped, 0 retried (1 processes)" in rest.stdout
    assert {queries.get_job(db, job_id).state for job_id in ids} == {State.COMPLETED}
    stats = _scanbox(env, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["states"]["COMPLETED"] == 5
    assert sorted(run["processed"] for run in data["runs"] if run["kind"] == "worker") == sorted(
        [run.processed for run in runs] + [2]
    )
    assert data["drains"] == []  # none running any more


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_worker_logs_are_json_with_job_fields_and_metrics_are_served(
    scan_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = scan_env | {"METRICS_PORT": str(port)}
    with serve() as site, worker_processes(env, tmp_path) as workers:
        site.page("/", PAGE)
        workers.start("--concurrency", "1")
        db, [job_id] = _submit(env, [site.url("/")])

        def completed_and_counted() -> str | None:
            if queries.get_job(db, job_id).state != State.COMPLETED:
                return None
            try:
                page = _scrape(port)
            except OSError:
                return None
            return page if "scanbox_scan_duration_seconds_count" in page else None

        page = poll(completed_and_counted, timeout_s=90, what="the scan, counted in the metrics")
        workers.stop_all()
    for line in (
        'scanbox_transitions_total{from_state="QUEUED",to_state="FETCHING"} 1.0',
        'scanbox_transitions_total{from_state="FETCHING",to_state="ANALYZING"} 1.0',
        'scanbox_transitions_total{from_state="ANALYZING",to_state="COMPLETED"} 1.0',
        'scanbox_scan_duration_seconds_count{state="COMPLETED"} 1.0',
        'scanbox_jobs{state="COMPLETED"} 1.0',
        f'scanbox_queue_depth{{queue="{env["QUEUE_NAME"]}"}} 0.0',
    ):
        assert line in page
    assert "scanbox_containers_running " in page
    records = [json.loads(line) for line in (tmp_path / "worker-0.log").read_text().splitlines()]
    assert records
    assert all(set(JOB_FIELDS) <= record.keys() for record in records)
    mine = {record["event"]: record for record in records if record["job_id"] == job_id}
    assert {"job_claimed", "job_completed"} <= mine.keys()
    claimed = mine["job_claimed"]
    assert (claimed["state"], claimed["attempt"]) == ("FETCHING", 1)
    assert claimed["worker"]
    assert mine["job_completed"]["state"] == "COMPLETED"


def _failed_job(db: Database, job_id: str, *, at: datetime) -> None:
    """A job that was created and FAILED at ``at``."""

    def write(connection: Connection) -> None:
        create_job(
            connection,
            job_id=job_id,
            url="http://127.0.0.1/",
            priority="normal",
            max_attempts=1,
            actor="test",
            now=at,
        )
        transition(
            connection,
            job_id=job_id,
            source=State.QUEUED,
            target=State.FAILED,
            version=1,
            actor="test",
            now=at,
        )

    db.run_write(write)


def test_maintenance_removes_stray_containers_and_old_jobs_only(
    scan_env: dict[str, str], docker_client: docker.DockerClient
) -> None:
    env = scan_env | {"RETENTION_DAYS": "1"}
    settings = settings_from(env)
    db = open_database(settings)
    old, recent = (datetime.now(UTC) - timedelta(days=days) for days in (3, 0))
    for job_id, at in (("old", old), ("recent", recent)):
        _failed_job(db, job_id, at=at)
    stray = docker_client.containers.create(
        settings.fetcher_image,
        name=f"scanbox-test-stray-{uuid.uuid4().hex[:8]}",
        labels={
            LABEL_MANAGED: "true",
            LABEL_DEPLOYMENT: settings.deployment,
            LABEL_JOB: "old",
            LABEL_ATTEMPT: "1",
        },
    )
    try:
        done = _scanbox(env, "maintenance", "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        assert report["containers_removed"] == [stray.name]
        assert (report["jobs_deleted"], report["audit_rows_deleted"]) == (1, 2)
        assert [job.id for job in queries.list_jobs(db)] == ["recent"]
        assert scanbox_containers(docker_client, ["old"]) == []
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            stray.remove(force=True)
