"""The benchmark's figures as JSON-ready data: the machine, the bare runs, the scans."""

from __future__ import annotations

import os
import platform
from typing import Any

import docker

from worker.bench import baseline, pipeline
from worker.bench.stats import summarize
from worker.errors import BenchmarkFailed


def machine(client: docker.DockerClient) -> dict[str, Any]:
    info = client.info()
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": info.get("ServerVersion"),
        "cgroup": info.get("CgroupVersion"),
        "storage_driver": info.get("Driver"),
    }


def summary(values: list[float | None]) -> dict[str, Any] | None:
    present = [value for value in values if value is not None]
    return summarize(present).as_dict() if present else None


def bare_results(runs: list[baseline.BareRun]) -> dict[str, Any]:
    if any(run.exit_code != 0 for run in runs):
        raise BenchmarkFailed("a bare fetcher container exited with an error")
    steps = ("create_ms", "start_ms", "wait_ms", "logs_ms", "remove_ms")
    return {
        "latency": summary([run.total_ms for run in runs]),
        "steps_p50_ms": {
            step: summarize([getattr(run, step) for run in runs]).p50_ms for step in steps
        },
        "fetcher_startup": summary([run.startup_ms for run in runs]),
    }


def scan_results(timings: list[pipeline.ScanTiming]) -> dict[str, Any]:
    stages = ("pickup_ms", "fetching_ms", "analyzing_ms")
    return {
        "latency": summary([timing.latency_ms for timing in timings]),
        "stages_p50_ms": {
            stage: summarize([getattr(timing, stage) for timing in timings]).p50_ms
            for stage in stages
        },
        "runner": summary([timing.runner_ms for timing in timings]),
        "fetcher_startup": summary([timing.startup_ms for timing in timings]),
    }


def throughput(count: int, wall_s: float) -> dict[str, float]:
    return {"wall_s": round(wall_s, 3), "throughput_per_s": round(count / wall_s, 2)}
