"""Building scanbox's parts from the settings: the scanner and what it is made of, the reaper,
a worker process's telemetry (clients in :mod:`worker.app.clients`, containers in
:mod:`worker.app.containers`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import docker
import structlog
from redis import Redis

from worker.analysis.policy import Policy, PolicyFile
from worker.app.clients import dispatcher, liveness
from worker.app.containers import browser_mode, build_runner, container_spec, fetcher_args
from worker.clock import utcnow
from worker.containers.engine import EngineWatch, engine_answers, plain_pause
from worker.ops.reaper import Reaper
from worker.queue.deferral import RedisDeferrals
from worker.queue.dispatch import RQDispatcher, queue_names
from worker.queue.ratelimit import HostRates, Rate, RedisRateLimiter, parse_overrides
from worker.scan.backoff import Backoff
from worker.scan.gate import HoldLimits, HostGate
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import Scanner
from worker.scan.shutdown import Shutdown
from worker.settings import Settings
from worker.store.database import Database
from worker.submit.children import ChildLimits, ChildScans
from worker.telemetry.instrument import ObservedWorker
from worker.telemetry.metrics import metrics_endpoint
from worker.telemetry.runs import RunKind, RunRecorder


def build_reaper(
    settings: Settings,
    *,
    db: Database,
    redis: Redis,
    docker_client: docker.DockerClient | None,
) -> Reaper:
    """The reaper of this deployment's expired leases and stray containers."""
    return Reaper(
        db=db,
        dispatcher=dispatcher(settings, redis),
        outcomes=outcome_policy(settings),
        deployment=settings.deployment,
        docker_client=docker_client,
        liveness=liveness(settings, redis),
    )


def outcome_policy(settings: Settings) -> OutcomePolicy:
    """How failed attempts are settled, from the settings."""
    return OutcomePolicy(
        backoff=Backoff(
            base_s=settings.retry_backoff_ms / 1000,
            maximum_s=settings.retry_backoff_max_ms / 1000,
            rng=random.Random(),  # noqa: S311 (jitter, not secrets)
        ),
        retry_timeouts=settings.retry_timeouts,
    )


def host_gate(settings: Settings, *, db: Database, rq_dispatcher: RQDispatcher) -> HostGate:
    """The per-host rate limit of this deployment, shared through Redis by every worker."""
    burst = settings.host_rate_burst
    namespace = f"scanbox:{settings.queue_name}"
    return HostGate(
        db=db,
        limiter=RedisRateLimiter(
            redis=rq_dispatcher.redis,
            rates=HostRates(
                default=Rate(per_second=settings.host_rate_limit, burst=burst),
                overrides=parse_overrides(settings.host_rate_overrides, burst=burst),
            ),
            namespace=f"{namespace}:hosts",
        ),
        deferrals=RedisDeferrals(
            dispatcher=rq_dispatcher, redis=rq_dispatcher.redis, namespace=f"{namespace}:deferred"
        ),
        holds=HoldLimits(
            default_s=settings.host_backoff_ms / 1000,
            maximum_s=settings.host_backoff_max_ms / 1000,
        ),
    )


def child_limits(settings: Settings) -> ChildLimits:
    """The hard limits on trees of child scans, from the settings."""
    return ChildLimits(
        max_depth=settings.max_scan_depth,
        default_children=settings.child_scans_default,
        max_children=settings.child_scans_max,
    )


def build_scanner(
    settings: Settings,
    *,
    worker_id: str,
    db: Database,
    redis: Redis,
    docker_client: docker.DockerClient,
    shutdown: Shutdown | None = None,
) -> Scanner:
    """A scanner wired to real Docker, Redis and the database."""
    rq_dispatcher = dispatcher(settings, redis)
    return Scanner(
        db=db,
        runner=build_runner(settings, worker_id=worker_id, docker_client=docker_client),
        dispatcher=rq_dispatcher,
        worker_id=worker_id,
        limits=container_spec(settings).limits,
        fetch=fetcher_args(settings),
        outcomes=outcome_policy(settings),
        lease_ttl=timedelta(milliseconds=settings.lease_ttl_ms),
        shutdown=shutdown,
        gate=host_gate(settings, db=db, rq_dispatcher=rq_dispatcher),
        conditional=settings.conditional_rescan,
        policy=analysis_policy(settings),
        engine=EngineWatch(
            ping=partial(engine_answers, docker_client),
            pause=shutdown.pause if shutdown is not None else plain_pause,
        ),
        children=ChildScans(
            dispatcher=rq_dispatcher,
            limits=child_limits(settings),
            dedup_window=timedelta(milliseconds=settings.dedup_window_ms),
        ),
        browser=browser_mode(settings, worker_id=worker_id, docker_client=docker_client),
    )


def analysis_policy(settings: Settings) -> Callable[[], Policy]:
    """The analysis policy: ``POLICY_FILE``, re-read when it changes, or rules alone."""
    if not settings.policy_file:
        return Policy
    return PolicyFile(Path(settings.policy_file)).current


def start_run_record(
    settings: Settings,
    *,
    db: Database,
    kind: RunKind,
    name: str,
    group_id: str | None = None,
    job_limit: int | None = None,
) -> RunRecorder:
    """Start the ``runs`` row of one process, written every ``RUN_STATS_FLUSH_MS``."""
    return RunRecorder(
        db=db,
        kind=kind,
        name=name,
        clock=utcnow,
        flush_every=timedelta(milliseconds=settings.run_stats_flush_ms),
        group_id=group_id,
        job_limit=job_limit,
    ).start()


def observe_worker(
    settings: Settings,
    *,
    db: Database,
    redis: Redis,
    docker_client: docker.DockerClient,
    worker_id: str,
    group_id: str | None = None,
    job_limit: int | None = None,
    index: int = 0,
) -> ObservedWorker:
    """Start the run record of worker process number ``index`` (and its metrics endpoint)."""
    structlog.contextvars.bind_contextvars(worker=worker_id)
    recorder = start_run_record(
        settings, db=db, kind="worker", name=worker_id, group_id=group_id, job_limit=job_limit
    )
    if not settings.metrics_port:
        return ObservedWorker(db=db, worker_id=worker_id, recorder=recorder)
    metrics, server = metrics_endpoint(
        db=db,
        redis=redis,
        queue_names=queue_names(settings.queue_name),
        docker_client=docker_client,
        host=settings.metrics_host,
        port=settings.metrics_port + index,
    )
    return ObservedWorker(
        db=db, worker_id=worker_id, recorder=recorder, metrics=metrics, server=server
    )
