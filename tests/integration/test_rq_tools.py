"""RQ's own tools see scanbox's queues and workers: `rq info` on the RQ release installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import docker
from redis import Redis

from tests.integration.conftest import settings_from
from tests.services import poll, unavailable, worker_processes
from worker.app.clients import dispatcher
from worker.queue.dispatch import queue_names


def _rq_info(redis_url: str) -> str:
    binary = shutil.which("rq", path=str(Path(sys.executable).parent))
    if binary is None:
        unavailable("RQ's command line (rq)")
    done = subprocess.run(
        [binary, "info", "--url", redis_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _children(pid: int) -> set[int]:
    """The child processes of ``pid`` (``scanbox worker`` forks one per ``--concurrency``)."""
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_rq_info_lists_scanboxs_queues_and_workers(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    settings = settings_from(scan_env)
    redis = Redis.from_url(settings.effective_redis_url)
    # A delayed job on each queue, for a scan job id nothing knows.
    names = queue_names(settings.queue_name)
    for priority in ("high", "normal", "low"):
        dispatcher(settings, redis).dispatch(["f" * 32], priority=priority, delay_s=3600)
    with worker_processes(scan_env, tmp_path) as workers:
        parent = workers.start("--concurrency", "2")

        def both_listed() -> str | None:
            text = _rq_info(settings.effective_redis_url)
            return text if "2 workers" in text else None

        info = poll(both_listed, timeout_s=60, what="rq info listing both worker processes")
        processes = _children(parent.pid)
    redis.close()
    for name in names:
        assert re.search(rf"^{re.escape(name)} ", info, re.MULTILINE), info
    # Both worker processes, named after their host and pid, listening on the three queues.
    listed = re.findall(r"^(\S+) \(.*\): idle (.+?)\. jobs:", info, re.MULTILINE)
    assert len(listed) == 2, info
    assert all(set(queues.split(", ")) == set(names) for _, queues in listed), info
    assert {int(name.split(".")[1]) for name, _ in listed} == processes, info
