"""Run records and ``scanbox stats``: counting, writing every few seconds, showing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from statemachine.states import State
from tests.clocks import ManualClock
from worker.cli.stats_views import render, snapshot_dict, watch
from worker.schedule.schedules import add_schedule
from worker.store.database import Database
from worker.store.models import RunRecord
from worker.telemetry.runs import RunRecorder, scan_outcome
from worker.telemetry.stats import take_snapshot

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _run(db: Database, run_id: str) -> RunRecord:
    with db.read() as session:
        run = session.get(RunRecord, run_id)
    assert run is not None
    return run


def test_scan_states_map_to_run_outcomes() -> None:
    assert [scan_outcome(state) for state in State] == [
        "retried",  # QUEUED: put back for another attempt
        "failed",  # FETCHING: a scan never returns mid-way; count it against the run
        "failed",  # ANALYZING
        "succeeded",
        "failed",
        "failed",
        "failed",
    ]
    assert scan_outcome(None) == "skipped"


def test_counts_are_written_every_flush_interval_and_at_the_end(db: Database) -> None:
    clock = ManualClock(START)
    recorder = RunRecorder(
        db=db,
        kind="worker",
        name="w1",
        clock=clock,
        flush_every=timedelta(seconds=2),
        group_id="g1",
        job_limit=10,
    ).start()
    recorder.count("succeeded", busy_ms=100)
    clock.advance(seconds=1)
    recorder.count("failed", busy_ms=50)
    stored = _run(db, recorder.id)
    assert (stored.status, stored.processed) == ("running", 0)  # not written yet
    clock.advance(seconds=1)
    recorder.count("skipped")
    stored = _run(db, recorder.id)
    assert (stored.processed, stored.succeeded, stored.failed, stored.skipped) == (3, 1, 1, 1)
    assert stored.updated_at == START + timedelta(seconds=2)
    recorder.count("retried")
    recorder.note("lost", 2)
    clock.advance(seconds=1)
    counts = recorder.finish()
    stored = _run(db, recorder.id)
    assert (stored.status, stored.processed, stored.retried) == ("finished", 4, 1)
    assert stored.busy_ms == counts.busy_ms == 150.0
    assert stored.finished_at == START + timedelta(seconds=3)
    assert stored.detail == {"lost": 2}
    assert (stored.group_id, stored.job_limit) == ("g1", 10)


def test_a_crashed_run_says_so(db: Database) -> None:
    recorder = RunRecorder(
        db=db, kind="scheduler", name="s1", clock=ManualClock(START), flush_every=timedelta()
    ).start()
    recorder.finish(crashed=True)
    assert _run(db, recorder.id).status == "crashed"


def test_stats_show_states_runs_drains_and_schedules(db: Database) -> None:
    clock = ManualClock(START)
    drain = [
        RunRecorder(
            db=db,
            kind="worker",
            name=f"w{index}",
            clock=clock,
            flush_every=timedelta(),
            group_id="drain-1",
            job_limit=8,
        ).start()
        for index in range(2)
    ]
    drain[0].count("succeeded")
    drain[0].count("succeeded")
    drain[1].count("failed")
    drain[1].finish()
    finished = RunRecorder(
        db=db, kind="scheduler", name="s1", clock=clock, flush_every=timedelta()
    ).start()
    finished.count("skipped")
    clock.advance(seconds=10)
    finished.finish()
    add_schedule(db, url="http://127.0.0.1/", cron="* * * * *", clock=clock)
    add_schedule(db, url="http://127.0.0.1/", cron="* * * * *", active=False, clock=clock)
    snapshot = take_snapshot(db, limit=10, clock=clock)
    data = snapshot_dict(snapshot)
    assert data["states"]["QUEUED"] == 0
    assert sorted((run["name"], run["kind"], run["status"]) for run in data["runs"]) == [
        ("s1", "scheduler", "finished"),
        ("w0", "worker", "running"),
        ("w1", "worker", "finished"),
    ]
    assert data["drains"] == [{"group_id": "drain-1", "limit": 8, "processed": 3, "running": True}]
    assert data["schedules"] == {"active": 1, "inactive": 1, "invalid": 0}
    scheduler_run = next(run for run in data["runs"] if run["kind"] == "scheduler")
    assert (scheduler_run["skipped"], scheduler_run["duration_s"]) == (1, 10.0)
    console = Console(record=True, width=160)
    console.print(render(snapshot))
    text = console.export_text()
    assert "COMPLETED" in text
    assert "3/8" in text
    assert "schedules: 1 active, 1 inactive, 0 invalid" in text


def test_watch_redraws_until_told_to_stop(db: Database) -> None:
    clock = ManualClock(START)
    taken: list[datetime] = []
    sleeps: list[float] = []

    def take() -> object:
        taken.append(clock.advance(seconds=1))
        return take_snapshot(db, limit=10, clock=clock)

    console = Console(record=True, width=120, force_terminal=False)
    shown = watch(take, console=console, every_s=0.5, iterations=3, sleep=sleeps.append)  # type: ignore[arg-type]
    assert (shown, len(taken), sleeps) == (3, 3, [0.5, 0.5])
    assert "recent runs" in console.export_text()
