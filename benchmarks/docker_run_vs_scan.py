"""One scan of a local page, submit → COMPLETED, next to a bare ``docker run --rm`` of it.

Serves ``demo/`` on 127.0.0.1, starts ``scanbox worker --concurrency 1`` on a database and queue
of its own, then alternates N times: a ``docker run --rm`` of the fetcher image on the page (the
docker CLI, the scan's limits, timed around the command) and a scan submitted through
``worker.submit.submit_urls`` (timed from the job's own ``created_at`` to ``finished_at``).
Prints the medians and their ratio. Run it after ``scripts/setup.sh``::

    .venv/bin/python benchmarks/docker_run_vs_scan.py [N]
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis

from worker.app.clients import dispatcher
from worker.app.containers import container_spec, fetcher_args
from worker.app.database import open_database
from worker.containers.spec import fetcher_host_options
from worker.settings import Settings
from worker.store.queries import wait_for_terminal
from worker.submit.batch import submit_urls

ROOT = Path(__file__).resolve().parent.parent


def docker_run_args(settings: Settings, url: str) -> list[str]:
    """``docker run --rm`` of the fetcher under the limits and options a scan uses."""
    spec = container_spec(settings)
    host = fetcher_host_options(spec)
    return [
        "docker", "run", "--rm", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--user", spec.user,
        "--memory", f"{spec.memory_limit_mb}m",
        "--memory-swap", f"{spec.memory_limit_mb}m",
        "--cpu-period", str(host["cpu_period"]),
        "--cpu-quota", str(host["cpu_quota"]),
        "--pids-limit", str(spec.pids_limit),
        "--tmpfs", f"/tmp:rw,noexec,nosuid,nodev,size={spec.tmpfs_mb}m",  # noqa: S108
        "--network", spec.network,
        *(["--init"] if spec.init else []),
        *(["--runtime", spec.runtime] if spec.runtime else []),
        spec.image,
        *fetcher_args(settings).command(url),
    ]  # fmt: skip


def main(count: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="scanbox-compare-"))
    os.environ.update({
        "TURSO_CONNECTION_URL": f"file:{workdir}/scanbox.db",
        "QUEUE_NAME": f"scanbox-compare-{os.getpid()}",
        "FETCHER_NETWORK": "host",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
        "HOST_RATE_LIMIT": "0",
        "DEDUP_WINDOW_MS": "0",
        "CONDITIONAL_RESCAN": "false",
        "LOG_LEVEL": "warning",
    })  # fmt: skip
    settings = Settings()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
         str(ROOT / "demo"), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/scanbox"), "worker", "--concurrency", "1"],
        stderr=(workdir / "worker.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}/"
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    bare: list[float] = []
    scans: list[float] = []
    try:
        for turn in range(count + 1):  # the first turn warms both sides up and is dropped
            started = time.perf_counter()
            subprocess.run(docker_run_args(settings, url), check=True, capture_output=True)
            bare_ms = (time.perf_counter() - started) * 1000
            [job_id] = submit_urls([url], db=db, dispatcher=dispatcher(settings, redis))
            job = wait_for_terminal(db, [job_id], timeout_s=120)[job_id]
            if job.state != "COMPLETED" or job.finished_at is None:
                raise SystemExit(f"scan {job_id} ended {job.state}: {job.error_message}")
            if turn:
                bare.append(bare_ms)
                scans.append((job.finished_at - job.created_at).total_seconds() * 1000)
    finally:
        worker.terminate()
        server.terminate()
        worker.wait(timeout=60)
        server.wait(timeout=10)
        redis.close()
        db.dispose()
    print(f"{count} turns against {url}")
    print(_line("docker run --rm (CLI)", bare))
    print(_line("scanbox submit -> COMPLETED", scans))
    ratio = statistics.median(scans) / statistics.median(bare)
    print(f"ratio scanbox / docker run --rm, p50: {ratio:.2f}")


def _line(what: str, samples: list[float]) -> str:
    return (
        f"{what:<28} p50 {statistics.median(samples):6.1f} ms"
        f"   min {min(samples):6.1f}   max {max(samples):6.1f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
