"""Leases, the lease reaper, shutdown and the exactly-one-effect rule, on SQLite with fakes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.transitions import transition
from tests.services import poll
from tests.support import FakeDispatcher, FakeRunner, report_bytes
from worker.containers.runner import ContainerRun, RunRequest
from worker.containers.spec import Limits
from worker.errors import ScanError
from worker.ops.reaper import Reaper
from worker.scan.backoff import Backoff
from worker.scan.claim import claim_job
from worker.scan.lease import LeaseKeeper
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import FetcherArgs, Scanner
from worker.scan.shutdown import Shutdown
from worker.store.database import Database
from worker.store.models import ScanJob
from worker.submit.batch import submit_urls

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
LIMITS = Limits(timeout_ms=5000, memory_limit_mb=64, cpu_limit=0.5, pids_limit=64)
POLICY = OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=4, rng=random.Random(7)))


def _job(db: Database, job_id: str) -> ScanJob:
    with db.read() as session:
        job = session.get(ScanJob, job_id)
    assert job is not None
    return job


def _submit(db: Database, *, max_attempts: int = 3) -> str:
    [job_id] = submit_urls(
        ["http://127.0.0.1:9/"],
        db=db,
        dispatcher=FakeDispatcher(),
        max_attempts=max_attempts,
        clock=lambda: T0,
    )
    return job_id


def _claim(db: Database, job_id: str, *, now: datetime = T0, lease_s: float = 30) -> int:
    claim = claim_job(
        db, job_id=job_id, worker_id="w1", limits=LIMITS, lease=timedelta(seconds=lease_s), now=now
    )
    assert claim is not None
    return claim.version


def _reaper(db: Database, dispatcher: FakeDispatcher) -> Reaper:
    return Reaper(db=db, dispatcher=dispatcher, outcomes=POLICY, deployment="test")


def test_expired_lease_is_requeued_with_the_next_attempt_dispatched(db: Database) -> None:
    job_id = _submit(db)
    version = _claim(db, job_id, lease_s=30)
    dispatcher = FakeDispatcher()
    reaper = _reaper(db, dispatcher)
    assert reaper.reap_leases(now=T0 + timedelta(seconds=29)) == ([], [])
    assert reaper.reap_leases(now=T0 + timedelta(seconds=31)) == ([job_id], [])
    job = _job(db, job_id)
    assert (job.state, job.error_code, job.version) == (State.QUEUED, "worker_lost", version + 1)
    assert job.lease_expires_at is None
    assert dispatcher.attempts == [2]
    assert dispatcher.calls[0][2] > 0  # with backoff

    def late_write(connection: Connection) -> int | None:
        return transition(
            connection,
            job_id=job_id,
            source=State.FETCHING,
            target=State.ANALYZING,
            version=version,
            actor="w1",
            now=T0,
        )

    # The worker that lost its lease writes nothing when it wakes up.
    assert db.run_write(late_write) is None
    assert _job(db, job_id).state == State.QUEUED


def test_expired_lease_on_the_last_attempt_is_discarded(db: Database) -> None:
    job_id = _submit(db, max_attempts=1)
    _claim(db, job_id)
    dispatcher = FakeDispatcher()
    assert _reaper(db, dispatcher).reap_leases(now=T0 + timedelta(hours=1)) == ([], [job_id])
    assert _job(db, job_id).state == State.DISCARDED
    assert dispatcher.calls == []


def test_lease_keeper_renews_and_notices_a_lost_claim(db: Database) -> None:
    job_id = _submit(db)
    version = _claim(db, job_id, now=datetime.now(UTC), lease_s=0.3)
    first = _job(db, job_id).lease_expires_at
    assert first is not None
    keeper = LeaseKeeper(
        db=db,
        job_id=job_id,
        version=version,
        ttl=timedelta(seconds=0.3),
        clock=lambda: datetime.now(UTC),
    )
    with keeper:
        poll(
            lambda: True if (_job(db, job_id).lease_expires_at or first) > first else None,
            timeout_s=5,
            what="a lease renewal",
        )
        assert not keeper.lost
        with db.write() as connection:
            transition(
                connection,
                job_id=job_id,
                source=State.FETCHING,
                target=State.QUEUED,
                version=version,
                actor="reaper",
                now=datetime.now(UTC),
            )
        poll(lambda: True if keeper.lost else None, timeout_s=5, what="the keeper to see the loss")


def test_shutdown_grace_then_force() -> None:
    now = [100.0]
    shutdown = Shutdown(grace_s=5, monotonic=lambda: now[0])
    assert shutdown.interruption() is None
    shutdown.request()
    assert shutdown.requested
    now[0] += 4.9
    assert shutdown.interruption() is None
    now[0] += 0.2
    assert "grace period" in (shutdown.interruption() or "")
    second = Shutdown(grace_s=60, monotonic=lambda: now[0])
    second.request()
    second.request()
    assert "second signal" in (second.interruption() or "")


def _scanner(
    db: Database, runner: FakeRunner, dispatcher: FakeDispatcher, shutdown: Shutdown
) -> Scanner:
    return Scanner(
        db=db,
        runner=runner,
        dispatcher=dispatcher,
        worker_id="w1",
        limits=LIMITS,
        fetch=FetcherArgs(timeout_ms=1000, max_body_bytes=1024, allowed_ports="any"),
        outcomes=POLICY,
        shutdown=shutdown,
        clock=lambda: T0,
    )


def _interrupted(request: RunRequest) -> ContainerRun:
    error = request.interruption()
    assert isinstance(error, ScanError)
    raise error


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_scan_cut_short_by_shutdown_is_requeued_never_discarded(
    db: Database, max_attempts: int
) -> None:
    job_id = _submit(db, max_attempts=max_attempts)
    shutdown = Shutdown(grace_s=0)
    shutdown.force()
    dispatcher = FakeDispatcher()
    scanner = _scanner(db, FakeRunner([_interrupted]), dispatcher, shutdown)
    assert scanner.scan(job_id) is State.QUEUED
    job = _job(db, job_id)
    assert (job.state, job.error_code, job.attempts) == (State.QUEUED, "worker_shutdown", 1)
    assert dispatcher.calls == [((job_id,), "normal", 0.0)]
    assert dispatcher.attempts == [2]


def test_no_interruption_without_shutdown(db: Database) -> None:
    job_id = _submit(db)
    seen: list[object] = []

    def run(request: RunRequest) -> ContainerRun:
        seen.append(request.interruption())
        return ContainerRun(container_id="c", stdout=report_bytes(), duration_ms=1.0)

    scanner = _scanner(db, FakeRunner([run]), FakeDispatcher(), Shutdown(grace_s=10))
    assert scanner.scan(job_id) is State.COMPLETED
    assert seen == [None]
