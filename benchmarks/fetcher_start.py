"""The fetcher's start-up, image against image: its first request and its container's run.

Serves a page on 127.0.0.1 and runs each image in turn, N times, through the Docker SDK with
the options and limits of a scan (the engine's init included, as scans have it). Prints per
image the median and 90th percentile of ``timings.startup_ms`` (the interpreter's start to the
first request sent) and of the container's create → start → wait → logs → remove. The first
turn warms up and is dropped. To compare with an earlier version, build its image first::

    git worktree add /tmp/before 209b340
    docker build -f /tmp/before/Dockerfile.fetcher --build-arg BASE_IMAGE=scanbox/base:bookworm \\
        -t scanbox-fetcher:before /tmp/before
    .venv/bin/python benchmarks/fetcher_start.py 40 scanbox-fetcher:before scanbox-fetcher:latest
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys

import docker

from worker.bench.baseline import bare_run
from worker.bench.site import serve_page
from worker.services import container_spec, fetch_options
from worker.settings import Settings


def main(count: int, images: list[str]) -> None:
    os.environ.update({
        "FETCHER_NETWORK": "host",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
    })  # fmt: skip
    settings = Settings()
    spec = container_spec(settings)
    api = docker.APIClient(timeout=60)
    startup: dict[str, list[float]] = {image: [] for image in images}
    total: dict[str, list[float]] = {image: [] for image in images}
    try:
        with serve_page() as url:
            command = fetch_options(settings).args(url)
            for turn in range(count + 1):
                for image in images:
                    image_spec = dataclasses.replace(spec, image=image)
                    run = bare_run(api, spec=image_spec, command=command)
                    if run.exit_code != 0 or run.startup_ms is None:
                        raise SystemExit(f"{image} exited {run.exit_code} without a start-up time")
                    if turn:
                        startup[image].append(run.startup_ms)
                        total[image].append(run.total_ms)
    finally:
        api.close()
    print(f"{count} turns against {url}, {spec.cpu_limit} CPU, init {spec.init}")
    columns = ("first request p50 / p90 (ms)", "container run p50 / p90 (ms)")
    print(f"{'image':<32} {columns[0]:>30} {columns[1]:>30}")
    for image in images:
        print(f"{image:<32} {_pair(startup[image]):>30} {_pair(total[image]):>30}")


def _pair(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.1f} / {p90:.1f}"


if __name__ == "__main__":
    arguments = sys.argv[1:]
    turns = int(arguments.pop(0)) if arguments and arguments[0].isdigit() else 20
    main(turns, arguments or [Settings().fetcher_image])
