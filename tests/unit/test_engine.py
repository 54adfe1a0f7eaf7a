"""Waiting out a Docker engine that went away: claims pause, no job's retries are burned."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, report_bytes
from tests.unit.scanners import NOW, make_scanner
from worker.containers.engine import EngineWatch
from worker.containers.runner import crash_error
from worker.errors import (
    ContainerCrashed,
    ContainerKilled,
    ContainerStartFailed,
    DockerUnavailable,
    ScanError,
)
from worker.scan.shutdown import Shutdown
from worker.store.database import Database
from worker.store.models import JOBS, ScanJob
from worker.submit.batch import submit_urls


class Engine:
    """A scripted engine: answers pings from ``up_after`` pings on; a fake clock for waits."""

    def __init__(self, *, up_after: int) -> None:
        self.up_after = up_after
        self.pings = 0
        self.now = 0.0
        self.pauses: list[float] = []

    def ping(self) -> bool:
        self.pings += 1
        return self.pings > self.up_after

    def pause(self, seconds: float) -> bool:
        self.pauses.append(seconds)
        self.now += seconds
        return False

    def watch(self, *, patience_s: float = 60.0) -> EngineWatch:
        return EngineWatch(
            ping=self.ping,
            patience_s=patience_s,
            first_pause_s=0.25,
            max_pause_s=2.0,
            pause=self.pause,
            monotonic=lambda: self.now,
        )


def test_an_engine_that_never_failed_is_not_pinged() -> None:
    engine = Engine(up_after=0)
    assert engine.watch().ready() is True
    assert engine.pings == 0


def test_a_tripped_watch_waits_with_growing_pauses_until_the_engine_answers() -> None:
    engine = Engine(up_after=5)
    watch = engine.watch()
    watch.trip()
    assert watch.ready() is True
    assert engine.pauses == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert watch.tripped is False
    assert watch.ready() is True
    assert engine.pings == 6


def test_a_watch_gives_up_after_its_patience_and_stays_tripped() -> None:
    engine = Engine(up_after=1000)
    watch = engine.watch(patience_s=5)
    watch.trip()
    assert watch.ready() is False
    assert engine.now <= 5
    assert watch.tripped is True


def test_a_shutdown_ends_the_wait_at_once() -> None:
    shutdown = Shutdown(grace_s=10)
    watch = EngineWatch(ping=lambda: False, patience_s=3600, pause=shutdown.pause)
    watch.trip()
    threading.Timer(0.05, shutdown.request).start()
    assert watch.ready() is False
    assert shutdown.requested


def _submit(db: Database, count: int) -> list[str]:
    return submit_urls(
        [f"http://127.0.0.1:9/{n}" for n in range(count)],
        db=db,
        dispatcher=FakeDispatcher(),
        clock=lambda: NOW,
    )


def _job(db: Database, job_id: str) -> ScanJob:
    with db.read() as session:
        job = session.get(ScanJob, job_id)
    assert job is not None
    return job


def test_an_engine_outage_costs_one_attempt_and_leaves_the_rest_of_the_queue_alone(
    db: Database,
) -> None:
    first, second, third = _submit(db, 3)
    engine = Engine(up_after=1000)
    runner = FakeRunner([DockerUnavailable("Docker engine unreachable")])
    scanner = make_scanner(db, runner, engine=engine.watch(patience_s=5))
    dispatcher = scanner.dispatcher
    assert isinstance(dispatcher, FakeDispatcher)

    assert scanner.scan(first) is State.QUEUED
    assert scanner.scan(second) is None
    assert scanner.scan(third) is None

    assert len(runner.requests) == 1
    assert (_job(db, first).attempts, _job(db, first).error_code) == (1, "docker_unavailable")
    for job_id in (second, third):
        job = _job(db, job_id)
        assert (job.state, job.attempts, job.version) == (State.QUEUED, 0, 1)
    put_back = [(ids, delay) for ids, _, delay in dispatcher.calls[1:]]
    assert put_back == [((second,), 2.0), ((third,), 2.0)]
    assert dispatcher.attempts[1:] == [1, 1]


def test_claims_resume_once_the_engine_answers(db: Database) -> None:
    first, second = _submit(db, 2)
    engine = Engine(up_after=3)
    runner = FakeRunner([ContainerKilled(exit_code=143), report_bytes()])
    scanner = make_scanner(db, runner, engine=engine.watch())
    assert scanner.scan(first) is State.QUEUED
    assert scanner.scan(second) is State.COMPLETED
    assert engine.pings == 4


def test_errors_that_are_not_the_engine_going_away_do_not_pause_claims(db: Database) -> None:
    first, second = _submit(db, 2)
    engine = Engine(up_after=1000)
    runner = FakeRunner([ContainerStartFailed("no such image"), report_bytes()])
    scanner = make_scanner(db, runner, engine=engine.watch())
    assert scanner.scan(first) is State.QUEUED
    assert scanner.scan(second) is State.COMPLETED
    assert engine.pings == 0


@pytest.mark.parametrize(
    ("exit_code", "oom_killed", "expected"),
    [
        (137, False, ContainerKilled),
        (143, False, ContainerKilled),
        (137, True, ContainerCrashed),
        (1, False, ContainerCrashed),
        (139, False, ContainerCrashed),
    ],
)
def test_only_a_kill_from_outside_counts_as_the_engine(
    exit_code: int, oom_killed: bool, expected: type[ScanError]
) -> None:
    error = crash_error(exit_code=exit_code, oom_killed=oom_killed, stderr_tail="")
    assert type(error) is expected


def test_a_job_in_retry_backoff_is_not_put_back_again(db: Database) -> None:
    first, waiting = _submit(db, 2)
    with db.write() as connection:
        connection.execute(
            JOBS.update()
            .where(JOBS.c.id == waiting)
            .values(available_at=NOW + timedelta(seconds=30))
        )
    runner = FakeRunner([DockerUnavailable("Docker engine unreachable")])
    scanner = make_scanner(db, runner, engine=Engine(up_after=1000).watch(patience_s=5))
    dispatcher = scanner.dispatcher
    assert isinstance(dispatcher, FakeDispatcher)
    assert scanner.scan(first) is State.QUEUED
    assert scanner.scan(waiting) is None
    # Only the retry of the first job: the waiting job's own delayed dispatch is still to come.
    assert dispatcher.dispatched == [first]
