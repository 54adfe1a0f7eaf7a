"""The reconciler looks at every QUEUED job, not only the oldest batch of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import FakeDispatcher
from worker.ops import reconcile as reconciling
from worker.ops.reconcile import reconcile
from worker.store.database import Database
from worker.submit.batch import submit_urls

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@dataclass
class PendingDispatcher(FakeDispatcher):
    """A dispatcher whose queues hold RQ jobs for ``pending`` (what RQDispatcher reads)."""

    pending: set[str] = field(default_factory=set)

    def pending_job_ids(self, *, overdue_before: datetime | None = None) -> set[str]:
        return set(self.pending)


def test_lost_jobs_behind_a_long_backlog_are_dispatched_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconciling, "RECONCILE_BATCH", 50)
    ids = submit_urls(
        [f"http://127.0.0.1/{n}" for n in range(230)],
        db=db,
        dispatcher=FakeDispatcher(),
        clock=lambda: NOW - timedelta(minutes=5),
    )
    lost = {ids[60], ids[170], ids[229]}
    dispatcher = PendingDispatcher(pending=set(ids) - lost)
    again = reconcile(
        db=db,
        dispatcher=dispatcher,  # type: ignore[arg-type]
        now=NOW,
        older_than=timedelta(seconds=10),
    )
    assert set(again) == lost
    assert sorted(dispatcher.dispatched) == sorted(lost)
