"""Taking back what dead workers leave: jobs whose lease expired, and orphan containers.

Only this deployment's labelled containers are ever touched. A container is an orphan when
its labels point to no live attempt: its job is not FETCHING or ANALYZING at that attempt.
Containers are listed before the jobs are read, and a container is created only after its
claim is committed, so a live attempt's container is never taken for an orphan. A standby
container not yet given a job belongs to its worker process's pool, and is removed only when
that worker is dead by its heartbeat (``worker.queue.liveness``); a worker beats before its
pool makes any container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import docker
import docker.errors
import redis.exceptions
import sqlalchemy as sa
from docker.models.containers import Container

from statemachine.states import State
from worker.clock import utcnow
from worker.containers.docker_errors import ENGINE_ERRORS
from worker.containers.ownership import container_attempt
from worker.containers.spec import LABEL_DEPLOYMENT, LABEL_HOST, LABEL_MANAGED, LABEL_WORKER
from worker.errors import WorkerLost
from worker.logs import get_logger
from worker.queue.dispatch import Dispatcher
from worker.queue.liveness import DeadWorkers
from worker.scan.claim import Claim
from worker.scan.outcome import OutcomePolicy, settle
from worker.store.database import Database
from worker.store.jobs import expired_leases
from worker.store.models import JOBS

#: Actor written in the audit rows of the reaper's transitions.
REAPER_ACTOR = "reaper"
#: Most expired leases taken back in one pass.
REAP_BATCH = 500
#: States in which a job has a running attempt.
RUNNING = (State.FETCHING.value, State.ANALYZING.value)


@dataclass(frozen=True, kw_only=True)
class ReapReport:
    """What one pass of the reaper did."""

    requeued: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    containers_removed: list[str] = field(default_factory=list)


class Reaper:
    """Finds expired leases and orphan containers, and puts things right."""

    def __init__(
        self,
        *,
        db: Database,
        dispatcher: Dispatcher,
        outcomes: OutcomePolicy,
        deployment: str,
        docker_client: docker.DockerClient | None = None,
        liveness: DeadWorkers | None = None,
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.outcomes = outcomes
        self.deployment = deployment
        self.docker_client = docker_client
        #: The workers' heartbeats: a dead worker's unused standby containers are removed.
        self.liveness = liveness

    def reap(self, *, now: datetime, host: str | None = None) -> ReapReport:
        """Take back expired leases, then remove orphan containers (of ``host`` only, if set)."""
        requeued, discarded = self.reap_leases(now=now)
        removed = self.reap_containers(host=host)
        return ReapReport(requeued=requeued, discarded=discarded, containers_removed=removed)

    def reap_leases(self, *, now: datetime) -> tuple[list[str], list[str]]:
        """Move jobs whose lease expired back to QUEUED (or DISCARDED); return both lists."""
        rows = expired_leases(self.db, states=RUNNING, now=now, limit=REAP_BATCH)
        requeued: list[str] = []
        discarded: list[str] = []
        for row in rows:
            job = row.job
            settlement = settle(
                WorkerLost(f"worker {row.worker_id} stopped renewing its lease"),
                claim=Claim.of(job, attempt=job.attempts, version=job.version),
                source=State(row.state),
                version=job.version,
                db=self.db,
                dispatcher=self.dispatcher,
                policy=self.outcomes,
                actor=REAPER_ACTOR,
                now=now,
            )
            if settlement.state is State.QUEUED:
                requeued.append(job.job_id)
            elif settlement.state is State.DISCARDED:
                discarded.append(job.job_id)
        return requeued, discarded

    def reap_containers(self, *, host: str | None = None) -> list[str]:
        """Remove this deployment's containers that belong to no live attempt; return names."""
        if self.docker_client is None:
            return []
        labels = [LABEL_MANAGED, f"{LABEL_DEPLOYMENT}={self.deployment}"]
        if host is not None:
            labels.append(f"{LABEL_HOST}={host}")
        try:
            containers = self.docker_client.containers.list(
                all=True, filters={"label": labels}, ignore_removed=True
            )
        except ENGINE_ERRORS as error:
            get_logger().warning("reaper_docker_unavailable", error=str(error))
            return []
        if not containers:
            return []
        now = utcnow()
        owners = [(container, container_attempt(container, now=now)) for container in containers]
        job_ids = {owner[0] for _, owner in owners if owner is not None}
        with self.db.read() as session:
            live = {
                (row.id, row.attempts)
                for row in session.execute(
                    sa.select(JOBS.c.id, JOBS.c.attempts).where(
                        JOBS.c.id.in_(job_ids), JOBS.c.state.in_(RUNNING)
                    )
                )
            }
        waiting = [container for container, owner in owners if owner is None]
        dead = self._dead_workers(waiting)
        removed: list[str] = []
        for container, owner in owners:
            if owner is None:
                # A standby container waiting for a job: its worker's pool has it, unless
                # that worker is dead.
                worker = (container.labels or {}).get(LABEL_WORKER, "")
                if worker in dead and self._remove(container, job_id=None):
                    removed.append(container.name or container.id or "")
                    get_logger().info(
                        "dead_workers_standby_removed", dead_worker=worker, container=container.name
                    )
                continue
            job_id, attempt = owner
            if (job_id, attempt) in live:
                continue
            if self._remove(container, job_id=job_id):
                removed.append(container.name or container.id or "")
                get_logger(job_id=job_id, attempt=attempt).info(
                    "orphan_container_removed", container=container.name
                )
        return removed

    def _dead_workers(self, waiting: list[Container]) -> set[str]:
        """The workers of ``waiting`` standby containers that their heartbeats say are dead."""
        workers = {(c.labels or {}).get(LABEL_WORKER, "") for c in waiting} - {""}
        if self.liveness is None or not workers:
            return set()
        try:
            return self.liveness.dead(workers)
        except redis.exceptions.RedisError as error:
            # Without Redis nothing is known to be dead: the containers stay for now.
            get_logger().warning("reaper_liveness_unknown", error=str(error))
            return set()

    @staticmethod
    def _remove(container: Container, *, job_id: str | None) -> bool:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return False
        except ENGINE_ERRORS as error:
            get_logger(job_id=job_id).warning("orphan_not_removed", error=str(error))
            return False
        return True
