"""A scanner on fakes, for unit tests of the hooks around a scan (politeness, conditions)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.support import FakeDispatcher, FakeRunner
from worker.containers.engine import EngineWatch
from worker.containers.spec import Limits
from worker.scan.backoff import Backoff
from worker.scan.gate import HostGate
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import FetcherArgs, Scanner
from worker.store.database import Database

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def make_scanner(
    db: Database,
    runner: FakeRunner,
    *,
    gate: HostGate | None = None,
    conditional: bool = False,
    engine: EngineWatch | None = None,
) -> Scanner:
    """A scanner whose container runs are ``runner``'s and whose clock stands at ``NOW``."""
    return Scanner(
        db=db,
        runner=runner,
        dispatcher=FakeDispatcher(),
        worker_id="w1",
        limits=Limits(timeout_ms=5000, memory_limit_mb=256, cpu_limit=0.5, pids_limit=64),
        fetch=FetcherArgs(timeout_ms=4000, max_body_bytes=1 << 20, allowed_ports="any"),
        outcomes=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=10, rng=random.Random(1))),
        gate=gate,
        conditional=conditional,
        engine=engine,
        clock=lambda: NOW,
    )


@dataclass
class FakeRateLimiter:
    """A ``RateLimiter`` that answers each host with a scripted wait and records holds."""

    waits: dict[str, float] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    holds: list[tuple[str, float]] = field(default_factory=list)

    def acquire(self, host: str) -> float:
        self.asked.append(host)
        return self.waits.get(host, 0.0)

    def hold(self, host: str, *, seconds: float) -> None:
        self.holds.append((host, seconds))


@dataclass
class FakeDeferrals:
    """``Deferrals`` that record what was deferred; ``pending_ids`` are still to come."""

    deferred: list[tuple[str, str, int, float]] = field(default_factory=list)
    pending_ids: set[str] = field(default_factory=set)

    def pending(self, job_id: str) -> bool:
        return job_id in self.pending_ids

    def defer(self, job_id: str, *, priority: str, attempt: int, delay_s: float) -> None:
        self.deferred.append((job_id, priority, attempt, delay_s))
