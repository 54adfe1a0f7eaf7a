"""Metrics of one process, served over HTTP; each scan attempt counted from its audit rows."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta

from tests.clocks import ManualClock
from tests.support import FakeDispatcher, FakeRunner
from tests.unit.scanners import NOW, make_scanner
from worker.errors import ContainerCrashed
from worker.store.database import Database
from worker.submit.batch import submit_urls
from worker.telemetry.instrument import InstrumentedScanner
from worker.telemetry.metrics import Metrics, SystemCollector, serve_metrics
from worker.telemetry.runs import RunRecorder


@dataclass
class FakeRedis:
    """The one Redis call the collector makes: ``llen`` of a queue's list."""

    lengths: dict[str, int] = field(default_factory=dict)

    def llen(self, name: str) -> int:
        return self.lengths.get(name, 0)


def _scrape(metrics: Metrics) -> str:
    server = serve_metrics(metrics, host="127.0.0.1", port=0)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    finally:
        server.stop()


def _instrumented(db: Database, runner: FakeRunner, metrics: Metrics) -> InstrumentedScanner:
    clock = ManualClock(NOW)
    recorder = RunRecorder(
        db=db, kind="worker", name="w1", clock=clock, flush_every=timedelta(hours=1)
    ).start()
    return InstrumentedScanner(
        scanner=make_scanner(db, runner),
        db=db,
        worker_id="w1",
        recorder=recorder,
        metrics=metrics,
        clock=clock,
    )


def test_scans_are_counted_by_outcome_with_their_transitions(db: Database) -> None:
    metrics = Metrics()
    # The first attempt crashes (FAILED); the next prints a valid report (COMPLETED).
    runner = FakeRunner(
        behaviours=[ContainerCrashed(exit_code=3, oom_killed=False, stderr_tail="boom")]
    )
    instrumented = _instrumented(db, runner, metrics)
    ids = submit_urls(
        ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"],
        db=db,
        dispatcher=FakeDispatcher(),
        clock=lambda: NOW,
    )
    assert instrumented.scan(ids[0]) is not None
    assert instrumented.scan(ids[1]) is not None
    assert instrumented.scan(ids[1]) is None  # already done: skipped
    counts = instrumented.recorder.counts
    assert (counts.processed, counts.succeeded, counts.failed, counts.skipped) == (3, 1, 1, 1)
    page = _scrape(metrics)
    assert 'scanbox_transitions_total{from_state="QUEUED",to_state="FETCHING"} 2.0' in page
    assert 'scanbox_transitions_total{from_state="FETCHING",to_state="FAILED"} 1.0' in page
    assert 'scanbox_transitions_total{from_state="FETCHING",to_state="ANALYZING"} 1.0' in page
    assert 'scanbox_transitions_total{from_state="ANALYZING",to_state="COMPLETED"} 1.0' in page
    assert 'scanbox_scan_duration_seconds_count{state="COMPLETED"} 1.0' in page
    assert 'scanbox_scan_duration_seconds_count{state="FAILED"} 1.0' in page


def test_system_gauges_are_read_when_scraped(db: Database) -> None:
    metrics = Metrics()
    redis = FakeRedis({"rq:queue:scan-jobs": 4})
    metrics.registry.register(
        SystemCollector(
            db=db,
            redis=redis,  # type: ignore[arg-type]
            queue_names=["scan-jobs:high", "scan-jobs"],
        )
    )
    submit_urls(["http://127.0.0.1:9/"], db=db, dispatcher=FakeDispatcher())
    page = _scrape(metrics)
    assert 'scanbox_jobs{state="QUEUED"} 1.0' in page
    assert 'scanbox_jobs{state="COMPLETED"} 0.0' in page
    assert 'scanbox_queue_depth{queue="scan-jobs"} 4.0' in page
    assert 'scanbox_queue_depth{queue="scan-jobs:high"} 0.0' in page
    redis.lengths["rq:queue:scan-jobs"] = 0
    assert 'scanbox_queue_depth{queue="scan-jobs"} 0.0' in _scrape(metrics)


def test_schedule_ticks_and_new_jobs_are_counted() -> None:
    metrics = Metrics()
    metrics.ticks.labels(outcome="submitted").inc()
    metrics.count_transitions([(None, "QUEUED")])
    page = _scrape(metrics)
    assert 'scanbox_schedule_ticks_total{outcome="submitted"} 1.0' in page
    assert 'scanbox_transitions_total{from_state="none",to_state="QUEUED"} 1.0' in page
