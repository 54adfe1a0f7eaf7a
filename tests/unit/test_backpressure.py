"""Back-pressure: past ``MAX_QUEUED_JOBS`` a submission is refused whole, nothing stored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from statemachine.states import State
from statemachine.transitions import transition
from tests.support import FakeDispatcher
from worker.cli import app
from worker.clock import utcnow
from worker.errors import QueueFull
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob
from worker.submit.backpressure import queued_jobs
from worker.submit.batch import submit_batch, submit_urls


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return len(session.exec(select(ScanJob)).all()), len(session.exec(select(AuditLog)).all())


def _urls(count: int, *, tag: str = "p") -> list[str]:
    return [f"http://127.0.0.1:8000/{tag}{index}" for index in range(count)]


@pytest.mark.backends
def test_a_batch_past_the_limit_is_refused_whole(db: Database) -> None:
    dispatcher = FakeDispatcher()
    first = submit_urls(_urls(3), db=db, dispatcher=dispatcher, max_queued=4)
    with pytest.raises(QueueFull) as refused:
        submit_urls(_urls(2, tag="q"), db=db, dispatcher=dispatcher, max_queued=4)
    assert (refused.value.queued, refused.value.submitted, refused.value.limit) == (3, 2, 4)
    assert "nothing was submitted" in str(refused.value)
    assert _counts(db) == (3, 3)
    assert dispatcher.dispatched == first
    # What still fits is taken.
    [last] = submit_urls(_urls(1, tag="r"), db=db, dispatcher=dispatcher, max_queued=4)
    assert _counts(db) == (4, 4)
    assert dispatcher.dispatched == [*first, last]


def test_only_queued_jobs_count(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [job_id] = submit_urls(_urls(1), db=db, dispatcher=dispatcher, max_queued=1)
    with pytest.raises(QueueFull):
        submit_urls(_urls(1, tag="q"), db=db, dispatcher=dispatcher, max_queued=1)
    with db.write() as connection:
        assert transition(
            connection,
            job_id=job_id,
            source=State.QUEUED,
            target=State.FETCHING,
            version=1,
            actor="test",
            now=utcnow(),
        )
    submit_urls(_urls(1, tag="q"), db=db, dispatcher=dispatcher, max_queued=1)
    assert _counts(db)[0] == 2


def test_duplicates_need_no_room(db: Database) -> None:
    dispatcher = FakeDispatcher()
    window = timedelta(minutes=10)
    [job_id] = submit_urls(
        _urls(1), db=db, dispatcher=dispatcher, max_queued=1, dedup_window=window
    )
    [again] = submit_batch(
        _urls(1), db=db, dispatcher=dispatcher, max_queued=1, dedup_window=window
    )
    assert (again.job_id, again.duplicate) == (job_id, True)
    assert _counts(db) == (1, 1)


def test_no_limit_by_default(db: Database) -> None:
    submit_urls(_urls(5), db=db, dispatcher=FakeDispatcher())
    assert _counts(db) == (5, 5)


def test_the_count_stops_past_the_cap_and_reads_the_state_index(db: Database) -> None:
    submit_urls(_urls(7), db=db, dispatcher=FakeDispatcher())
    with db.write() as connection:
        assert queued_jobs(connection, cap=3) == 3
        assert queued_jobs(connection, cap=100) == 7
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM (SELECT 1 FROM scan_jobs "
            "WHERE state = 'QUEUED' LIMIT 3)"
        ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING COVERING INDEX ix_scan_jobs_state_created (state=?)" in details
    assert "SCAN scan_jobs" not in details.replace("SCAN scan_jobs USING", "")


def test_cli_submit_past_the_limit_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"file:{tmp_path / 'scanbox.db'}"
    db = Database(url=url)
    submit_urls(_urls(2), db=db, dispatcher=FakeDispatcher())
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    # Nothing listens there: a refused submission never reaches Redis.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("MAX_QUEUED_JOBS", "2")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["submit", "http://127.0.0.1:8000/more"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "scanbox: error: the queue is full: 2 jobs are QUEUED and MAX_QUEUED_JOBS is 2, so 1 "
        "more can't be taken; nothing was submitted (try again later)"
    ]
    with db.read() as session:
        assert session.exec(select(sa.func.count()).select_from(ScanJob)).one() == 2
    db.dispose()
