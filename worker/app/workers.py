"""``scanbox worker``: N real worker processes, each an RQ worker running scans in-process.

Each process builds its own clients after it starts (nothing is shared across ``fork``) and
runs RQ's ``SimpleWorker``: the scan runs in the worker process itself, with no fork per job,
because the container is the isolation and the worker enforces its own deadline. A process
whose RQ loop ends on an error (Redis gone, say) starts a new one after a pause; it stops for
good on a signal, when a ``--burst`` drain is done, or when the ``--max-jobs`` budget that all
the processes share is spent (``worker.app.drain``). Each process keeps a run record
(``worker.telemetry.instrument``) and a heartbeat in Redis (``worker.queue.liveness``), and
serves metrics when ``METRICS_PORT`` is set. Beside its scans each process reads the submit
stream (``worker.app.intake``) and delivers the webhook outbox (``worker.app.webhooks``), each
on a thread of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

import redis.exceptions
from rq import Queue
from rq.serializers import JSONSerializer

from worker import task
from worker.app.clients import (
    check_redis,
    dispatcher,
    heartbeat,
    new_process_id,
    open_docker,
    open_redis,
)
from worker.app.database import open_database
from worker.app.drain import JobBudget
from worker.app.egress import egress_running
from worker.app.intake import IntakeThread, build_intake
from worker.app.rq_worker import RQ_DEQUEUE_MARGIN_S, ScanWorker
from worker.app.services import build_reaper, build_scanner, observe_worker
from worker.app.webhooks import WebhookService
from worker.clock import utcnow
from worker.egress.errors import EgressError
from worker.logs import configure_logging, get_logger
from worker.ops.housekeeping import Housekeeper
from worker.queue.dispatch import queue_names
from worker.queue.vetting import VettedJob
from worker.scan.shutdown import Shutdown
from worker.settings import Settings

#: Longest pause before a worker process restarts its RQ loop after an error.
MAX_RESTART_PAUSE_S = 10.0


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """How ``scanbox worker`` runs."""

    concurrency: int
    burst: bool = False
    #: Jobs the processes take in all before they stop (a drain); ``None``: no limit.
    max_jobs: int | None = None
    #: The run records of these processes share this group (a drain's summary adds them up).
    group_id: str | None = None


def run_worker_process(
    settings: Settings,
    *,
    burst: bool,
    budget: JobBudget | None = None,
    group_id: str | None = None,
    index: int = 0,
) -> bool:
    """Run worker process number ``index`` until it stops; return whether it ran any job."""
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    worker_id = new_process_id()
    log = get_logger(worker=worker_id)
    redis_client = open_redis(settings)
    db = open_database(settings)
    db.create_schema()
    docker_client = open_docker()
    shutdown = Shutdown(grace_s=settings.shutdown_grace_ms / 1000)
    rq_dispatcher = dispatcher(settings, redis_client)
    # Alive before the standby pool makes a container: the reaper removes a dead worker's.
    beating = heartbeat(settings, redis_client, worker_id=worker_id).start()
    reaper = build_reaper(settings, db=db, redis=redis_client, docker_client=docker_client)
    removed = reaper.reap_containers(host=socket.gethostname())
    if removed:
        log.info("orphans_removed_at_start", containers=removed)
    housekeeper = Housekeeper(
        db=db,
        redis=redis_client,
        dispatcher=rq_dispatcher,
        reaper=reaper,
        interval=timedelta(milliseconds=settings.housekeeping_interval_ms),
        reconcile_after=timedelta(milliseconds=settings.reconcile_after_ms),
        lock_name=f"scanbox:{settings.deployment}:housekeeping",
        clock=utcnow,
    )
    observed = observe_worker(
        settings,
        db=db,
        redis=redis_client,
        docker_client=docker_client,
        worker_id=worker_id,
        group_id=group_id,
        job_limit=None if budget is None else budget.limit,
        index=index,
    )
    scanner = build_scanner(
        settings,
        worker_id=worker_id,
        db=db,
        redis=redis_client,
        docker_client=docker_client,
        shutdown=shutdown,
    )
    task.install(observed.wrap(scanner))
    queues = [
        Queue(name, connection=redis_client, serializer=JSONSerializer, job_class=VettedJob)
        for name in queue_names(settings.queue_name)
    ]
    housekeeper.start()
    intake = None
    if settings.submit_stream:
        intake = IntakeThread(build_intake(settings, db=db, redis=redis_client, consumer=worker_id))
        intake.start()
    webhooks = WebhookService(settings, db=db)
    try:
        webhooks.start()
    except EgressError as error:
        # Scans go on; the outbox waits for a worker process that can deliver it.
        log.error("webhooks_not_delivered", error=str(error))
    log.info("worker_started", queues=[queue.name for queue in queues], burst=burst)
    done = 0
    pause = 0.5
    housekeeping_s = max(1, settings.housekeeping_interval_ms // 1000)
    try:
        while True:
            rq_worker: ScanWorker | None = None
            try:
                rq_worker = ScanWorker(
                    queues,
                    connection=redis_client,
                    serializer=JSONSerializer,
                    job_class=VettedJob,
                    name=f"{worker_id}.{secrets.token_hex(2)}",
                    shutdown=shutdown,
                    budget=budget,
                    # RQ's maintenance is also when a worker takes over RQ's scheduler from a
                    # dead one (its lock lapses after a minute). By default that is every 10
                    # minutes, checked only between blocking dequeues of up to worker_ttl - 15
                    # seconds (405 s): meanwhile the backoff re-dispatches of a killed
                    # replica's jobs would wait in the scheduled registry, where the
                    # reconciler counts them as pending. Both follow the housekeeping interval.
                    maintenance_interval=housekeeping_s,
                    worker_ttl=housekeeping_s + RQ_DEQUEUE_MARGIN_S,
                )
                rq_worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
            except redis.exceptions.RedisError as error:
                # RQ talks to Redis when it starts and in its clean-up too; losing Redis there
                # ends only this loop, and a new one starts once Redis answers again.
                log.warning("worker_loop_lost_redis", error=str(error))
            done += rq_worker.jobs_done if rq_worker is not None else 0
            if shutdown.requested or burst or (budget is not None and budget.spent):
                break
            log.warning("worker_loop_restarting", pause_s=pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_RESTART_PAUSE_S)
    finally:
        housekeeper.stop()
        if intake is not None:
            intake.stop()
        webhooks.stop()
        task.install(None)
        scanner.runner.close()
        if scanner.browser is not None:
            scanner.browser.runner.close()
        beating.stop()
        observed.close()
        docker_client.close()
        db.dispose()
        redis_client.close()
        log.info("worker_stopped", jobs=done)
    return done > 0


def _child(
    settings: Settings, burst: bool, budget: JobBudget | None, group_id: str | None, index: int
) -> None:
    run_worker_process(settings, burst=burst, budget=budget, group_id=group_id, index=index)


def run_workers(settings: Settings, options: WorkerOptions) -> int:
    """Run ``options.concurrency`` worker processes; return an exit status for the CLI.

    Redis must answer, with the password it was given, before any process starts: a wrong
    password or a Redis that is not there is one line of error, not a loop of warnings. With
    ``FETCHER_NETWORK=egress`` an egress proxy must answer too; one is started for as long as
    the processes run if none does (``worker.app.egress``).
    """
    check_redis(settings)
    with egress_running(settings):
        return _run_processes(settings, options)


def _run_processes(settings: Settings, options: WorkerOptions) -> int:
    budget = None if options.max_jobs is None else JobBudget(options.max_jobs)
    if options.concurrency == 1:
        run_worker_process(settings, burst=options.burst, budget=budget, group_id=options.group_id)
        return 0
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(
            target=_child,
            args=(settings, options.burst, budget, options.group_id, index),
            name=f"scanbox-worker-{index}",
        )
        for index in range(options.concurrency)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    # SIGINT from a terminal already reaches every process of the group; forwarding it too
    # would turn one Ctrl-C into two (a forced shutdown). SIGTERM is sent to the parent alone.
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
    }
    try:
        for child in children:
            child.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if all(child.exitcode == 0 for child in children) else 1
