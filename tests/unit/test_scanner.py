from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, report_bytes
from worker.containers.spec import Limits
from worker.errors import (
    ContainerCrashed,
    ContainerStartFailed,
    ContainerTimedOut,
    DockerUnavailable,
    OutputTooLarge,
)
from worker.scan.backoff import Backoff
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import FetcherArgs, Scanner
from worker.store.database import Database
from worker.store.models import RESULTS, AuditLog, ScanJob, ScanResult
from worker.submit.batch import submit_urls

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
T = TypeVar("T")


def _scanner(db: Database, runner: FakeRunner, dispatcher: FakeDispatcher, **kw: object) -> Scanner:
    return Scanner(
        db=db,
        runner=runner,
        dispatcher=dispatcher,
        worker_id="w1",
        limits=Limits(timeout_ms=5000, memory_limit_mb=256, cpu_limit=0.5, pids_limit=64),
        fetch=FetcherArgs(
            timeout_ms=4000,
            max_body_bytes=1 << 20,
            allowed_ports="any",
            allow_networks=("127.0.0.0/8",),
        ),
        outcomes=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=10, rng=random.Random(1)), **kw),  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def _submit(db: Database, dispatcher: FakeDispatcher, max_attempts: int = 3) -> str:
    [job_id] = submit_urls(
        ["http://127.0.0.1:9/"],
        db=db,
        dispatcher=dispatcher,
        max_attempts=max_attempts,
        clock=lambda: NOW,
    )
    return job_id


def _job(db: Database, job_id: str) -> ScanJob:
    with db.read() as session:
        job = session.get(ScanJob, job_id)
    assert job is not None
    return job


def _trail(db: Database, job_id: str) -> list[tuple[str | None, str]]:
    with db.read() as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.job_id == job_id).order_by(col(AuditLog.id))
        )
        return [(row.from_state, row.to_state) for row in rows]


def _results(db: Database) -> list[ScanResult]:
    with db.read() as session:
        return list(session.exec(select(ScanResult)))


def test_success_runs_the_fetcher_and_completes(db: Database) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    runner = FakeRunner([report_bytes(title="Hi")])
    assert _scanner(db, runner, dispatcher).scan(job_id) is State.COMPLETED
    [request] = runner.requests
    assert request.command[-2:] == ["--", "http://127.0.0.1:9/"]
    assert list(request.command[6:8]) == ["--allow-network", "127.0.0.0/8"]
    assert (request.job_id, request.attempt, request.worker_id) == (job_id, 1, "w1")
    job = _job(db, job_id)
    assert (job.state, job.version, job.attempts, job.exit_code) == (State.COMPLETED, 4, 1, 0)
    assert job.container_id == "c" * 64
    assert (job.timeout_ms, job.memory_limit_mb, job.pids_limit) == (5000, 256, 64)
    assert _trail(db, job_id) == [
        (None, "QUEUED"),
        ("QUEUED", "FETCHING"),
        ("FETCHING", "ANALYZING"),
        ("ANALYZING", "COMPLETED"),
    ]
    [result] = _results(db)
    assert (result.title, result.status_code, result.verdict, result.score) == (
        "Hi",
        200,
        "benign",
        20,
    )
    assert [reason["rule"] for reason in result.reasons] == ["ip_literal_host"]
    assert result.report["title"] == "Hi"


def test_second_scan_of_the_same_job_is_not_mine(db: Database) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    runner = FakeRunner()
    scanner = _scanner(db, runner, dispatcher)
    assert scanner.scan(job_id) is State.COMPLETED
    assert scanner.scan(job_id) is None
    assert scanner.scan("0" * 32) is None
    assert len(runner.requests) == 1
    assert len(_results(db)) == 1


@pytest.mark.parametrize(
    ("outcome", "state", "code"),
    [
        (b"garbage", State.FAILED, "invalid_output"),
        (OutputTooLarge(limit_bytes=10), State.FAILED, "output_too_large"),
        (
            ContainerCrashed(exit_code=3, oom_killed=False, stderr_tail="Traceback\nBoom"),
            State.FAILED,
            "container_crashed",
        ),
        (
            ContainerCrashed(exit_code=137, oom_killed=True, stderr_tail=""),
            State.FAILED,
            "oom_killed",
        ),
        (ContainerTimedOut(timeout_ms=5000), State.TIMED_OUT, "container_timeout"),
        (
            report_bytes(
                status_code=None,
                error={
                    "code": "timeout",
                    "message": "read timed out",
                    "url": "http://127.0.0.1:9/",
                },
            ),
            State.TIMED_OUT,
            "fetch_timeout",
        ),
    ],
)
def test_permanent_errors_and_timeouts_end_the_job(
    db: Database, outcome: bytes | Exception, state: State, code: str
) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    assert _scanner(db, FakeRunner([outcome]), dispatcher).scan(job_id) is state
    job = _job(db, job_id)
    assert (job.state, job.error_code, job.attempts) == (state, code, 1)
    assert job.finished_at == NOW
    assert _results(db) == []
    assert dispatcher.dispatched == [job_id]
    if isinstance(outcome, ContainerCrashed):
        assert (job.exit_code, job.oom_killed) == (outcome.exit_code, outcome.oom_killed)


def test_transient_errors_retry_with_backoff_then_discard(db: Database) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher, max_attempts=2)
    runner = FakeRunner([DockerUnavailable("engine down"), ContainerStartFailed("no")])
    scanner = _scanner(db, runner, dispatcher)
    assert scanner.scan(job_id) is State.QUEUED
    job = _job(db, job_id)
    assert (job.state, job.attempts, job.error_code) == (State.QUEUED, 1, "docker_unavailable")
    assert job.available_at is not None
    assert job.available_at > NOW
    [(_, _, delay)] = dispatcher.calls[1:]
    assert 0.5 <= delay <= 1.0
    assert scanner.scan(job_id) is None  # backoff not over: not due yet
    with db.write() as connection:
        connection.exec_driver_sql("UPDATE scan_jobs SET available_at = NULL")
    assert scanner.scan(job_id) is State.DISCARDED
    job = _job(db, job_id)
    assert (job.state, job.attempts, job.error_code) == (
        State.DISCARDED,
        2,
        "container_start_failed",
    )
    assert _trail(db, job_id)[-1] == ("FETCHING", "DISCARDED")


def test_timeouts_retry_when_configured(db: Database) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    runner = FakeRunner([ContainerTimedOut(timeout_ms=1)])
    assert _scanner(db, runner, dispatcher, retry_timeouts=True).scan(job_id) is State.QUEUED


def test_a_report_with_non_finite_numbers_fails_as_invalid_output(db: Database) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    nan = report_bytes().replace(b'"total_ms": 5.0', b'"total_ms": NaN')
    assert _scanner(db, FakeRunner([nan]), dispatcher).scan(job_id) is State.FAILED
    job = _job(db, job_id)
    assert (job.error_code, job.attempts) == ("invalid_output", 1)
    assert _results(db) == []


@pytest.mark.backends
def test_a_result_the_database_refuses_fails_the_job_at_once(db: Database) -> None:
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    # A row already holds this job's one result: the COMPLETED write's insert is refused.
    with db.write() as connection:
        connection.execute(
            RESULTS.insert().values(job_id=job_id, attempt=0, created_at=NOW, verdict="benign")
        )
    state = _scanner(db, FakeRunner([report_bytes()]), dispatcher).scan(job_id)
    assert state is State.FAILED
    job = _job(db, job_id)
    assert (job.state, job.error_code, job.attempts) == (State.FAILED, "result_rejected", 1)
    assert job.lease_expires_at is None
    assert _trail(db, job_id)[-2:] == [("FETCHING", "ANALYZING"), ("ANALYZING", "FAILED")]


class LosesTheConnectionOnResults(Database):
    """A real database whose COMPLETED write finds the server gone."""

    def run_write(self, work: Callable[[Connection], T]) -> T:
        if getattr(work, "__qualname__", "").startswith("complete."):
            raise sa.exc.OperationalError("INSERT", {}, ConnectionError("server went away"))
        return super().run_write(work)


def test_losing_the_database_while_recording_retries_the_attempt(tmp_path: Path) -> None:
    db = LosesTheConnectionOnResults(url=f"file:{tmp_path / 'lost.db'}")
    dispatcher = FakeDispatcher()
    job_id = _submit(db, dispatcher)
    assert _scanner(db, FakeRunner([report_bytes()]), dispatcher).scan(job_id) is State.QUEUED
    job = _job(db, job_id)
    assert (job.state, job.error_code) == (State.QUEUED, "database_unavailable")
    assert job.available_at is not None
    db.dispose()
