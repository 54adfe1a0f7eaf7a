"""``scanbox bench --mode browser``: browser scans next to a bare browser container, cold and
warm, in one run.

Everything is on this machine: a scripted page (its title set by script, a fetch of ``/api``
and an image) served on 127.0.0.1, an egress proxy of the benchmark's own, a fresh SQLite
file, the Redis of the settings. Each turn, in this order:

- ``bare``: one browser container run through the Docker SDK exactly as a scan's is made
  (the same spec, limits and egress session), capturing the page: launch, load, screenshot;
- ``cold``: one browser scan, submit to COMPLETED, on ``scanbox worker --concurrency W``
  whose browser containers start when their scan does;
- ``warm``: the same on a second worker group with ``BROWSER_STANDBY_CONTAINERS=1``
  (Chromium launched and waiting for its URL).

Then throughput: N scans submitted at once to each group, in turns. Also the peak memory of
one bare container (its cgroup's high-water mark) and the artifact bytes of a capture.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from worker.app.clients import dispatcher, open_redis
from worker.app.containers import browser_spec
from worker.app.egress import egress_running, proxy_sessions
from worker.bench import pipeline
from worker.bench.site import serve_routes
from worker.bench.stats import percentile
from worker.containers.runner import DockerRunner, RunRequest
from worker.scan.browser import BrowserMode, read_browser_output
from worker.settings import Settings
from worker.store.artifacts import ArtifactStore
from worker.store.database import Database

#: Bytes of the page's image (any bytes: the browser hashes what it gets).
IMAGE = bytes(range(256)) * 16
PAGE = (
    b"<!doctype html><html><head><title>served</title></head><body><h1>benchmark</h1>"
    b"<img src='/image.png'><script>document.title = 'set by script'; fetch('/api');"
    b"</script><p>" + b"browser benchmark page " * 64 + b"</p></body></html>"
)
ROUTES = {
    "/": (PAGE, "text/html; charset=utf-8"),
    "/api": (b'{"answer": 42}', "application/json"),
    "/image.png": (IMAGE, "image/png"),
}
#: Longest wait for one scan or one batch (seconds).
SCAN_TIMEOUT_S = 300.0
MS = 1000.0


def _peak_sampler(container_name: str, stop: threading.Event, peak: list[int]) -> None:
    """The highest memory use seen of the container named ``container_name`` (cgroup v1)."""
    client = docker.from_env()
    try:
        while not stop.wait(0.1):
            with contextlib.suppress(docker.errors.DockerException):
                container_id = client.containers.get(container_name).id
                path = Path(f"/sys/fs/cgroup/memory/docker/{container_id}")
                with contextlib.suppress(OSError, ValueError):
                    peak[0] = max(peak[0], int((path / "memory.max_usage_in_bytes").read_text()))
    finally:
        client.close()


def bare_capture(runner: DockerRunner, mode: BrowserMode, url: str) -> dict[str, Any]:
    """One browser container through the SDK, as a scan makes it; its wall time and bytes."""
    job_id = secrets.token_hex(16)
    stop = threading.Event()
    peak = [0]
    sampler = threading.Thread(
        target=_peak_sampler, args=(f"scanbox-{job_id}-1", stop, peak), daemon=True
    )
    sampler.start()
    started = time.perf_counter()
    try:
        run = runner.run(
            RunRequest(job_id=job_id, attempt=1, worker_id="bench", url=url, options=mode.options())
        )
    finally:
        stop.set()
        sampler.join(5)
    wall_ms = (time.perf_counter() - started) * MS
    capture = read_browser_output(mode, run)
    if capture.browser.title != "set by script":
        raise SystemExit(f"the bare capture saw {capture.browser.title!r}")
    return {
        "wall_ms": wall_ms,
        "peak_mib": peak[0] / 2**20,
        "artifact_bytes": sum(item["size"] for item in capture.artifacts),
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 0.5), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "count": len(values),
    }


def run_browser_benchmark(
    *, count: int, workers: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Measure everything; return the figures as JSON-ready data."""
    workdir = Path(tempfile.mkdtemp(prefix="sbx-bb-", dir="/tmp"))
    base = Settings()
    environment = {
        "TURSO_CONNECTION_URL": f"file:{workdir / 'bench.db'}",
        "REDIS_URL": base.effective_redis_url,
        "FETCHER_NETWORK": "egress",
        "EGRESS_DIR": str(workdir / "egress"),
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
        "HOST_RATE_LIMIT": "0",
        "ARTIFACT_DIR": str(workdir / "artifacts"),
        "LOG_FORMAT": "json",
    }
    os.environ.update(environment)
    settings = Settings()
    queues = {"cold": f"bb-cold-{secrets.token_hex(3)}", "warm": f"bb-warm-{secrets.token_hex(3)}"}
    redis = open_redis(settings)
    db = Database(url=settings.turso_connection_url)
    db.create_schema()
    client = docker.from_env(timeout=120)
    spec = browser_spec(settings)
    try:
        with (
            serve_routes(ROUTES) as url,
            egress_running(settings, quiet=True),
            contextlib.ExitStack() as stack,
        ):
            mode = BrowserMode(
                runner=DockerRunner(client=client, spec=spec, egress=proxy_sessions(settings)),
                limits=spec.limits,
                artifacts=ArtifactStore(workdir / "bare-artifacts"),
            )
            assert isinstance(mode.runner, DockerRunner)
            groups = {}
            for name, standby in (("cold", "0"), ("warm", "1")):
                env = environment | {
                    "QUEUE_NAME": queues[name],
                    "BROWSER_STANDBY_CONTAINERS": standby,
                }
                groups[name] = stack.enter_context(
                    pipeline.worker_group(
                        env=env, workers=workers, log_path=workdir / f"{name}.log"
                    )
                )
                groups[name].wait_ready(redis, queue=queues[name], count=workers)
            dispatchers = {
                name: dispatcher(Settings(queue_name=queues[name]), redis) for name in groups
            }
            # Warm-up: one of each (images in the page cache, the pools filled).
            bare_capture(mode.runner, mode, url)
            for name in groups:
                pipeline.scan_one_at_a_time(
                    db, dispatchers[name], url=url, count=1, timeout_s=SCAN_TIMEOUT_S,
                    mode="browser",
                )  # fmt: skip
            bare: list[dict[str, Any]] = []
            scans: dict[str, list[str]] = {"cold": [], "warm": []}
            for turn in range(count):
                progress(f"turn {turn + 1}/{count}: a bare container, a cold scan, a warm scan")
                bare.append(bare_capture(mode.runner, mode, url))
                for name in groups:
                    scans[name] += pipeline.scan_one_at_a_time(
                        db, dispatchers[name], url=url, count=1, timeout_s=SCAN_TIMEOUT_S,
                        mode="browser",
                    )  # fmt: skip
            throughput = {}
            for name in groups:
                _, wall_s = pipeline.scan_all_at_once(
                    db, dispatchers[name], url=url, count=count,
                    timeout_s=SCAN_TIMEOUT_S, mode="browser",
                )  # fmt: skip
                throughput[name] = count / wall_s
            latencies = {
                name: [pipeline.scan_timing(db, job).latency_ms for job in job_ids]
                for name, job_ids in scans.items()
            }
    finally:
        for name in queues.values():
            pipeline.clear_queues(redis, name)
        redis.close()
        client.close()
        db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    bare_ms = [entry["wall_ms"] for entry in bare]
    figures: dict[str, Any] = {
        "turns": count,
        "workers": workers,
        "image": settings.browser_image,
        "limits": {
            "memory_limit_mb": settings.browser_memory_limit_mb,
            "cpu_limit": settings.browser_cpu_limit,
            "timeout_ms": settings.browser_timeout_ms,
        },
        "bare": summary(bare_ms),
        "peak_memory_mib": round(max(entry["peak_mib"] for entry in bare), 1),
        "artifact_bytes_p50": percentile([float(e["artifact_bytes"]) for e in bare], 0.5),
    }
    for name, values in latencies.items():
        figures[name] = summary(values) | {
            "ratio_p50": round(percentile(values, 0.5) / percentile(bare_ms, 0.5), 2),
            "throughput_per_s": round(throughput[name], 3),
        }
    return figures
