"""Schedules that keep failing, driven by a hand-moved clock: the count, the pause, enabling.

Scans end the way workers end them, through the state machine: a target that always fails
(each scan FAILED, TIMED_OUT or DISCARDED in turn), one that recovers (COMPLETED).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection
from sqlmodel import col, select
from typer.testing import CliRunner

from statemachine.states import State
from statemachine.transitions import transition
from tests.clocks import ManualClock
from tests.revisions import revision_named
from tests.support import FakeDispatcher
from worker.cli import app
from worker.schedule.scheduler import Scheduler
from worker.schedule.schedules import add_schedule, get_schedule, set_active
from worker.store.database import Database
from worker.store.migrations import commands
from worker.store.models import ScanJob

START = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
URL = "http://127.0.0.1:8080/flaky"
#: How a failed scan ends: the two moves from QUEUED, via FETCHING for a timeout.
FAILED_PATHS = [
    [State.FAILED],
    [State.FETCHING, State.TIMED_OUT],
    [State.DISCARDED],
]


def _replica(db: Database, clock: ManualClock, name: str, max_failures: int = 5) -> Scheduler:
    return Scheduler(
        db=db,
        dispatcher=FakeDispatcher(),
        replica=name,
        refresh_every=timedelta(minutes=5),
        max_attempts=3,
        max_failures=max_failures,
        clock=clock,
    )


def _end(db: Database, job_id: str, path: list[State], clock: ManualClock) -> None:
    """Move a QUEUED job along ``path`` as a worker would."""

    def write(connection: Connection) -> None:
        source, version = State.QUEUED, 1
        for target in path:
            moved = transition(
                connection,
                job_id=job_id,
                source=source,
                target=target,
                version=version,
                actor="worker",
                now=clock(),
                changes={"error_code": "refused"} if target is State.FAILED else None,
            )
            assert moved is not None
            source, version = target, moved

    db.run_write(write)


def _complete(db: Database, job_id: str, clock: ManualClock) -> None:
    _end(db, job_id, [State.FETCHING, State.ANALYZING, State.COMPLETED], clock)


def _queued(db: Database) -> list[ScanJob]:
    with db.read() as session:
        return list(
            session.exec(
                select(ScanJob)
                .where(ScanJob.state == State.QUEUED.value)
                .order_by(col(ScanJob.created_at))
            )
        )


def _jobs(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(ScanJob)).all())


def _next_minute(clock: ManualClock, minute: int) -> None:
    clock.set(START.replace(second=0) + timedelta(minutes=minute, milliseconds=5))


def test_a_target_that_always_fails_pauses_its_schedule_after_five_once(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    replicas = [_replica(db, clock, "a"), _replica(db, clock, "b")]
    paths = cycle(FAILED_PATHS)
    with structlog.testing.capture_logs() as logs:
        for replica in replicas:
            replica.step()
        for minute in range(1, 10):
            _next_minute(clock, minute)
            for replica in replicas if minute % 2 else reversed(replicas):
                replica.step()
            if minute <= 5:
                assert get_schedule(db, schedule.id).consecutive_failures == minute - 1
            for job in _queued(db):
                _end(db, job.id, next(paths), clock)

    stored = get_schedule(db, schedule.id)
    # Five scans, each ended failed; the step after the fifth paused the schedule, and no
    # sixth scan was submitted in the minutes after.
    assert _jobs(db) == 5
    assert (stored.active, stored.consecutive_failures) == (False, 5)
    assert stored.paused_at is not None
    assert stored.counted_job_id == stored.last_job_id
    assert stored.next_run_at is None
    assert stored.pause_reason is not None
    assert "5 scans in a row failed" in stored.pause_reason
    assert stored.pause_reason.endswith(f"the last, job {stored.last_job_id}, ended TIMED_OUT")
    warnings = [entry for entry in logs if entry["event"] == "schedule_paused"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["schedule"] == schedule.id


def test_a_target_that_recovers_resets_the_count(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    replica = _replica(db, clock, "a")
    replica.step()
    outcomes = ["fail"] * 4 + ["ok"] + ["fail"] * 4 + ["ok"]
    counts = []
    for minute, outcome in enumerate(outcomes, start=1):
        _next_minute(clock, minute)
        replica.step()
        [job] = _queued(db)
        if outcome == "ok":
            _complete(db, job.id, clock)
        else:
            _end(db, job.id, [State.FAILED], clock)
        replica.step()
        counts.append(get_schedule(db, schedule.id).consecutive_failures)

    assert counts == [1, 2, 3, 4, 0, 1, 2, 3, 4, 0]
    stored = get_schedule(db, schedule.id)
    assert (stored.active, stored.paused_at, stored.pause_reason) == (True, None, None)
    assert _jobs(db) == len(outcomes)


def test_the_tick_after_the_last_failure_pauses_instead_of_submitting(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    replica = _replica(db, clock, "a", max_failures=2)
    replica.refresh()
    for minute in (1, 2):
        _next_minute(clock, minute)
        replica.fire_due()
        [job] = _queued(db)
        _end(db, job.id, [State.DISCARDED], clock)

    # The tick's own transaction counts the second failure: no step ran in between.
    _next_minute(clock, 3)
    [tick] = replica.fire_due()

    assert tick.outcome == "paused"
    assert tick.counted is not None
    assert tick.counted.paused
    assert _jobs(db) == 2
    assert not get_schedule(db, schedule.id).active


def test_enable_clears_the_pause_and_the_count(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    replica = _replica(db, clock, "a", max_failures=1)
    replica.step()
    _next_minute(clock, 1)
    replica.step()
    [job] = _queued(db)
    _end(db, job.id, [State.FAILED], clock)
    replica.step()
    assert get_schedule(db, schedule.id).paused_at is not None

    enabled = set_active(db, schedule.id, active=True, clock=clock)

    assert (enabled.active, enabled.consecutive_failures) == (True, 0)
    assert (enabled.paused_at, enabled.pause_reason) == (None, None)
    assert enabled.counted_job_id == job.id  # the failure that paused it is not counted again
    replica.refresh()
    _next_minute(clock, 2)
    replica.step()
    assert len(_queued(db)) == 1


def test_zero_max_failures_never_pauses(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    replica = _replica(db, clock, "a", max_failures=0)
    replica.step()
    for minute in range(1, 8):
        _next_minute(clock, minute)
        replica.step()
        [job] = _queued(db)
        _end(db, job.id, [State.FAILED], clock)
    replica.step()

    stored = get_schedule(db, schedule.id)
    assert (stored.active, stored.consecutive_failures, stored.paused_at) == (True, 7, None)


def test_schedule_list_shows_the_failures_and_the_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.chdir(tmp_path)
    db = Database(url=url)
    clock = ManualClock(START)
    paused = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    healthy = add_schedule(db, url=URL + "-ok", cron="*/5 * * * *", clock=clock)
    replica = _replica(db, clock, "a", max_failures=1)
    replica.step()
    _next_minute(clock, 1)
    replica.step()
    [job] = _queued(db)
    _end(db, job.id, [State.FAILED], clock)
    replica.step()

    result = CliRunner().invoke(app, ["schedule", "list", "--json"])
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows[paused.id]["consecutive_failures"] == 1
    assert rows[paused.id]["paused_at"] == "2026-03-01T12:01:00.005000Z"
    assert rows[paused.id]["pause_reason"].startswith("paused: 1 scans in a row failed")
    assert (rows[healthy.id]["consecutive_failures"], rows[healthy.id]["paused_at"]) == (0, None)

    monkeypatch.setenv("COLUMNS", "200")
    table = CliRunner().invoke(app, ["schedule", "list"]).stdout
    header, *rows_out = table.splitlines()
    assert header.split()[:8] == [
        "ID", "CRON", "ACTIVE", "NEXT", "RUN", "LAST", "RUN", "SKIPPED",
    ]  # fmt: skip
    assert "FAILED" in header
    [row, reason] = [line.split() for line in rows_out if line.split()[:1] == [paused.id]]
    # ID, five cron fields, ACTIVE, NEXT RUN (the pause), LAST RUN, SKIPPED, FAILED, URL.
    assert row[6:9] == ["paused", "paused", "2026-03-01T12:01:00.005000Z"]
    assert row[-3:] == ["0", "1", URL]
    assert " ".join(reason[1:]).startswith("paused: 1 scans in a row failed")


@pytest.mark.backends
def test_the_failures_revision_keeps_every_schedule_with_nothing_counted(
    database_url: str,
) -> None:
    before, revision = revision_named("schedule_failures")
    db = Database(url=database_url)
    commands.upgrade(db, target=before)
    with db.engine.connect() as connection, connection.begin():
        connection.execute(
            sa.text(
                "INSERT INTO schedules (id, url, cron, active, priority, created_at, updated_at,"
                " last_job_id, skipped_ticks) VALUES ('s1', :url, '*/5 * * * *', TRUE, 'low',"
                " :at, :at, 'j1', 3)"
            ),
            {"url": URL, "at": START.replace(tzinfo=None)},
        )

    commands.upgrade(db, target=revision)

    with db.engine.connect() as connection:
        stored = connection.execute(
            sa.text(
                "SELECT url, cron, active, priority, last_job_id, skipped_ticks,"
                " consecutive_failures, counted_job_id, paused_at, pause_reason"
                " FROM schedules WHERE id = 's1'"
            )
        ).one()
    assert (stored.url, stored.cron, bool(stored.active), stored.priority) == (
        URL,
        "*/5 * * * *",
        True,
        "low",
    )
    assert (stored.last_job_id, stored.skipped_ticks) == ("j1", 3)
    assert (stored.consecutive_failures, stored.counted_job_id) == (0, None)
    assert (stored.paused_at, stored.pause_reason) == (None, None)
    db.dispose()
