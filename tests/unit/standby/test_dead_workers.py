"""The reaper and standby containers waiting for a job: a dead worker's go, a live one's stay."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.exceptions
import structlog

from tests.support import FakeDispatcher
from worker.containers.spec import LABEL_MANAGED, LABEL_STANDBY, LABEL_WORKER
from worker.ops.reaper import Reaper
from worker.scan.backoff import Backoff
from worker.scan.outcome import OutcomePolicy
from worker.store.database import Database


@dataclass
class Seen:
    """A container as the reaper lists it."""

    name: str
    labels: dict[str, str]
    status: str = "created"
    attrs: dict[str, Any] = field(default_factory=dict)
    removed: bool = False

    @property
    def id(self) -> str:
        return self.name

    def remove(self, *, force: bool) -> None:
        self.removed = force


@dataclass
class Containers:
    seen: list[Seen]

    def list(
        self, *, all: bool, filters: dict[str, list[str]], ignore_removed: bool = False
    ) -> list[Seen]:
        # A container removed between the engine's list and its inspection must not fail
        # the reaper's whole pass.
        assert ignore_removed
        return [container for container in self.seen if not container.removed]


@dataclass
class Docker:
    containers: Containers


@dataclass
class FakeLiveness:
    """A ``Liveness`` that knows which workers are dead, or can't say (Redis is away)."""

    dead_workers: set[str] = field(default_factory=set)
    away: bool = False
    asked: list[set[str]] = field(default_factory=list)

    def dead(self, worker_ids: Collection[str]) -> set[str]:
        self.asked.append(set(worker_ids))
        if self.away:
            raise redis.exceptions.ConnectionError("Redis went away")
        return set(worker_ids) & self.dead_workers


def _standby(name: str, worker: str | None, *, status: str = "created") -> Seen:
    labels = {LABEL_MANAGED: "true", LABEL_STANDBY: "true"}
    if worker is not None:
        labels[LABEL_WORKER] = worker
    created = datetime.now(UTC) - timedelta(seconds=5)
    return Seen(
        name=f"scanbox-standby-{name}",
        labels=labels,
        status=status,
        attrs={"Created": created.isoformat().replace("+00:00", "Z")},
    )


def _reaper(db: Database, containers: list[Seen], liveness: FakeLiveness | None) -> Reaper:
    return Reaper(
        db=db,
        dispatcher=FakeDispatcher(),
        outcomes=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=1)),
        deployment="test",
        docker_client=Docker(Containers(containers)),
        liveness=liveness,
    )


def test_a_dead_workers_waiting_containers_are_removed_and_a_live_ones_kept(
    db: Database,
) -> None:
    dead_cold = _standby("a1", "dead-worker")
    dead_warm = _standby("a2", "dead-worker", status="running")
    live = _standby("b1", "live-worker", status="running")
    unlabelled = _standby("c1", None)
    liveness = FakeLiveness(dead_workers={"dead-worker"})

    with structlog.testing.capture_logs() as logs:
        removed = _reaper(db, [dead_cold, dead_warm, live, unlabelled], liveness).reap_containers()

    assert sorted(removed) == ["scanbox-standby-a1", "scanbox-standby-a2"]
    assert (dead_cold.removed, dead_warm.removed, live.removed, unlabelled.removed) == (
        True,
        True,
        False,
        False,
    )
    assert liveness.asked == [{"dead-worker", "live-worker"}]
    assert [entry["event"] for entry in logs] == ["dead_workers_standby_removed"] * 2


def test_without_redis_no_worker_is_dead_and_nothing_is_removed(db: Database) -> None:
    waiting = _standby("a1", "dead-worker")

    with structlog.testing.capture_logs() as logs:
        removed = _reaper(db, [waiting], FakeLiveness(away=True)).reap_containers()

    assert removed == []
    assert not waiting.removed
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("reaper_liveness_unknown", "warning")
    ]


def test_without_heartbeats_waiting_containers_are_left_to_their_age(db: Database) -> None:
    waiting = _standby("a1", "some-worker")

    assert _reaper(db, [waiting], None).reap_containers() == []
    assert not waiting.removed
