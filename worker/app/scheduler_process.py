"""The ``scanbox scheduler`` process: clients, run record, metrics, signals, maintenance.

Any number of these may run against one database: ``worker.schedule.scheduler`` makes sure each tick
is fired once. SIGTERM or SIGINT stops the process after the step in progress.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

import docker
import docker.errors
import requests.exceptions
from redis import Redis

from worker.app.clients import dispatcher, new_process_id, open_docker, open_redis
from worker.app.database import open_database
from worker.app.services import build_reaper, start_run_record
from worker.clock import utcnow
from worker.logs import configure_logging, get_logger, log_soon
from worker.ops.maintenance import ContainerSweep, Maintenance
from worker.queue.dispatch import queue_names
from worker.schedule.scheduler import Scheduler
from worker.settings import Settings
from worker.store.artifacts import ArtifactStore
from worker.store.database import Database
from worker.telemetry.metrics import Metrics, MetricsServer, metrics_endpoint
from worker.telemetry.runs import RunCounts


def maintenance_from(
    settings: Settings,
    db: Database,
    *,
    redis: Redis,
    docker_client: docker.DockerClient | None,
) -> Maintenance:
    """The maintenance the settings ask for: ``RETENTION_DAYS``, and with a Docker client the
    removal of this deployment's stray fetcher containers (by the reaper)."""
    retention = timedelta(days=settings.retention_days) if settings.retention_days else None
    sweep: ContainerSweep | None = None
    if docker_client is not None:
        sweep = build_reaper(
            settings, db=db, redis=redis, docker_client=docker_client
        ).reap_containers
    return Maintenance(
        db=db,
        clock=utcnow,
        retention=retention,
        sweep=sweep,
        artifacts=ArtifactStore(Path(settings.artifact_dir)),
    )


def docker_if_reachable() -> docker.DockerClient | None:
    """A Docker client, or ``None`` (logged) when no engine answers here."""
    try:
        return open_docker()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        get_logger().warning("docker_unavailable", error=str(error), effect="no container sweep")
        return None


def periodic_maintenance(
    maintenance: Maintenance, *, name: str, every: timedelta, check_every: timedelta
) -> Callable[[datetime], None]:
    """A scheduler chore running ``maintenance`` once per ``every`` across replicas.

    The database is asked whether a run is due at most once per ``check_every``.
    """
    next_check: list[datetime] = []

    def chore(now: datetime) -> None:
        if next_check and now < next_check[0]:
            return
        next_check[:] = [now + check_every]
        maintenance.run_if_due(name=name, every=every)

    return chore


def run_scheduler_process(settings: Settings, *, stop: threading.Event | None = None) -> RunCounts:
    """Run one scheduler replica until SIGTERM/SIGINT (or ``stop``); return its counts."""
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    replica = new_process_id()
    stop = stop or threading.Event()
    db = open_database(settings)
    db.create_schema()
    redis = open_redis(settings)
    refresh = timedelta(milliseconds=settings.scheduler_refresh_ms)
    recorder = start_run_record(settings, db=db, kind="scheduler", name=replica)
    metrics = Metrics()
    server: MetricsServer | None = None
    if settings.metrics_port:
        metrics, server = metrics_endpoint(
            db=db,
            redis=redis,
            queue_names=queue_names(settings.queue_name),
            docker_client=None,
            host=settings.metrics_host,
            port=settings.metrics_port,
        )
    chores = None
    docker_client = None
    if settings.maintenance_interval_ms:
        docker_client = docker_if_reachable()
        chores = periodic_maintenance(
            maintenance_from(settings, db, redis=redis, docker_client=docker_client),
            name=replica,
            every=timedelta(milliseconds=settings.maintenance_interval_ms),
            check_every=refresh,
        )
    scheduler = Scheduler(
        db=db,
        dispatcher=dispatcher(settings, redis),
        replica=replica,
        refresh_every=refresh,
        max_attempts=settings.max_attempts,
        max_failures=settings.schedule_max_failures,
        recorder=recorder,
        metrics=metrics,
        chores=chores,
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log_soon(get_logger(replica=replica).info, "scheduler_stopping", signal=signum)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    crashed = True
    try:
        scheduler.run(stop=stop)
        crashed = False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        counts = recorder.finish(crashed=crashed)
        if server is not None:
            server.stop()
        if docker_client is not None:
            docker_client.close()
        redis.close()
        db.dispose()
    get_logger(replica=replica).info("scheduler_run_recorded", **counts.as_dict())
    return counts
