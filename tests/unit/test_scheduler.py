"""The scheduler replica driven by a hand-moved clock: ticks, replicas, skips, edits, errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import redis.exceptions
import sqlalchemy as sa
from sqlmodel import col, select

from statemachine.states import State
from statemachine.transitions import transition
from tests.clocks import ManualClock
from tests.support import FakeDispatcher
from worker.errors import DatabaseBusy
from worker.schedule.scheduler import Scheduler
from worker.schedule.schedules import add_schedule, get_schedule
from worker.schedule.ticks import Tick
from worker.store.database import Database
from worker.store.models import SCHEDULES, AuditLog, RunRecord, ScanJob, ScheduleTick
from worker.telemetry.runs import RunRecorder

START = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
REFRESH = timedelta(minutes=5)
URL = "http://127.0.0.1:8080/watched"


def _replica(
    db: Database, clock: ManualClock, name: str, recorder: RunRecorder | None = None
) -> tuple[Scheduler, FakeDispatcher]:
    dispatcher = FakeDispatcher()
    scheduler = Scheduler(
        db=db,
        dispatcher=dispatcher,
        replica=name,
        refresh_every=REFRESH,
        max_attempts=3,
        clock=clock,
        recorder=recorder,
    )
    return scheduler, dispatcher


def _jobs(db: Database) -> list[ScanJob]:
    with db.read() as session:
        return list(session.exec(select(ScanJob).order_by(col(ScanJob.created_at))))


def _ticks(db: Database) -> list[ScheduleTick]:
    with db.read() as session:
        return list(session.exec(select(ScheduleTick).order_by(col(ScheduleTick.tick_at))))


def _finish(db: Database, job_id: str, clock: ManualClock) -> None:
    """End a job the way a worker that found it unscannable would: QUEUED -> FAILED."""
    db.run_write(
        lambda connection: transition(
            connection,
            job_id=job_id,
            source=State.QUEUED,
            target=State.FAILED,
            version=1,
            actor="test",
            now=clock(),
        )
    )


def _update(db: Database, schedule_id: str, **values: object) -> None:
    """Edit a schedule row directly, as an operator with SQL would."""
    db.run_write(
        lambda connection: connection.execute(
            sa.update(SCHEDULES).where(SCHEDULES.c.id == schedule_id).values(**values)
        )
    )


def test_two_replicas_fire_each_tick_once(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    first, first_dispatcher = _replica(db, clock, "a")
    second, second_dispatcher = _replica(db, clock, "b")
    first.step()
    second.step()
    for minute in range(1, 6):
        clock.set(START.replace(second=0) + timedelta(minutes=minute, milliseconds=5))
        order = (first, second) if minute % 2 else (second, first)
        for replica in order:
            replica.step()
        [job] = [job for job in _jobs(db) if job.state == State.QUEUED]
        _finish(db, job.id, clock)
    ticks = _ticks(db)
    assert [tick.tick_at.minute for tick in ticks] == [1, 2, 3, 4, 5]
    assert {tick.outcome for tick in ticks} == {"submitted"}
    assert {tick.replica for tick in ticks} == {"a", "b"}
    jobs = _jobs(db)
    assert sorted(job.id for job in jobs) == sorted(tick.job_id or "" for tick in ticks)
    assert {job.url for job in jobs} == {URL}
    dispatched = first_dispatcher.dispatched + second_dispatcher.dispatched
    assert sorted(dispatched) == sorted(job.id for job in jobs)
    stored = get_schedule(db, schedule.id)
    assert stored.last_job_id == ticks[-1].job_id
    assert stored.last_run_at == ticks[-1].tick_at
    assert stored.next_run_at == START.replace(second=0) + timedelta(minutes=6)
    with db.read() as session:
        actors = {row.actor for row in session.exec(select(AuditLog)) if row.from_state is None}
    assert actors == {"scheduler:a", "scheduler:b"}


def test_a_tick_lost_to_another_replica_is_neither_submitted_nor_counted(db: Database) -> None:
    clock = ManualClock(START)
    add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    recorder = RunRecorder(
        db=db, kind="scheduler", name="b", clock=clock, flush_every=timedelta()
    ).start()
    first, _ = _replica(db, clock, "a")
    second, second_dispatcher = _replica(db, clock, "b", recorder)
    first.refresh()
    second.refresh()
    clock.advance(seconds=31)
    [won] = first.fire_due()
    [lost] = second.fire_due()
    assert (won.outcome, lost.outcome) == ("submitted", "lost")
    assert second_dispatcher.calls == []
    recorder.finish()
    with db.read() as session:
        run = session.get(RunRecord, recorder.id)
    assert run is not None
    assert (run.processed, run.succeeded, run.status) == (0, 0, "finished")
    assert run.detail == {"refreshes": 1, "lost": 1}


def test_a_tick_is_skipped_while_the_previous_scan_is_not_finished(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    recorder = RunRecorder(
        db=db, kind="scheduler", name="a", clock=clock, flush_every=timedelta()
    ).start()
    scheduler, dispatcher = _replica(db, clock, "a", recorder)
    scheduler.step()
    outcomes = []
    for _ in range(3):
        clock.advance(minutes=1)
        outcomes += [tick.outcome for tick in scheduler.fire_due()]
    assert outcomes == ["submitted", "skipped", "skipped"]
    [job] = _jobs(db)
    _finish(db, job.id, clock)
    clock.advance(minutes=1)
    assert [tick.outcome for tick in scheduler.fire_due()] == ["submitted"]
    assert len(dispatcher.dispatched) == 2
    assert get_schedule(db, schedule.id).skipped_ticks == 2
    counts = recorder.finish()
    assert (counts.processed, counts.succeeded, counts.skipped) == (4, 2, 2)


def test_missed_ticks_fire_only_the_latest(db: Database) -> None:
    clock = ManualClock(START)
    add_schedule(db, url=URL, cron="*/5 * * * *", clock=clock)
    scheduler, _ = _replica(db, clock, "a")
    scheduler.step()
    clock.advance(hours=1)
    ticks = scheduler.fire_due()
    assert [(tick.outcome, tick.tick_at) for tick in ticks] == [
        ("submitted", datetime(2026, 3, 1, 13, 0, tzinfo=UTC))
    ]
    assert scheduler.plans[ticks[0].schedule_id].next_tick == datetime(
        2026, 3, 1, 13, 5, tzinfo=UTC
    )


def test_a_seconds_field_gives_ticks_more_often_than_each_minute(db: Database) -> None:
    clock = ManualClock(START)
    add_schedule(db, url=URL, cron="* * * * * */2", clock=clock)
    scheduler, _ = _replica(db, clock, "a")
    assert scheduler.step() == 2.0
    seen = []
    for _ in range(3):
        clock.advance(seconds=2)
        for tick in scheduler.fire_due():
            seen.append(tick.tick_at.second)
            _finish(db, tick.job_id or "", clock)
    assert seen == [32, 34, 36]


def test_step_sleeps_until_the_next_tick_or_refresh(db: Database) -> None:
    clock = ManualClock(START)
    scheduler, _ = _replica(db, clock, "a")
    assert scheduler.step() == 60.0  # nothing scheduled: the next refresh, capped
    add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    clock.advance(minutes=5)
    assert scheduler.step() == 30.0  # refreshed at 12:05:30; the next tick is 12:06:00


def test_a_schedule_added_in_the_database_is_picked_up_at_the_next_refresh(
    db: Database,
) -> None:
    clock = ManualClock(START)
    scheduler, _ = _replica(db, clock, "a")
    scheduler.step()
    add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    clock.advance(minutes=2)
    scheduler.step()
    assert _jobs(db) == []  # not refreshed yet: it doesn't know the schedule
    clock.set(START + REFRESH)
    scheduler.step()  # the refresh: loaded, first tick 12:06:00
    clock.advance(seconds=30)
    scheduler.step()
    assert [job.url for job in _jobs(db)] == [URL]


def test_edits_in_the_database_take_effect_within_one_refresh(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    scheduler, _ = _replica(db, clock, "a")
    scheduler.step()
    edited = "http://127.0.0.1:8080/edited"
    _update(db, schedule.id, url=edited, cron="*/10 * * * *")
    clock.set(datetime(2026, 3, 1, 12, 1, tzinfo=UTC))
    assert [tick.outcome for tick in scheduler.fire_due()] == ["stale"]
    assert scheduler.next_refresh == clock()  # a stale tick asks for a refresh at once
    scheduler.step()
    assert scheduler.plans[schedule.id].next_tick == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    assert get_schedule(db, schedule.id).next_run_at == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    clock.set(datetime(2026, 3, 1, 12, 10, tzinfo=UTC))
    scheduler.step()
    assert [job.url for job in _jobs(db)] == [edited]


def test_an_edit_with_no_tick_in_between_is_read_at_the_refresh(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="0 * * * *", clock=clock)
    scheduler, _ = _replica(db, clock, "a")
    scheduler.step()
    _update(db, schedule.id, cron="*/2 * * * *")
    clock.set(START + REFRESH)
    scheduler.step()
    assert scheduler.plans[schedule.id].cron.expression == "*/2 * * * *"
    assert scheduler.plans[schedule.id].next_tick == datetime(2026, 3, 1, 12, 6, tzinfo=UTC)


def test_disabling_or_removing_stops_the_ticks(db: Database) -> None:
    clock = ManualClock(START)
    disabled = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    removed = add_schedule(db, url=URL + "2", cron="* * * * *", clock=clock)
    scheduler, dispatcher = _replica(db, clock, "a")
    scheduler.step()
    _update(db, disabled.id, active=False)
    db.run_write(
        lambda connection: connection.execute(
            sa.delete(SCHEDULES).where(SCHEDULES.c.id == removed.id)
        )
    )
    clock.advance(seconds=30)
    assert {tick.outcome for tick in scheduler.fire_due()} == {"stale"}
    scheduler.step()
    assert scheduler.plans == {}
    for _ in range(3):
        clock.advance(minutes=1)
        scheduler.step()
    assert _jobs(db) == []
    assert dispatcher.calls == []


def test_an_invalid_cron_is_reported_and_skipped_while_the_rest_run(db: Database) -> None:
    clock = ManualClock(START)
    broken = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    healthy = add_schedule(db, url=URL + "/ok", cron="* * * * *", clock=clock)
    _update(db, broken.id, cron="61 * * * *")
    scheduler, _ = _replica(db, clock, "a")
    scheduler.step()
    assert set(scheduler.plans) == {healthy.id}
    stored = get_schedule(db, broken.id)
    assert stored.error is not None
    assert "61 * * * *" in stored.error
    assert stored.next_run_at is None
    clock.advance(seconds=30)
    scheduler.step()
    assert [job.url for job in _jobs(db)] == [URL + "/ok"]
    _update(db, broken.id, cron="*/2 * * * *")
    clock.set(START + REFRESH)
    scheduler.step()
    assert set(scheduler.plans) == {healthy.id, broken.id}
    assert get_schedule(db, broken.id).error is None


def test_a_url_edited_to_something_invalid_is_reported(db: Database) -> None:
    clock = ManualClock(START)
    schedule = add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    _update(db, schedule.id, url="ftp://127.0.0.1/")
    scheduler, _ = _replica(db, clock, "a")
    scheduler.step()
    assert scheduler.plans == {}
    assert "invalid URL" in (get_schedule(db, schedule.id).error or "")


def test_a_failed_dispatch_leaves_the_job_queued_for_the_reconciler(db: Database) -> None:
    clock = ManualClock(START)
    add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    scheduler, dispatcher = _replica(db, clock, "a")
    dispatcher.fail_with = redis.exceptions.ConnectionError("redis is gone")
    scheduler.step()
    clock.advance(seconds=30)
    [tick] = scheduler.fire_due()
    assert isinstance(tick, Tick)
    assert tick.outcome == "submitted"
    [job] = _jobs(db)
    assert job.state == State.QUEUED


def test_a_step_that_fails_on_the_database_is_retried_not_fatal(db: Database) -> None:
    clock = ManualClock(START)
    add_schedule(db, url=URL, cron="* * * * *", clock=clock)
    stop = threading.Event()
    calls: list[datetime] = []

    def chores(now: datetime) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise DatabaseBusy("database stayed locked")
        clock.advance(seconds=30)  # the next tick is due at the following step
        if len(calls) == 3:
            stop.set()

    scheduler, dispatcher = _replica(db, clock, "a")
    scheduler.chores = chores
    scheduler.retry_after = timedelta()
    scheduler.run(stop=stop)
    assert len(calls) == 3
    assert len(dispatcher.dispatched) == 1
