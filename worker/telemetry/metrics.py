"""Prometheus metrics of one scanbox process, served over HTTP on ``METRICS_PORT``.

Each process keeps its own registry (no module-level metrics): counters and histograms count
what this process did, and Prometheus adds the processes up. The transition counter is fed by
the worker after each scan attempt, from the audit rows that attempt wrote (every transition
writes exactly one), so ``statemachine`` knows nothing about metrics. Gauges that describe the
whole system (jobs per state, queue depth, fetcher containers running) are read when scraped;
every process that serves them reports the same values, so aggregate them with ``max``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import docker
import docker.errors
import redis.exceptions
import requests.exceptions
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis

from worker.containers.spec import LABEL_MANAGED
from worker.errors import ScanboxError
from worker.logs import get_logger
from worker.store import queries
from worker.store.database import Database

#: Buckets (seconds) of the scan duration histogram: a scan takes from a fraction of a second
#: (a container start) to the container deadline (30 s by default).
SCAN_DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
#: Label value for the "from" state of a job's creation, which comes from no state.
NO_STATE = "none"


class Metrics:
    """The metrics one scanbox process exports, in a registry of its own."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.transitions = Counter(
            "scanbox_transitions",
            "Job state transitions written by this process.",
            ["from_state", "to_state"],
            registry=self.registry,
        )
        self.scan_duration = Histogram(
            "scanbox_scan_duration_seconds",
            "Wall time of one scan attempt in a worker, by the state it ended in.",
            ["state"],
            buckets=SCAN_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.ticks = Counter(
            "scanbox_schedule_ticks",
            "Schedule ticks this scheduler replica handled, by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    def count_transitions(self, moves: Iterable[tuple[str | None, str]]) -> None:
        """Count transitions given as ``(from_state, to_state)`` (``None``: a new job)."""
        for source, target in moves:
            self.transitions.labels(from_state=source or NO_STATE, to_state=target).inc()


@dataclass(kw_only=True, eq=False)  # registries keep collectors in a dict
class SystemCollector(Collector):
    """Gauges read at scrape time: jobs per state, queue depth, fetcher containers running."""

    db: Database
    redis: Redis
    queue_names: Sequence[str]
    docker_client: docker.DockerClient | None = None

    def describe(self) -> list[GaugeMetricFamily]:
        # Declared empty so that registering does not scrape the services once.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        log = get_logger()
        try:
            jobs = GaugeMetricFamily(
                "scanbox_jobs", "Jobs in the database by state.", labels=["state"]
            )
            for state, count in queries.count_by_state(self.db).items():
                jobs.add_metric([state], count)
            yield jobs
        except (ScanboxError, sa.exc.SQLAlchemyError) as error:
            log.warning("metric_unavailable", metric="scanbox_jobs", error=str(error))
        try:
            depth = GaugeMetricFamily(
                "scanbox_queue_depth", "RQ messages waiting, per queue.", labels=["queue"]
            )
            for name in self.queue_names:
                depth.add_metric([name], int(self.redis.llen(f"rq:queue:{name}")))
            yield depth
        except redis.exceptions.RedisError as error:
            log.warning("metric_unavailable", metric="scanbox_queue_depth", error=str(error))
        if self.docker_client is None:
            return
        try:
            running = self.docker_client.containers.list(
                filters={"label": LABEL_MANAGED, "status": "running"}, ignore_removed=True
            )
            yield GaugeMetricFamily(
                "scanbox_containers_running",
                "Fetcher containers running on this process's Docker engine.",
                value=len(running),
            )
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            log.warning("metric_unavailable", metric="scanbox_containers_running", error=str(error))


@dataclass(frozen=True, kw_only=True)
class MetricsServer:
    """An HTTP server answering ``/metrics`` from a thread of this process."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port it listens on (useful when started on port 0)."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(metrics: Metrics, *, host: str, port: int) -> MetricsServer:
    """Serve ``metrics`` on ``host:port`` until ``stop`` is called."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server=server, thread=thread)


def metrics_endpoint(
    *,
    db: Database,
    redis: Redis,
    queue_names: Sequence[str],
    docker_client: docker.DockerClient | None,
    host: str,
    port: int,
) -> tuple[Metrics, MetricsServer]:
    """A process's metrics with the system gauges, served on ``host:port``."""
    metrics = Metrics()
    metrics.registry.register(
        SystemCollector(db=db, redis=redis, queue_names=queue_names, docker_client=docker_client)
    )
    return metrics, serve_metrics(metrics, host=host, port=port)
