"""The per-host gate in front of every claim, on fakes: deferral, duplicates, 429 holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import col, select

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, report_bytes
from tests.unit.scanners import NOW, FakeDeferrals, FakeRateLimiter, make_scanner
from worker.queue.ratelimit import HostRates, Rate, parse_overrides
from worker.scan.gate import HoldLimits, HostGate
from worker.settings import Settings
from worker.store.database import Database
from worker.store.models import JOBS, AuditLog, ScanJob
from worker.submit.batch import submit_urls

HOLDS = HoldLimits(default_s=60, maximum_s=600)


def _gate(db: Database, limiter: FakeRateLimiter, deferrals: FakeDeferrals) -> HostGate:
    return HostGate(db=db, limiter=limiter, deferrals=deferrals, holds=HOLDS, clock=lambda: NOW)


def _submit(db: Database, url: str = "http://127.0.0.1:9/", priority: str = "normal") -> str:
    [job_id] = submit_urls([url], db=db, dispatcher=FakeDispatcher(), priority=priority)
    return job_id


def _job(db: Database, job_id: str) -> ScanJob:
    with db.read() as session:
        job = session.get(ScanJob, job_id)
    assert job is not None
    return job


def _set(db: Database, job_id: str, **values: object) -> None:
    """Write columns of a job directly, as a worker's earlier attempt would have left them."""
    with db.write() as connection:
        connection.execute(JOBS.update().where(JOBS.c.id == job_id).values(**values))


def _audit_count(db: Database, job_id: str) -> int:
    with db.read() as session:
        return len(session.exec(select(AuditLog).where(col(AuditLog.job_id) == job_id)).all())


def test_a_job_over_its_hosts_limit_is_deferred_and_nothing_is_written(db: Database) -> None:
    job_id = _submit(db, "http://Example.ORG:8080/a", priority="high")
    limiter = FakeRateLimiter(waits={"example.org": 2.5})
    deferrals = FakeDeferrals()
    runner = FakeRunner()
    scanner = make_scanner(db, runner, gate=_gate(db, limiter, deferrals))
    assert scanner.scan(job_id) is None
    assert runner.requests == []
    assert limiter.asked == ["example.org"]
    assert deferrals.deferred == [(job_id, "high", 1, 2.5)]
    job = _job(db, job_id)
    assert (job.state, job.version, job.attempts) == (State.QUEUED, 1, 0)
    assert _audit_count(db, job_id) == 1


def test_a_job_within_the_limit_runs(db: Database) -> None:
    job_id = _submit(db)
    limiter = FakeRateLimiter()
    deferrals = FakeDeferrals()
    runner = FakeRunner()
    scanner = make_scanner(db, runner, gate=_gate(db, limiter, deferrals))
    assert scanner.scan(job_id) is State.COMPLETED
    assert limiter.asked == ["127.0.0.1"]
    assert deferrals.deferred == []
    assert len(runner.requests) == 1


def test_a_wake_while_a_deferral_is_pending_is_dropped_without_a_token(db: Database) -> None:
    job_id = _submit(db)
    limiter = FakeRateLimiter()
    deferrals = FakeDeferrals(pending_ids={job_id})
    runner = FakeRunner()
    assert make_scanner(db, runner, gate=_gate(db, limiter, deferrals)).scan(job_id) is None
    assert (limiter.asked, deferrals.deferred, runner.requests) == ([], [], [])
    assert _job(db, job_id).state == State.QUEUED


def test_jobs_that_are_not_queued_take_no_token(db: Database) -> None:
    job_id = _submit(db)
    limiter = FakeRateLimiter()
    scanner = make_scanner(db, FakeRunner(), gate=_gate(db, limiter, FakeDeferrals()))
    assert scanner.scan(job_id) is State.COMPLETED
    assert scanner.scan(job_id) is None
    assert scanner.scan("0" * 32) is None
    assert limiter.asked == ["127.0.0.1"]


def test_a_retry_is_deferred_as_its_own_attempt(db: Database) -> None:
    job_id = _submit(db)
    _set(db, job_id, attempts=1)
    deferrals = FakeDeferrals()
    gate = _gate(db, FakeRateLimiter(waits={"127.0.0.1": 1.0}), deferrals)
    assert gate.admit(job_id) is False
    assert deferrals.deferred == [(job_id, "normal", 2, 1.0)]


def test_a_job_whose_retry_is_not_due_takes_no_token(db: Database) -> None:
    job_id = _submit(db)
    _set(db, job_id, available_at=NOW + timedelta(seconds=30))
    limiter = FakeRateLimiter(waits={"127.0.0.1": 5.0})
    deferrals = FakeDeferrals()
    assert _gate(db, limiter, deferrals).admit(job_id) is True
    assert (limiter.asked, deferrals.deferred) == ([], [])
    assert make_scanner(db, FakeRunner(), gate=_gate(db, limiter, deferrals)).scan(job_id) is None


@pytest.mark.parametrize(
    ("headers", "final_url", "held"),
    [
        ({"retry-after": "120"}, None, ("127.0.0.1", 120.0)),
        ({"retry-after": "Sun, 01 Mar 2026 12:05:00 GMT"}, None, ("127.0.0.1", 300.0)),
        ({}, None, ("127.0.0.1", 60.0)),
        ({"retry-after": "soon"}, None, ("127.0.0.1", 60.0)),
        ({"retry-after": "86400"}, None, ("127.0.0.1", 600.0)),
        ({"retry-after": "5"}, "http://127.0.0.2:8080/moved", ("127.0.0.2", 5.0)),
    ],
)
def test_a_429_holds_the_host_that_answered_it(
    db: Database, headers: dict[str, str], final_url: str | None, held: tuple[str, float]
) -> None:
    job_id = _submit(db)
    limiter = FakeRateLimiter()
    runner = FakeRunner(
        [
            report_bytes(
                status_code=429,
                reason="Too Many Requests",
                headers=headers,
                final_url=final_url or "http://127.0.0.1:9/",
            )
        ]
    )
    scanner = make_scanner(db, runner, gate=_gate(db, limiter, FakeDeferrals()))
    assert scanner.scan(job_id) is State.COMPLETED, "a 429 is the target's answer: a result"
    assert limiter.holds == [held]


def test_other_answers_hold_nothing(db: Database) -> None:
    job_id = _submit(db)
    limiter = FakeRateLimiter()
    runner = FakeRunner([report_bytes(status_code=503, headers={"retry-after": "30"})])
    make_scanner(db, runner, gate=_gate(db, limiter, FakeDeferrals())).scan(job_id)
    assert limiter.holds == []


def test_host_rates_use_the_override_of_the_host_or_the_default() -> None:
    rates = HostRates(
        default=Rate(per_second=1, burst=5),
        overrides=parse_overrides("Example.org=0.2, 127.0.0.2=10/20 ,cdn.test.=0", burst=5),
    )
    assert rates.for_host("example.org") == Rate(per_second=0.2, burst=5)
    assert rates.for_host("127.0.0.2") == Rate(per_second=10, burst=20)
    assert rates.for_host("cdn.test") == Rate(per_second=0, burst=5)
    assert rates.for_host("other.test") == Rate(per_second=1, burst=5)
    assert parse_overrides("", burst=1) == {}


@pytest.mark.parametrize(
    "text", ["example.org", "=1", "example.org=fast", "example.org=-1", "a=1/0", "a=nan"]
)
def test_unreadable_overrides_are_a_bad_setting(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="host=rate"):
        parse_overrides(text, burst=1)
    monkeypatch.setenv("HOST_RATE_OVERRIDES", text)
    with pytest.raises(ValidationError, match="host_rate_overrides"):
        Settings(_env_file=None)


def test_hold_limits_cap_what_a_target_asks() -> None:
    assert HOLDS.seconds("30", now=NOW.timestamp()) == 30
    assert HOLDS.seconds(None, now=NOW.timestamp()) == 60
    assert HOLDS.seconds(str(int(timedelta(days=1).total_seconds())), now=0) == 600
