"""scanbox's side: scans submitted here and run by real ``scanbox worker`` processes.

Latency is the job's own record, ``created_at`` (taken by ``submit_urls`` before it writes)
to ``finished_at`` (written with the COMPLETED transition), so how often this process looks
at the database does not change it. The audit rows split it into stages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from redis import Redis
from rq import Queue, Worker

from statemachine.states import TERMINAL, State
from statemachine.tables import HTTP_MODE
from worker.errors import BenchmarkFailed
from worker.queue.dispatch import Dispatcher, queue_names
from worker.store import queries
from worker.store.database import Database
from worker.store.models import JOBS
from worker.submit.batch import submit_urls

#: How often the benchmark looks for finished jobs (it never changes what is measured).
POLL_S = 0.05
#: How long worker processes get to start, and to stop after SIGTERM.
WORKER_START_TIMEOUT_S = 60.0
WORKER_STOP_TIMEOUT_S = 30.0
_terminal = [state.value for state in TERMINAL]


@dataclass(frozen=True, kw_only=True)
class ScanTiming:
    """Where one scan's time went (milliseconds)."""

    job_id: str
    state: str
    #: Submit to COMPLETED.
    latency_ms: float
    #: Submit to claim: storing, dispatching, RQ's dequeue and the claim itself.
    pickup_ms: float
    #: Claim to ANALYZING: the container, reading and validating its output.
    fetching_ms: float
    #: ANALYZING to COMPLETED: the verdict and the result row.
    analyzing_ms: float
    #: The runner's own measure of the container (``scan_results.duration_ms``).
    runner_ms: float | None
    #: The fetcher's start-up time from its report.
    startup_ms: float | None


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def scan_timing(db: Database, job_id: str) -> ScanTiming:
    """The timing of the finished job ``job_id``, from its row, audit trail and result."""
    job = queries.get_job(db, job_id)
    reached = {row.to_state: row.at for row in queries.get_audit(db, job_id)}
    result = queries.get_result(db, job_id)
    if job.finished_at is None or State(job.state) != State.COMPLETED:
        raise BenchmarkFailed(
            f"scan {job_id} ended {job.state}: {job.error_code} {job.error_message}"
        )
    claimed = reached.get(State.FETCHING.value, job.created_at)
    analyzing = reached.get(State.ANALYZING.value, claimed)
    return ScanTiming(
        job_id=job_id,
        state=str(job.state),
        latency_ms=_ms(job.finished_at, job.created_at),
        pickup_ms=_ms(claimed, job.created_at),
        fetching_ms=_ms(analyzing, claimed),
        analyzing_ms=_ms(job.finished_at, analyzing),
        runner_ms=None if result is None else result.duration_ms,
        startup_ms=None if result is None else startup_ms_of(result.report),
    )


def startup_ms_of(report: Mapping[str, object]) -> float | None:
    """``timings.startup_ms`` of a stored report."""
    timings = report.get("timings")
    value = timings.get("startup_ms") if isinstance(timings, dict) else None
    return float(value) if isinstance(value, int | float) else None


def wait_until_finished(db: Database, job_ids: Sequence[str], *, timeout_s: float) -> None:
    """Return once every job is terminal; raise ``BenchmarkFailed`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    query = (
        sa.select(sa.func.count())
        .select_from(JOBS)
        .where(JOBS.c.id.in_(list(job_ids)), JOBS.c.state.in_(_terminal))
    )
    while True:
        with db.read() as session:
            done = session.connection().execute(query).scalar_one()
        if done == len(job_ids):
            return
        if time.monotonic() > deadline:
            raise BenchmarkFailed(f"{len(job_ids) - done} scans unfinished after {timeout_s}s")
        time.sleep(POLL_S)


def scan_one_at_a_time(
    db: Database,
    dispatcher: Dispatcher,
    *,
    url: str,
    count: int,
    timeout_s: float,
    mode: str = HTTP_MODE,
) -> list[str]:
    """Submit ``url`` ``count`` times (scanned in ``mode``), each once the one before it is
    finished."""
    job_ids = []
    for _ in range(count):
        [job_id] = submit_urls([url], db=db, dispatcher=dispatcher, mode=mode)
        wait_until_finished(db, [job_id], timeout_s=timeout_s)
        job_ids.append(job_id)
    return job_ids


def scan_all_at_once(
    db: Database,
    dispatcher: Dispatcher,
    *,
    url: str,
    count: int,
    timeout_s: float,
    mode: str = HTTP_MODE,
) -> tuple[list[str], float]:
    """Submit ``url`` ``count`` times in one batch (scanned in ``mode``); return the ids and
    the seconds from the first submit to the last COMPLETED."""
    job_ids = submit_urls([url] * count, db=db, dispatcher=dispatcher, mode=mode)
    wait_until_finished(db, job_ids, timeout_s=timeout_s)
    jobs = [queries.get_job(db, job_id) for job_id in job_ids]
    first = min(job.created_at for job in jobs)
    last = max(job.finished_at or job.updated_at for job in jobs)
    return job_ids, (last - first).total_seconds()


@dataclass
class WorkerGroup:
    """One ``scanbox worker --concurrency N`` process tree of the benchmark's own."""

    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, redis: Redis, *, queue: str, count: int) -> None:
        """Return once ``count`` RQ workers listen on ``queue``."""
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        watched = Queue(queue, connection=redis)
        while Worker.count(connection=redis, queue=watched) < count:
            if self.process.poll() is not None:
                raise BenchmarkFailed(f"scanbox worker exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise BenchmarkFailed(f"{count} workers not ready after {WORKER_START_TIMEOUT_S}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (the worker's warm shutdown); SIGKILL the group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()


@contextmanager
def worker_group(*, env: Mapping[str, str], workers: int, log_path: Path) -> Iterator[WorkerGroup]:
    """Run ``scanbox worker --concurrency workers`` with ``env`` for the block."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--concurrency", str(workers)],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    group = WorkerGroup(process=process, log=log)
    try:
        yield group
    finally:
        group.stop()


def clear_queues(redis: Redis, base_queue: str) -> None:
    """Delete the benchmark's queues and every RQ job still on them."""
    for name in queue_names(base_queue):
        Queue(name, connection=redis).empty()  # type: ignore[no-untyped-call]
