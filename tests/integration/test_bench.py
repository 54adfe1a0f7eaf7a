"""``scanbox bench`` end to end, small: real Docker, a Redis of the test's own, real workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
from redis import Redis

from tests.services import RedisServer
from worker.bench.baseline import LABEL_BENCH


def test_bench_measures_both_sides_and_leaves_nothing_behind(
    redis_server: RedisServer,
    docker_client: docker.DockerClient,
    fetcher_image: str,
    tmp_path: Path,
) -> None:
    output = tmp_path / "figures" / "bench.json"
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "FETCHER_IMAGE": fetcher_image,
        "CONTAINER_MEMORY_LIMIT_MB": "128",
    }
    env.pop("TURSO_CONNECTION_URL", None)
    env.pop("QUEUE_NAME", None)
    redis = Redis.from_url(redis_server.url)
    jobs_before = set(redis.scan_iter("rq:job:*"))
    completed = subprocess.run(
        [sys.executable, "-m", "worker", "bench", "--count", "2", "--concurrency", "2",
         "--workers", "2", "--submit-count", "20", "--batch-size", "10",
         "--output", str(output)],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(output.read_text())
    for side in ("baseline", "scanbox"):
        assert results[side]["sequential"]["latency"]["count"] == 2
        assert results[side]["concurrent"]["latency"]["count"] == 2
        assert results[side]["concurrent"]["throughput_per_s"] > 0
    assert results["scanbox"]["sequential"]["fetcher_startup"]["count"] == 2
    assert results["submit"]["function"] == "worker.submit.submit_urls"
    assert results["submit"]["single"]["count"] == 20
    assert results["submit"]["batched_per_s"] > 0
    assert results["footprint"]["worker_rss_max_mib"] > 1
    assert 1 < results["footprint"]["container_peak_mib"] < 128
    assert results["footprint"]["python_start"]["count"] == 3
    assert results["footprint"]["python_start"]["p50_ms"] > 0
    assert results["settings"]["memory_limit_mb"] == 128
    # Both sides through the benchmark's own egress proxy, as scans go by default.
    assert results["settings"]["network"] == "egress"
    assert results["table"][0]["measure"] == "sequential latency p50 (ms)"
    assert "sequential latency p50 (ms)" in completed.stdout
    assert str(output) in completed.stdout
    # Its containers are gone, its queues are empty, and it wrote nothing in the directory
    # it ran in but the figures.
    assert (
        docker_client.containers.list(all=True, filters={"label": LABEL_BENCH}, ignore_removed=True)
        == []
    )
    try:
        assert [key for key in redis.scan_iter("rq:queue:bench-*")] == []
        assert set(redis.scan_iter("rq:job:*")) - jobs_before == set()
    finally:
        redis.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figures"]


def test_the_browser_bench_measures_bare_cold_and_warm_and_leaves_nothing_behind(
    redis_server: RedisServer, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    output = tmp_path / "browser.json"
    env = {**os.environ, "REDIS_URL": redis_server.url}
    for name in ("TURSO_CONNECTION_URL", "QUEUE_NAME", "EGRESS_DIR", "ARTIFACT_DIR"):
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "worker", "bench", "--mode", "browser", "--count", "1",
         "--workers", "1", "--output", str(output)],
        env=env, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert figures["bare"]["count"] == figures["cold"]["count"] == figures["warm"]["count"] == 1
    assert figures["cold"]["throughput_per_s"] > 0
    assert 0 < figures["peak_memory_mib"] < figures["limits"]["memory_limit_mb"]
    assert figures["artifact_bytes_p50"] > 0
    assert "browser scan p50, cold (ms)" in completed.stdout
    managed = docker_client.containers.list(
        all=True, filters={"label": "org.scanbox.managed"}, ignore_removed=True
    )
    assert [c.name for c in managed if c.name.startswith("scanbox-")] == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["browser.json"]
