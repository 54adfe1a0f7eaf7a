"""Deduplication of submissions: one job per normalised URL within the window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from statemachine.states import State
from statemachine.transitions import transition
from tests.support import FakeDispatcher
from worker.cli import app
from worker.store.database import Database
from worker.store.models import ScanJob
from worker.submit.batch import submit_batch, submit_urls

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def _jobs(db: Database) -> list[ScanJob]:
    with db.read() as session:
        return list(session.exec(select(ScanJob)))


def _move(db: Database, job_id: str, *targets: State) -> None:
    """Walk ``job_id`` from QUEUED through ``targets``, as workers would."""
    source, version = State.QUEUED, 1
    with db.write() as connection:
        for target in targets:
            moved = transition(
                connection,
                job_id=job_id,
                source=source,
                target=target,
                version=version,
                actor="w",
                now=NOW,
            )
            assert moved is not None
            source, version = target, moved


def _submit(db: Database, dispatcher: FakeDispatcher, urls: list[str], **kw: object) -> list[str]:
    options: dict[str, object] = {"dedup_window": WINDOW, "clock": lambda: NOW} | kw
    return submit_urls(urls, db=db, dispatcher=dispatcher, **options)  # type: ignore[arg-type]


def test_a_repeat_within_the_window_returns_the_existing_job(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [first] = _submit(db, dispatcher, ["http://127.0.0.1:8080/page"])
    [again] = _submit(
        db, dispatcher, ["HTTP://127.0.0.1:8080/x/../page#top"], clock=lambda: NOW + WINDOW
    )
    assert again == first
    assert dispatcher.dispatched == [first]
    [job] = _jobs(db)
    assert (job.url, job.url_key) == ("http://127.0.0.1:8080/page", "http://127.0.0.1:8080/page")


def test_the_submission_says_it_is_a_duplicate_and_gives_the_jobs_state(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [first] = _submit(db, dispatcher, ["http://127.0.0.1/"])
    _move(db, first, State.FETCHING)
    [submission] = submit_batch(
        ["http://127.0.0.1"], db=db, dispatcher=dispatcher, dedup_window=WINDOW, clock=lambda: NOW
    )
    assert (submission.job_id, submission.state, submission.duplicate) == (
        first,
        State.FETCHING,
        True,
    )
    assert submission.url == "http://127.0.0.1"


def test_repeats_inside_one_batch_share_a_job(db: Database) -> None:
    dispatcher = FakeDispatcher()
    ids = _submit(
        db, dispatcher, ["http://127.0.0.1/a", "http://127.0.0.1/b", "http://127.0.0.1:80/a"]
    )
    assert ids[0] == ids[2] != ids[1]
    assert dispatcher.calls == [((ids[0], ids[1]), "normal", 0)]
    assert len(_jobs(db)) == 2


def test_after_the_window_a_new_job_is_made(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [first] = _submit(db, dispatcher, ["http://127.0.0.1/"])
    later = NOW + WINDOW + timedelta(seconds=1)
    [second] = _submit(db, dispatcher, ["http://127.0.0.1/"], clock=lambda: later)
    assert second != first
    [third] = _submit(db, dispatcher, ["http://127.0.0.1/"], clock=lambda: later)
    assert third == second, "the newest job is the one returned"


def test_a_zero_window_always_makes_a_new_job(db: Database) -> None:
    dispatcher = FakeDispatcher()
    ids = _submit(db, dispatcher, ["http://127.0.0.1/"] * 2, dedup_window=timedelta(0))
    ids += _submit(db, dispatcher, ["http://127.0.0.1/"], dedup_window=timedelta(0))
    assert len(set(ids)) == 3
    assert len(_jobs(db)) == 3


@pytest.mark.parametrize("ended", [State.FAILED, State.TIMED_OUT, State.DISCARDED])
def test_a_job_that_ended_without_a_result_is_not_reused(db: Database, ended: State) -> None:
    dispatcher = FakeDispatcher()
    [first] = _submit(db, dispatcher, ["http://127.0.0.1/"])
    _move(db, first, State.FETCHING, ended)
    [second] = _submit(db, dispatcher, ["http://127.0.0.1/"])
    assert second != first


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.chdir(tmp_path)
    return Database(url=url)


def test_cli_submit_returns_the_existing_job_and_force_makes_a_new_one(cli_db: Database) -> None:
    [first] = submit_urls(["http://127.0.0.1/x"], db=cli_db, dispatcher=FakeDispatcher())
    runner = CliRunner()
    repeat = runner.invoke(app, ["submit", "--json", "http://127.0.0.1:80/x#again"])
    assert repeat.exit_code == 0, repeat.stderr
    assert json.loads(repeat.stdout) == {"id": first, "state": "QUEUED", "duplicate": True}
    assert f"is already job {first} (QUEUED)" in repeat.stderr
    plain = runner.invoke(app, ["submit", "http://127.0.0.1/x"])
    assert plain.stdout == f"{first}\n"
    forced = runner.invoke(app, ["submit", "--force", "http://127.0.0.1/x"])
    # The new row is stored before the (here unreachable) Redis is asked to wake a worker.
    assert forced.exit_code == 1
    assert "cannot reach Redis" in forced.stderr
    assert len(_jobs(cli_db)) == 2


def test_cli_dedup_window_zero_turns_it_off(
    cli_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_urls(["http://127.0.0.1/x"], db=cli_db, dispatcher=FakeDispatcher())
    monkeypatch.setenv("DEDUP_WINDOW_MS", "0")
    result = CliRunner().invoke(app, ["submit", "http://127.0.0.1/x"])
    assert result.exit_code == 1
    assert len(_jobs(cli_db)) == 2
