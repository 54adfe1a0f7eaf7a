"""``scanbox worker``: N real worker processes, each an RQ worker running scans in-process.

Each process builds its own clients after it starts (nothing is shared across ``fork``) and
runs RQ's ``SimpleWorker``: the scan runs in the worker process itself, with no fork per job,
because the container is the isolation and the worker enforces its own deadline.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import socket
from dataclasses import dataclass
from types import FrameType

from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from worker import task
from worker.dispatch import queue_names
from worker.logs import configure_logging, get_logger
from worker.services import build_scanner, open_database, open_docker, open_redis
from worker.settings import Settings


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """How ``scanbox worker`` runs."""

    concurrency: int
    burst: bool = False
    max_jobs: int | None = None


def new_worker_id() -> str:
    """A unique name for one worker process: host, pid and a random suffix."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"


def run_worker_process(settings: Settings, *, burst: bool, max_jobs: int | None) -> bool:
    """Run one RQ worker in this process until it stops; return whether it ran any job."""
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    worker_id = new_worker_id()
    redis = open_redis(settings)
    db = open_database(settings)
    db.create_schema()
    docker_client = open_docker()
    task.install(
        build_scanner(
            settings, worker_id=worker_id, db=db, redis=redis, docker_client=docker_client
        )
    )
    queues = [
        Queue(name, connection=redis, serializer=JSONSerializer)
        for name in queue_names(settings.queue_name)
    ]
    rq_worker = SimpleWorker(queues, connection=redis, serializer=JSONSerializer, name=worker_id)
    log = get_logger(worker=worker_id)
    log.info("worker_started", queues=[queue.name for queue in queues], burst=burst)
    try:
        return bool(
            rq_worker.work(
                burst=burst, max_jobs=max_jobs, with_scheduler=True, logging_level="WARNING"
            )
        )
    finally:
        task.install(None)
        docker_client.close()
        db.dispose()
        redis.close()
        log.info("worker_stopped")


def _child(settings: Settings, burst: bool, max_jobs: int | None) -> None:
    run_worker_process(settings, burst=burst, max_jobs=max_jobs)


def run_workers(settings: Settings, options: WorkerOptions) -> int:
    """Run ``options.concurrency`` worker processes; return an exit status for the CLI."""
    if options.concurrency == 1:
        run_worker_process(settings, burst=options.burst, max_jobs=options.max_jobs)
        return 0
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(
            target=_child,
            args=(settings, options.burst, options.max_jobs),
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
    # would turn one Ctrl-C into two (a cold shutdown). SIGTERM is sent to the parent alone.
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
