"""Housekeeping: an outage in a chore is a warning and waits for the next round; a bug is not."""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from redis import Redis

from tests.support import FakeDispatcher
from worker.errors import DatabaseBusy, IllegalTransition, ScanboxError
from worker.ops.housekeeping import Housekeeper
from worker.ops.reaper import Reaper, ReapReport
from worker.queue.dispatch import RQDispatcher
from worker.scan.backoff import Backoff
from worker.scan.outcome import OutcomePolicy
from worker.store.database import Database

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


class FakeLockRedis:
    """The one Redis call housekeeping makes itself: taking the round's lock."""

    def set(self, name: str, value: str, *, nx: bool, px: int) -> bool:
        return True


class FailingReaper(Reaper):
    """A reaper whose pass raises ``error``."""

    def __init__(self, db: Database, error: Exception) -> None:
        super().__init__(
            db=db,
            dispatcher=FakeDispatcher(),
            outcomes=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=1, rng=random.Random(1))),
            deployment="test",
        )
        self.error = error
        self.calls = 0

    def reap(self, *, now: datetime, host: str | None = None) -> ReapReport:
        self.calls += 1
        raise self.error


def _housekeeper(db: Database, reaper: Reaper) -> Housekeeper:
    return Housekeeper(
        db=db,
        redis=cast(Redis, FakeLockRedis()),
        dispatcher=cast(RQDispatcher, FakeDispatcher()),
        reaper=reaper,
        interval=timedelta(seconds=1),
        reconcile_after=timedelta(seconds=10),
        lock_name="test:housekeeping",
        clock=lambda: NOW,
    )


def _events(logs: list[MutableMapping[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["event"], entry["log_level"]) for entry in logs]


def test_an_outage_is_a_warning_and_the_next_round_tries_again(db: Database) -> None:
    reaper = FailingReaper(db, DatabaseBusy("database stayed locked"))
    housekeeper = _housekeeper(db, reaper)
    with structlog.testing.capture_logs() as logs:
        housekeeper.run_once()
        housekeeper.run_once()
    assert reaper.calls == 2
    assert (
        _events(logs)
        == [
            ("housekeeping_round", "debug"),
            ("housekeeping_failed", "warning"),
        ]
        * 2
    )


def test_an_illegal_transition_is_a_bug_logged_as_an_error_with_its_traceback(
    db: Database,
) -> None:
    reaper = FailingReaper(db, IllegalTransition("a" * 32, "COMPLETED", "QUEUED"))
    with structlog.testing.capture_logs() as logs:
        _housekeeper(db, reaper).run_once()
    assert _events(logs) == [("housekeeping_round", "debug"), ("housekeeping_bug", "error")]
    assert logs[1]["exc_info"] is True
    assert logs[1]["chore"] == "reap"


def test_an_illegal_transition_is_no_scanbox_error() -> None:
    # So that no handler of expected errors can take it for one.
    assert not issubclass(IllegalTransition, ScanboxError)
