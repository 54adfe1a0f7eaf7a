"""Process memory read from /proc, and the benchmark's own settings for its workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from worker.bench.footprint import process_memory, process_tree
from worker.bench.options import LOOPBACK, bench_environment, bench_settings
from worker.settings import Settings


def test_memory_of_this_process() -> None:
    memory = process_memory(os.getpid())
    assert memory.pid == os.getpid()
    assert 1 < memory.rss_mib <= memory.peak_rss_mib
    assert memory.pss_mib is None or 0 < memory.pss_mib <= memory.rss_mib + 1


def test_process_tree_lists_children() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert process_tree(os.getpid())[0] == os.getpid()
        assert child.pid in process_tree(os.getpid())
    finally:
        child.communicate(b"")


def test_workers_reach_only_loopback_through_their_own_proxy_database_and_queue(
    tmp_path: Path,
) -> None:
    env = bench_environment(
        database=tmp_path / "bench.db",
        queue="bench-1234",
        redis_url="redis://127.0.0.1:1/0",
        egress_dir=tmp_path / "egress",
    )
    settings = bench_settings(Settings(_env_file=None), env)
    assert settings.fetcher_allow_networks == (LOOPBACK,) == ("127.0.0.0/8",)
    assert settings.fetcher_network == "egress"
    assert settings.egress_dir == str(tmp_path / "egress")
    assert settings.queue_name == "bench-1234"
    assert settings.turso_connection_url == f"file:{tmp_path / 'bench.db'}"
    assert settings.effective_redis_url == "redis://127.0.0.1:1/0"
    assert settings.host_rate_limit == 0
