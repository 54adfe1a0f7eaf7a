"""What a worker process tells about its scans: run record, Prometheus metrics, log context.

``worker.app.services.observe_worker`` starts a worker process's run record (and its metrics
endpoint when ``METRICS_PORT`` is set); ``ObservedWorker.wrap`` puts an ``InstrumentedScanner``
around the process's scanner. Each attempt then runs with ``job_id`` and ``worker`` bound to
every log line it causes, is counted in the run record by the state it ended in, and is timed;
the transitions it wrote are counted from its audit rows.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog

from statemachine.states import State
from worker.clock import Clock, utcnow
from worker.logs import get_logger
from worker.store.database import Database
from worker.store.models import AUDIT
from worker.task import ScanRunner
from worker.telemetry.metrics import Metrics, MetricsServer
from worker.telemetry.runs import RunRecorder, scan_outcome


def transitions_by(
    db: Database, *, job_id: str, actor: str, since: datetime
) -> list[tuple[str | None, str]]:
    """The ``(from, to)`` transitions ``actor`` wrote for ``job_id`` from ``since`` on."""
    query = (
        sa.select(AUDIT.c.from_state, AUDIT.c.to_state)
        .where(AUDIT.c.job_id == job_id, AUDIT.c.actor == actor, AUDIT.c.at >= since)
        .order_by(AUDIT.c.id)
    )
    with db.read() as session:
        return [(row.from_state, row.to_state) for row in session.connection().execute(query)]


@dataclass(kw_only=True)
class InstrumentedScanner:
    """A scanner that counts, times and logs each attempt it runs."""

    scanner: ScanRunner
    db: Database
    worker_id: str
    recorder: RunRecorder
    metrics: Metrics | None = None
    clock: Clock = utcnow

    def scan(self, job_id: str) -> State | None:
        since = self.clock()
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(job_id=job_id, worker=self.worker_id):
            try:
                state = self.scanner.scan(job_id)
            except BaseException:
                self.recorder.count("failed", busy_ms=(time.monotonic() - started) * 1000)
                raise
            seconds = time.monotonic() - started
            self.recorder.count(scan_outcome(state), busy_ms=seconds * 1000)
            if self.metrics is not None and state is not None:
                self.metrics.scan_duration.labels(state=state.value).observe(seconds)
                self.metrics.count_transitions(
                    transitions_by(self.db, job_id=job_id, actor=self.worker_id, since=since)
                )
        return state


@dataclass(kw_only=True)
class ObservedWorker:
    """A worker process's run record and metrics, from start to ``close``."""

    db: Database
    worker_id: str
    recorder: RunRecorder
    metrics: Metrics | None = None
    server: MetricsServer | None = None

    def wrap(self, scanner: ScanRunner) -> InstrumentedScanner:
        """``scanner``, counted in this run and in the metrics."""
        return InstrumentedScanner(
            scanner=scanner,
            db=self.db,
            worker_id=self.worker_id,
            recorder=self.recorder,
            metrics=self.metrics,
        )

    def close(self) -> None:
        """Write the final counts (``crashed`` if an exception is on its way out) and stop."""
        crashed = sys.exc_info()[0] is not None and sys.exc_info()[0] is not SystemExit
        counts = self.recorder.finish(crashed=crashed)
        if self.server is not None:
            self.server.stop()
        get_logger(worker=self.worker_id).info("worker_run_recorded", **counts.as_dict())
