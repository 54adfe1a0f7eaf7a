"""The fetcher's start-up, image against image: its first request and its container's run.

Serves a page on 127.0.0.1 and runs each image in turn, N times, through the Docker SDK with
the options and limits of a scan (the engine's init included, as scans have it). Prints per
image the median and 90th percentile of ``timings.startup_ms`` (the interpreter's start to the
first request sent) and of the container's create → start → wait → logs → remove. With
``--periods`` each image also runs under each CPU period, in the same turns. The first turn
warms up and is dropped. To compare with an earlier version, build its image first::

    git worktree add /tmp/before 209b340
    docker build -f /tmp/before/Dockerfile.fetcher --build-arg BASE_IMAGE=scanbox/base:bookworm \\
        -t scanbox-fetcher:before /tmp/before
    .venv/bin/python benchmarks/fetcher_start.py --count 40 --periods 100,500 \\
        scanbox-fetcher:before scanbox-fetcher:latest
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import docker

from worker.app.containers import container_spec, fetcher_args
from worker.bench.baseline import bare_run
from worker.bench.site import serve_page
from worker.bench.stats import percentile
from worker.containers.spec import ContainerSpec
from worker.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="fetcher images (default: FETCHER_IMAGE)")
    parser.add_argument("--count", type=int, default=20, help="turns after the warm-up")
    parser.add_argument("--periods", help="CPU periods (ms) to compare, e.g. 100,500")
    arguments = parser.parse_args()
    os.environ.update({
        "FETCHER_NETWORK": "host",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
    })  # fmt: skip
    settings = Settings()
    spec = container_spec(settings)
    images = arguments.images or [settings.fetcher_image]
    periods = (
        [int(period) for period in arguments.periods.split(",")]
        if arguments.periods
        else [spec.cpu_period_ms]
    )
    variants = {
        f"{image}, {period} ms period": dataclasses.replace(spec, image=image, cpu_period_ms=period)
        for image in images
        for period in periods
    }
    startup, total = _measure(settings, variants, count=arguments.count)
    print(f"{arguments.count} turns, {spec.cpu_limit} CPU, init {spec.init}")
    columns = ("first request p50 / p90 (ms)", "container run p50 / p90 (ms)")
    print(f"{'image':<44} {columns[0]:>30} {columns[1]:>30}")
    for name in variants:
        print(f"{name:<44} {_pair(startup[name]):>30} {_pair(total[name]):>30}")


def _measure(
    settings: Settings, variants: dict[str, ContainerSpec], *, count: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    startup: dict[str, list[float]] = {name: [] for name in variants}
    total: dict[str, list[float]] = {name: [] for name in variants}
    api = docker.APIClient(timeout=60)
    try:
        with serve_page() as url:
            command = fetcher_args(settings).command(url)
            for turn in range(count + 1):
                for name, spec in variants.items():
                    run = bare_run(api, spec=spec, command=command)
                    if run.exit_code != 0 or run.startup_ms is None:
                        raise SystemExit(f"{name} exited {run.exit_code} without a start-up time")
                    if turn:
                        startup[name].append(run.startup_ms)
                        total[name].append(run.total_ms)
    finally:
        api.close()
    return startup, total


def _pair(samples: list[float]) -> str:
    return f"{percentile(samples, 0.5):.1f} / {percentile(samples, 0.9):.1f}"


if __name__ == "__main__":
    main()
