"""Scheduler replicas as real processes, with a real worker, Redis and Docker.

Ticks come every two seconds (a cron with a seconds field) and the schedulers re-read the table
every second, so several ticks and refreshes pass in a few seconds of real time. Edits are made
with plain SQL on the schedules table, as an operator would. Every check about "after the edit"
compares with the moment the edit was committed: a tick re-reads the schedule row in its own
write transaction, so no tick can act on the old row after that moment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from statemachine.states import TERMINAL, State
from tests.integration.conftest import settings_from
from tests.services import WorkerProcesses, free_port, poll, worker_processes
from tests.sites import serve
from worker.app.database import open_database
from worker.store.database import Database
from worker.store.models import SCHEDULES, AuditLog, RunRecord, ScanJob, Schedule, ScheduleTick

PAGE = b"<!doctype html><title>watched</title><p>scanbox</p>"
#: Every two seconds, on even seconds.
EVEN_SECONDS = "* * * * * */2"
#: Every two seconds, on odd seconds.
ODD_SECONDS = "* * * * * 1-59/2"


def _env(scan_env: dict[str, str]) -> dict[str, str]:
    return scan_env | {"SCHEDULER_REFRESH_MS": "1000", "RUN_STATS_FLUSH_MS": "0"}


def _scanbox(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _update(db: Database, schedule_id: str, **values: object) -> datetime:
    """Edit the schedule row with SQL; return when the edit was committed."""
    db.run_write(
        lambda connection: connection.execute(
            sa.update(SCHEDULES).where(SCHEDULES.c.id == schedule_id).values(**values)
        )
    )
    return datetime.now(UTC)


def _ticks(db: Database) -> list[ScheduleTick]:
    with db.read() as session:
        return list(session.exec(select(ScheduleTick).order_by(col(ScheduleTick.tick_at))))


def _jobs(db: Database) -> list[ScanJob]:
    with db.read() as session:
        return list(session.exec(select(ScanJob).order_by(col(ScanJob.created_at))))


def _events(log: Path) -> list[dict[str, Any]]:
    """Every line of a process's log, parsed (each must be one JSON object)."""
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for event in events:
        event["at"] = datetime.fromisoformat(event["timestamp"])
    return events


def _refreshes_after(log: Path, moment: datetime) -> list[datetime]:
    """When each refresh that read the table after ``moment`` was logged (it reads first)."""
    return [
        event["at"]
        for event in _events(log)
        if event["event"] == "schedules_refreshed"
        and datetime.fromisoformat(event["read_at"]) > moment
    ]


@contextmanager
def _worker_and_schedulers(
    env: dict[str, str], tmp_path: Path, *scheduler_args: list[str]
) -> Iterator[WorkerProcesses]:
    """One worker process, and a scheduler for each ``scheduler_args``; yield the schedulers."""
    with (
        worker_processes(env, tmp_path) as workers,
        worker_processes(env, tmp_path, command="scheduler") as schedulers,
    ):
        workers.start("--concurrency", "1")
        for args in scheduler_args:
            schedulers.start(*args)
        yield schedulers


def _wait_for_refreshes(logs: list[Path], *, after: datetime, count: int) -> None:
    """Wait until every scheduler has logged ``count`` refreshes after ``after``."""
    for log in logs:
        poll(
            lambda: True if len(_refreshes_after(log, after)) >= count else None,  # noqa: B023
            timeout_s=30,
            what=f"{count} refreshes of {log.name} after {after.isoformat()}",
        )


def test_two_scheduler_replicas_fire_one_scan_per_tick(
    scan_env: dict[str, str], tmp_path: Path
) -> None:
    env = _env(scan_env)
    ports = [free_port(), free_port()]
    db = open_database(settings_from(env))
    with serve() as site:
        site.page("/watched", PAGE)
        schedule_id = _scanbox(env, "schedule", "add", site.url("/watched"), "--cron", EVEN_SECONDS)
        with _worker_and_schedulers(
            env, tmp_path, *[["--metrics-port", str(port)] for port in ports]
        ) as schedulers:

            def enough() -> bool | None:
                done = [job for job in _jobs(db) if job.state == State.COMPLETED]
                submitted = [tick for tick in _ticks(db) if tick.outcome == "submitted"]
                return True if len(done) >= 3 and len(submitted) >= 4 else None

            poll(enough, timeout_s=90, what="four scheduled scans, three of them completed")
            pages = [_scrape(port) for port in ports]
            schedulers.stop_all()
    ticks = _ticks(db)
    jobs = _jobs(db)
    submitted = [tick for tick in ticks if tick.outcome == "submitted"]
    assert len({tick.tick_at for tick in ticks}) == len(ticks)
    assert all(tick.tick_at.second % 2 == 0 and tick.tick_at.microsecond == 0 for tick in ticks)
    assert sorted(job.id for job in jobs) == sorted(tick.job_id or "" for tick in submitted)
    assert {job.url for job in jobs} == {site.url("/watched")}
    with db.read() as session:
        creators = [
            row.actor
            for row in session.exec(select(AuditLog).where(col(AuditLog.from_state).is_(None)))
        ]
        runs = list(session.exec(select(RunRecord).where(RunRecord.kind == "scheduler")))
        schedule = session.get(Schedule, schedule_id)
    assert len(creators) == len(jobs)
    assert all(actor.startswith("scheduler:") for actor in creators)
    # Each replica tried each tick: one fired it, the other found it taken.
    assert [run.status for run in runs] == ["finished", "finished"]
    assert sum(run.processed for run in runs) == len(ticks)
    assert sum(run.succeeded for run in runs) == len(submitted)
    assert sum(run.skipped for run in runs) == len(ticks) - len(submitted)
    assert sum((run.detail or {}).get("lost", 0) for run in runs) >= 1
    assert schedule is not None
    assert schedule.last_job_id == submitted[-1].job_id
    assert schedule.skipped_ticks == len(ticks) - len(submitted)
    # A tick is skipped only while the schedule's previous scan is unfinished.
    for tick in ticks:
        if tick.outcome == "skipped":
            earlier = [job for job in jobs if job.created_at < tick.created_at]
            assert earlier
    assert all("scanbox_schedule_ticks_total" in page for page in pages)
    assert any('scanbox_schedule_ticks_total{outcome="submitted"}' in page for page in pages)
    assert all("scanbox_jobs{" in page and "scanbox_queue_depth{" in page for page in pages)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_edits_and_disabling_in_the_database_take_effect_within_one_refresh(
    scan_env: dict[str, str], tmp_path: Path
) -> None:
    env = _env(scan_env)
    db = open_database(settings_from(env))
    logs = [tmp_path / "scheduler-0.log", tmp_path / "scheduler-1.log"]
    with serve() as site:
        site.page("/a", PAGE)
        site.page("/b", PAGE)
        schedule_id = _scanbox(env, "schedule", "add", site.url("/a"), "--cron", EVEN_SECONDS)
        with _worker_and_schedulers(env, tmp_path, [], []) as schedulers:

            def finished(url: str) -> bool | None:
                return (
                    True
                    if any(job.url == url and State(job.state) in TERMINAL for job in _jobs(db))
                    else None
                )

            poll(lambda: finished(site.url("/a")), timeout_s=60, what="a scan of /a")

            # 1. A new URL: no scan of the old one is submitted once the edit is committed.
            edited = _update(db, schedule_id, url=site.url("/b"))
            poll(lambda: finished(site.url("/b")), timeout_s=60, what="a scan of /b")
            assert {job.url for job in _jobs(db) if job.created_at > edited} == {site.url("/b")}

            # 2. A new cron expression: ticks move to odd seconds.
            edited = _update(db, schedule_id, cron=ODD_SECONDS)

            def odd_tick() -> bool | None:
                return True if any(t.tick_at.second % 2 for t in _ticks(db)) else None

            poll(odd_tick, timeout_s=60, what="a tick on an odd second")
            assert all(t.tick_at.second % 2 for t in _ticks(db) if t.created_at > edited)
            _wait_for_refreshes(logs, after=edited, count=1)
            for log in logs:
                changed = [
                    event["at"]
                    for event in _events(log)
                    if event["event"] == "schedule_changed" and event["at"] > edited
                ]
                assert changed
                assert changed[0] <= _refreshes_after(log, edited)[0]

            # 3. Disabled: dropped at each replica's next refresh at the latest; no tick after.
            disabled = _update(db, schedule_id, active=False)
            _wait_for_refreshes(logs, after=disabled, count=2)
            assert [t for t in _ticks(db) if t.created_at > disabled] == []
            for log in logs:
                dropped = [
                    event["at"]
                    for event in _events(log)
                    if event["event"] == "schedule_dropped" and event["at"] > disabled
                ]
                assert len(dropped) == 1
                assert dropped[0] <= _refreshes_after(log, disabled)[0]

            # 4. Enabled with an invalid expression: reported on the row; still no tick.
            broken = _update(db, schedule_id, active=True, cron="61 * * * * *")

            def reported() -> bool | None:
                with db.read() as session:
                    row = session.get(Schedule, schedule_id)
                return True if row is not None and row.error else None

            poll(reported, timeout_s=30, what="the invalid cron reported on the row")
            _wait_for_refreshes(logs, after=broken, count=2)
            schedulers.stop_all()
    assert [t for t in _ticks(db) if t.created_at > disabled] == []
    with db.read() as session:
        row = session.get(Schedule, schedule_id)
    assert row is not None
    assert row.error is not None
    assert "61 * * * * *" in row.error
    assert row.next_run_at is None
    for log in logs:
        invalid = [e for e in _events(log) if e["event"] == "schedule_invalid" and e["at"] > broken]
        assert len(invalid) == 1  # reported once, not at every refresh
        assert invalid[0]["schedule"] == schedule_id
