"""Schedules that keep failing, with a real scheduler, worker, Redis and fetcher containers.

Two schedules tick every two seconds: one scans a loopback port that accepts and never
answers (every scan TIMED_OUT), the other a page whose first two answers come too late and
the rest at once (two TIMED_OUT, then COMPLETED). With ``SCHEDULE_MAX_FAILURES=3`` the first is
paused after its third scan and submits no more; the second recovers and never is.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sqlmodel import col, select

from statemachine.states import TERMINAL, State
from tests.integration.conftest import settings_from
from tests.integration.test_scheduling import (
    EVEN_SECONDS,
    _env,
    _events,
    _scanbox,
    _worker_and_schedulers,
)
from tests.services import poll
from tests.sites import serve, silent_listener
from worker.app.database import open_database
from worker.schedule.schedules import get_schedule
from worker.store.database import Database
from worker.store.models import ScanJob, Schedule

PAGE = b"<!doctype html><title>back</title><p>up again</p>"
#: Answers that come later than the fetch's deadline before the target recovers.
SLOW_ANSWERS = 2


def _scans(db: Database, url: str) -> list[ScanJob]:
    with db.read() as session:
        return list(
            session.exec(
                select(ScanJob).where(ScanJob.url == url).order_by(col(ScanJob.created_at))
            )
        )


def _paused(db: Database, schedule_id: str) -> Schedule | None:
    schedule = get_schedule(db, schedule_id)
    return schedule if schedule.paused_at is not None else None


def test_a_target_that_always_fails_pauses_its_schedule_and_one_that_recovers_does_not(
    scan_env: dict[str, str], tmp_path: Path
) -> None:
    env = _env(scan_env) | {
        "SCHEDULE_MAX_FAILURES": "3",
        "FETCH_TIMEOUT_MS": "400",
        "CONTAINER_TIMEOUT_MS": "15000",
        "HOST_RATE_LIMIT": "0",
    }
    db = open_database(settings_from(env))
    answered = threading.Event()
    slow: list[int] = []

    def recovering(request: BaseHTTPRequestHandler) -> None:
        slow.append(1)
        if len(slow) <= SLOW_ANSWERS:
            answered.wait(3)  # far past the fetch's deadline: the scan times out
        try:
            request.send_response(200)
            request.send_header("Content-Type", "text/html")
            request.send_header("Content-Length", str(len(PAGE)))
            request.end_headers()
            request.wfile.write(PAGE)
        except (BrokenPipeError, ConnectionResetError):
            return  # the fetcher gave up waiting, as it should have

    with silent_listener() as port, serve() as site:
        site.routes["/flaky"] = recovering
        dead_url = f"http://127.0.0.1:{port}/never"
        flaky_url = site.url("/flaky")
        dead = _scanbox(env, "schedule", "add", dead_url, "--cron", EVEN_SECONDS)
        flaky = _scanbox(env, "schedule", "add", flaky_url, "--cron", EVEN_SECONDS)
        with _worker_and_schedulers(env, tmp_path, []) as schedulers:
            paused = poll(
                lambda: _paused(db, dead),
                timeout_s=120,
                what="the schedule of the dead target to be paused",
            )
            paused_at = datetime.now(UTC)
            # The recovering target's scans go on: wait for two submitted after the pause,
            # and for its count to be back at zero after a completed scan.
            poll(
                lambda: (
                    True
                    if sum(job.created_at > paused_at for job in _scans(db, flaky_url)) >= 2
                    and get_schedule(db, flaky).consecutive_failures == 0
                    and any(job.state == State.COMPLETED for job in _scans(db, flaky_url))
                    else None
                ),
                timeout_s=120,
                what="two more scans of the recovering target, one of them completed",
            )
            listed = json.loads(_scanbox(env, "schedule", "list", "--json"))
            log = Path(schedulers.logs or tmp_path) / "scheduler-0.log"
        answered.set()

    dead_scans = _scans(db, dead_url)
    assert [job.state for job in dead_scans] == [State.TIMED_OUT] * 3
    assert (paused.active, paused.consecutive_failures, paused.next_run_at) == (False, 3, None)
    assert paused.counted_job_id == dead_scans[-1].id
    assert paused.pause_reason is not None
    assert paused.pause_reason.endswith(f"job {dead_scans[-1].id}, ended TIMED_OUT (fetch_timeout)")
    rows = {row["id"]: row for row in listed}
    assert rows[dead]["consecutive_failures"] == 3
    assert rows[dead]["pause_reason"] == paused.pause_reason
    assert rows[flaky]["paused_at"] is None

    flaky_scans = _scans(db, flaky_url)
    finished = [job.state for job in flaky_scans if State(job.state) in TERMINAL]
    assert finished[:SLOW_ANSWERS] == [State.TIMED_OUT] * SLOW_ANSWERS
    assert set(finished[SLOW_ANSWERS:]) == {State.COMPLETED}
    assert get_schedule(db, flaky).paused_at is None

    warnings = [event for event in _events(log) if event["event"] == "schedule_paused"]
    assert [(event["schedule"], event["level"]) for event in warnings] == [(dead, "warning")]

    assert _scanbox(env, "schedule", "enable", dead) == f"{dead} enabled"
    enabled = get_schedule(db, dead)
    assert (enabled.active, enabled.consecutive_failures, enabled.paused_at) == (True, 0, None)
