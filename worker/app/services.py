"""Building scanbox's parts from the settings: database, Redis, Docker, scanner."""

from __future__ import annotations

import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import docker
import redis.exceptions
import structlog
from redis import Redis

from worker.analysis.policy import Policy, PolicyFile
from worker.app.egress import proxy_sessions
from worker.clock import utcnow
from worker.containers.egress import NO_NETWORK
from worker.containers.engine import EngineWatch, engine_answers, plain_pause
from worker.containers.pooled import URL_STDIN, PooledRunner
from worker.containers.runner import DockerRunner, Runner
from worker.containers.spec import ContainerSpec
from worker.containers.standby import StandbyPool
from worker.errors import ConfigurationError
from worker.ops.reaper import Reaper
from worker.queue.deferral import RedisDeferrals
from worker.queue.dispatch import RQDispatcher, queue_names
from worker.queue.liveness import Heartbeat, Liveness
from worker.queue.ratelimit import HostRates, Rate, RedisRateLimiter, parse_overrides
from worker.scan.backoff import Backoff
from worker.scan.browser import BrowserMode
from worker.scan.gate import HoldLimits, HostGate
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import FetcherArgs, Scanner
from worker.scan.shutdown import Shutdown
from worker.settings import EGRESS_NETWORK, Settings
from worker.store.artifacts import ArtifactStore
from worker.store.database import Database
from worker.submit.children import ChildLimits, ChildScans
from worker.telemetry.instrument import ObservedWorker
from worker.telemetry.metrics import metrics_endpoint
from worker.telemetry.runs import RunKind, RunRecorder

#: Seconds RQ lets a task run beyond the container deadline before it kills the task itself.
TASK_TIMEOUT_MARGIN_S = 120
#: Seconds a Docker API call may take (waiting for a container has its own deadline).
DOCKER_API_TIMEOUT_S = 60


def new_process_id() -> str:
    """A unique name for one worker or scheduler process: host, pid and a random suffix."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"


def open_redis(settings: Settings) -> Redis:
    """A Redis client for the configured server."""
    return Redis.from_url(settings.effective_redis_url, health_check_interval=30)


def check_redis(settings: Settings) -> None:
    """Raise unless Redis answers: ``ConfigurationError`` when it refuses the password."""
    client = open_redis(settings)
    try:
        client.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError) as error:
        raise ConfigurationError(
            f"Redis refused the credentials in REDIS_URL / REDIS_PASSWORD: {error}"
        ) from error
    except redis.exceptions.ResponseError as error:
        if "NOAUTH" not in str(error):
            raise
        raise ConfigurationError(
            "Redis wants a password: set it in REDIS_URL or REDIS_PASSWORD"
        ) from error
    finally:
        client.close()


def open_docker() -> docker.DockerClient:
    """A Docker client from the SDK's own environment (``DOCKER_HOST`` and friends)."""
    return docker.from_env(timeout=DOCKER_API_TIMEOUT_S)


def dispatcher(settings: Settings, redis: Redis) -> RQDispatcher:
    """The RQ dispatcher for the configured queues."""
    return RQDispatcher(
        redis=redis,
        base_queue=settings.queue_name,
        job_timeout_s=settings.container_timeout_ms // 1000 + TASK_TIMEOUT_MARGIN_S,
    )


def container_spec(settings: Settings) -> ContainerSpec:
    """How fetcher containers are made, from the settings."""
    return ContainerSpec(
        image=settings.fetcher_image,
        timeout_ms=settings.container_timeout_ms,
        memory_limit_mb=settings.container_memory_limit_mb,
        cpu_limit=settings.container_cpu_limit,
        cpu_period_ms=settings.container_cpu_period_ms,
        pids_limit=settings.container_pids_limit,
        tmpfs_mb=settings.container_tmpfs_mb,
        user=settings.container_user,
        network=NO_NETWORK
        if settings.fetcher_network == EGRESS_NETWORK
        else settings.fetcher_network,
        runtime=settings.container_runtime,
        init=settings.container_init,
        output_limit_bytes=settings.output_limit_bytes,
        deployment=settings.deployment,
    )


#: The browser's ``HOME`` in the browser image (``Dockerfile.browser``).
BROWSER_HOME = "/home/browser"


def browser_spec(settings: Settings) -> ContainerSpec:
    """How browser containers are made: the fetcher's sandbox with the browser's limits."""
    return replace(
        container_spec(settings),
        image=settings.browser_image,
        timeout_ms=settings.browser_timeout_ms,
        memory_limit_mb=settings.browser_memory_limit_mb,
        cpu_limit=settings.browser_cpu_limit,
        pids_limit=settings.browser_pids_limit,
        tmpfs_mb=settings.browser_tmpfs_mb,
        output_limit_bytes=settings.browser_output_limit_bytes,
        home=BROWSER_HOME,
        oom_fails=True,
    )


def browser_mode(
    settings: Settings, *, worker_id: str, docker_client: docker.DockerClient
) -> BrowserMode | None:
    """How this worker runs browser scans; ``None`` without the egress proxy (Chromium's only
    way out is its egress session: ``FETCHER_NETWORK=egress``). With
    ``BROWSER_STANDBY_CONTAINERS`` a pool keeps that many warm."""
    sessions = proxy_sessions(settings)
    if sessions is None:
        return None
    spec = browser_spec(settings)
    cold = DockerRunner(client=docker_client, spec=spec, egress=sessions)
    mode = BrowserMode(
        runner=cold,
        limits=spec.limits,
        artifacts=ArtifactStore(Path(settings.artifact_dir)),
        max_artifact_bytes=settings.browser_output_limit_bytes,
    )
    if not settings.browser_standby_containers:
        return mode
    pool = StandbyPool(
        client=open_docker(),
        spec=spec,
        command=[*mode.options(), URL_STDIN],
        worker_id=worker_id,
        host=socket.gethostname(),
        size=settings.browser_standby_containers,
        warm=True,
        egress=sessions,
    )
    pool.open()
    warm = PooledRunner(
        client=docker_client,
        spec=spec,
        pool=pool,
        options=mode.options(),
        fallback=cold,
        until_end=True,
    )
    return replace(mode, runner=warm)


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


def liveness(settings: Settings, redis: Redis) -> Liveness:
    """The heartbeats of this deployment's worker processes."""
    return Liveness(redis=redis, namespace=f"scanbox:{settings.deployment}:workers")


def heartbeat(settings: Settings, redis: Redis, *, worker_id: str) -> Heartbeat:
    """The heartbeat of worker process ``worker_id``: it lapses one housekeeping interval
    after the process stops beating, so the reaper's second round finds it gone."""
    return Heartbeat(
        liveness=liveness(settings, redis),
        worker_id=worker_id,
        ttl=timedelta(milliseconds=settings.housekeeping_interval_ms),
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


def fetcher_args(settings: Settings) -> FetcherArgs:
    """The fetcher's command-line options that come from the settings."""
    return FetcherArgs(
        timeout_ms=settings.fetch_timeout_ms,
        max_body_bytes=settings.fetcher_max_body_bytes,
        allowed_ports=settings.fetcher_allowed_ports,
        allow_networks=settings.fetcher_allow_networks,
    )


def build_runner(
    settings: Settings, *, worker_id: str, docker_client: docker.DockerClient
) -> Runner:
    """The runner ``CONTAINER_RUNNER`` names; a standby pool starts filling at once."""
    spec = container_spec(settings)
    sessions = proxy_sessions(settings)
    plain = DockerRunner(client=docker_client, spec=spec, egress=sessions)
    if settings.container_runner == "docker":
        return plain
    options = fetcher_args(settings).options()
    pool = StandbyPool(
        client=open_docker(),
        spec=spec,
        command=[*options, URL_STDIN],
        worker_id=worker_id,
        host=socket.gethostname(),
        size=settings.standby_containers,
        warm=settings.standby_warm,
        egress=sessions,
    )
    pool.open()
    return PooledRunner(client=docker_client, spec=spec, pool=pool, options=options, fallback=plain)


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
