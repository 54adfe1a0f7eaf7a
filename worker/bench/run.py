"""Running the whole benchmark: the page, the bare baseline, scanbox's workers, the rest.

Everything it makes is its own: an SQLite file in a temporary directory, RQ queues named
``bench-<random>`` (emptied at the end), containers labelled ``org.scanbox.bench`` or run by
its own workers. Fetchers have no network of their own and go out through an egress proxy of
the benchmark's own, as by default, which lets them reach only 127.0.0.0/8, where the
benchmark serves its page; every bare container gets a session of that proxy too. The
per-host rate limit is off for its workers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
from redis import Redis

from worker.app.clients import dispatcher, open_docker, open_redis
from worker.app.containers import container_spec, fetcher_args
from worker.app.database import open_database
from worker.app.egress import egress_running, proxy_sessions
from worker.bench import baseline, footprint, pipeline
from worker.bench import results as shape
from worker.bench.options import BenchOptions, bench_environment, bench_settings
from worker.bench.site import serve_page
from worker.bench.stats import summarize
from worker.bench.submit_rate import measure_submit_rate
from worker.errors import BenchmarkFailed, ConfigurationError
from worker.settings import Settings

#: Runs on each side before measuring (page cache, connections, imports).
WARMUP_RUNS = 2

#: Containers whose peak memory is measured.
FOOTPRINT_SAMPLES = 3

#: Turns the two sides take at the concurrent measure, so that a change of load on the
#: machine falls on both.
ROUNDS = 2

#: How long one phase may wait for its scans.
SCAN_TIMEOUT_S = 300.0

Progress = Callable[[str], None]


def run_benchmark(
    settings: Settings, options: BenchOptions, *, progress: Progress
) -> dict[str, Any]:
    """Measure everything; return the results as JSON-ready data."""
    workdir = Path(tempfile.mkdtemp(prefix="scanbox-bench-"))
    queue = f"bench-{secrets.token_hex(4)}"
    environment = bench_environment(
        database=workdir / "bench.db",
        queue=queue,
        redis_url=settings.effective_redis_url,
        egress_dir=workdir / "egress",
    )
    settings = bench_settings(settings, environment)
    client = open_docker()
    redis = open_redis(settings)
    try:
        try:
            client.images.get(settings.fetcher_image)
        except docker.errors.ImageNotFound as error:
            raise ConfigurationError(
                f"fetcher image {settings.fetcher_image!r} not found (run `scanbox image build`)"
            ) from error
        with serve_page() as url, egress_running(settings, quiet=True):
            return _measure(
                settings, options, url=url, environment=environment, workdir=workdir,
                client=client, redis=redis, progress=progress,
            )  # fmt: skip
    finally:
        for name in (queue, submit_queue(queue)):
            pipeline.clear_queues(redis, name)
        redis.close()
        client.close()
        shutil.rmtree(workdir, ignore_errors=True)


def shares(count: int, rounds: int) -> list[int]:
    """``count`` split into at most ``rounds`` near-equal parts, none of them empty."""
    parts = [count // rounds + (1 if index < count % rounds else 0) for index in range(rounds)]
    return [part for part in parts if part]


def _measure(
    settings: Settings,
    options: BenchOptions,
    *,
    url: str,
    environment: dict[str, str],
    workdir: Path,
    client: docker.DockerClient,
    redis: Redis,
    progress: Progress,
) -> dict[str, Any]:
    load_at_start = os.getloadavg()[0]
    spec = container_spec(settings)
    egress = proxy_sessions(settings)
    command = fetcher_args(settings).command(url)
    api = client.api
    count = options.count
    db = open_database(settings)
    db.create_schema()
    dispatch = dispatcher(settings, redis)
    log_path = workdir / "workers.log"
    progress(f"starting `scanbox worker --concurrency {options.workers}`; warming up both sides")
    with pipeline.worker_group(
        env=environment, workers=options.workers, log_path=log_path
    ) as group:
        try:
            group.wait_ready(redis, queue=settings.queue_name, count=options.workers)
            baseline.run_sequential(
                api, spec=spec, command=command, count=WARMUP_RUNS, egress=egress
            )
            pipeline.scan_all_at_once(
                db, dispatch, url=url, count=options.workers, timeout_s=SCAN_TIMEOUT_S
            )
            progress(f"in sequence: {count} bare containers and {count} scans, taking turns")
            bare_runs: list[baseline.BareRun] = []
            scans: list[str] = []
            for _ in range(count):
                bare_runs += baseline.run_sequential(
                    api, spec=spec, command=command, count=1, egress=egress
                )
                scans += pipeline.scan_one_at_a_time(
                    db, dispatch, url=url, count=1, timeout_s=SCAN_TIMEOUT_S
                )
            progress(
                f"at once: {count} bare containers {options.concurrency} at a time and "
                f"{count} scans on {options.workers} workers, in {ROUNDS} turns"
            )
            bare_batch: list[baseline.BareRun] = []
            batch: list[str] = []
            bare_wall_s = scan_wall_s = 0.0
            for share in shares(count, ROUNDS):
                runs, wall_s = baseline.run_concurrent(
                    lambda: open_docker().api,
                    spec=spec,
                    command=command,
                    count=share,
                    concurrency=options.concurrency,
                    egress=egress,
                )
                bare_batch += runs
                bare_wall_s += wall_s
                job_ids, wall_s = pipeline.scan_all_at_once(
                    db, dispatch, url=url, count=share, timeout_s=SCAN_TIMEOUT_S
                )
                batch += job_ids
                scan_wall_s += wall_s
            memory = [footprint.process_memory(pid) for pid in footprint.process_tree(group.pid)]
        except BenchmarkFailed as error:
            raise BenchmarkFailed(f"{error} (worker log: {_tail(log_path)})") from error
    results: dict[str, Any] = {
        "baseline": {
            "sequential": shape.bare_results(bare_runs),
            "concurrent": shape.bare_results(bare_batch) | shape.throughput(count, bare_wall_s),
        },
        "scanbox": {
            "sequential": shape.scan_results([pipeline.scan_timing(db, job) for job in scans]),
            "concurrent": shape.scan_results([pipeline.scan_timing(db, job) for job in batch])
            | shape.throughput(count, scan_wall_s),
        },
    }
    db.dispose()
    progress(f"submit rate: {options.submit_count} single submits, then batches")
    results["submit"] = _submit_rate(settings, options, url=url, workdir=workdir, redis=redis)
    progress(f"footprint: {FOOTPRINT_SAMPLES} fetcher containers' peak memory and Python start")
    workers = [entry for entry in memory if entry.pid != group.pid] or memory
    results["footprint"] = {
        "worker_rss_max_mib": max(entry.rss_mib for entry in workers),
        "processes": [asdict(entry) for entry in memory],
        "container_peak_mib": max(
            footprint.container_peak_mib(api, spec=spec, command=command, egress=egress)
            for _ in range(FOOTPRINT_SAMPLES)
        ),
        "python_start": summarize(
            [footprint.python_start_ms(api, spec=spec) for _ in range(FOOTPRINT_SAMPLES)]
        ).as_dict(),
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": shape.machine(client)
        | {"load_average_1m": {"start": load_at_start, "end": os.getloadavg()[0]}},
        "options": asdict(options),
        "settings": {
            "fetcher_image": settings.fetcher_image,
            "image_id": client.images.get(settings.fetcher_image).id,
            "network": settings.fetcher_network,
            "cpu_limit": settings.container_cpu_limit,
            "memory_limit_mb": settings.container_memory_limit_mb,
            "runtime": settings.container_runtime or "default",
            "runner": settings.container_runner,
            "standby_containers": settings.standby_containers,
            "standby_warm": settings.standby_warm,
        },
        **results,
    }


def _submit_rate(
    settings: Settings, options: BenchOptions, *, url: str, workdir: Path, redis: Redis
) -> dict[str, Any]:
    submit_settings = bench_settings(
        settings,
        {
            "TURSO_CONNECTION_URL": f"file:{workdir / 'submit.db'}",
            "QUEUE_NAME": submit_queue(settings.queue_name),
        },
    )
    db = open_database(submit_settings)
    db.create_schema()
    try:
        rate = measure_submit_rate(
            db,
            dispatcher(submit_settings, redis),
            url=url,
            count=options.submit_count,
            batch_size=options.batch_size,
        )
    finally:
        db.dispose()
    return {"function": "worker.submit.submit_urls"} | asdict(rate)


def submit_queue(queue: str) -> str:
    """The queue the submit-rate measure fills (no worker listens on it)."""
    return f"{queue}-submit"


def _tail(path: Path, *, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "unreadable"
