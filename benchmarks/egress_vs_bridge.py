"""A scan-like fetcher container through the egress proxy (``network_mode=none``) against
the same container on a bridge network, measured in one run.

The page is served by a container of the benchmark's own on a bridge network it creates
(no host outside the machine is involved). Each turn runs, in alternation:

- ``bridge``: the fetcher container joins that network and fetches the page directly;
- ``none+proxy``: a session is opened on an egress proxy running here, the fetcher
  container runs with ``network_mode=none`` and the session's directory mounted, fetches
  the page through the proxy, and the session is closed (as a worker would do);
- ``runsc+proxy``: the same under gVisor (``--runtime runsc``, when the engine has it; its
  own network stack does not run on these machines, so there is no bridge variant of it).

Then throughput: ``--count`` containers of each variant, ``--concurrency`` at a time.
All run the scan's container options (limits, read-only root, no capabilities, init).
Timed: the whole lifecycle, create → start → wait → logs → remove (plus the session's open
and close for the proxy). The first turn warms up and is dropped. Run it after building an
image that has ``--proxy-socket``, under the Docker lock::

    .venv/bin/python benchmarks/egress_vs_bridge.py --count 15 \\
        --output benchmarks/egress-vs-bridge.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker

from fetcher.ports import parse_port_policy
from worker.app.containers import container_spec
from worker.bench.stats import percentile
from worker.containers.spec import ContainerSpec, fetcher_host_options
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.egress.proxy import EgressProxy
from worker.settings import Settings

#: Label on every container and network this benchmark makes.
LABEL = "org.scanbox.bench.egress"
#: Where a fetcher container finds its session directory.
MOUNT = "/run/scanbox-egress"
#: The page container's port.
PAGE_PORT = 8080
#: The page server, run by the fetcher image's own python3.
PAGE_SERVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
PAGE = (b"<!doctype html><html><head><title>scanbox benchmark</title></head><body><p>"
        + b"benchmark page " * 64 + b"</p></body></html>")
class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", 8080), Page).serve_forever()
"""
MS = 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="fetcher image with --proxy-socket [FETCHER_IMAGE]")
    parser.add_argument("--count", type=int, default=20, help="turns after the warm-up")
    parser.add_argument("--output", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="containers at a time, for throughput"
    )
    arguments = parser.parse_args()
    settings = Settings()
    spec = container_spec(settings)
    if arguments.image:
        spec = dataclasses.replace(spec, image=arguments.image)
    client = docker.from_env(timeout=60)
    variants = ["bridge", "none+proxy"]
    if "runsc" in client.info().get("Runtimes", {}):
        variants.append("runsc+proxy")
    timings: dict[str, list[float]] = {name: [] for name in variants}
    rates: dict[str, float] = {}
    startups: dict[str, list[float]] = {name: [] for name in variants}
    try:
        with bench_network(client) as network, page_container(client, spec, network) as page:
            allowed = ipaddress.ip_network(f"{page}/32")
            url = f"http://{page}:{PAGE_PORT}/"
            fetch_args = [url, "--allow-network", str(allowed), "--allowed-ports", "any"]
            with egress(allowed) as egress_client:
                for turn in range(arguments.count + 1):
                    bridged = dataclasses.replace(spec, network=network)
                    total, startup = run_bridge(client, bridged, fetch_args)
                    keep(turn, timings["bridge"], startups["bridge"], total, startup)
                    isolated = dataclasses.replace(spec, network="none")
                    total, startup = run_proxied(client, isolated, egress_client, fetch_args)
                    keep(turn, timings["none+proxy"], startups["none+proxy"], total, startup)
                    if "runsc+proxy" in timings:
                        gvisor = dataclasses.replace(
                            isolated, runtime="runsc", pids_limit=max(spec.pids_limit, 128)
                        )
                        total, startup = run_proxied(client, gvisor, egress_client, fetch_args)
                        keep(turn, timings["runsc+proxy"], startups["runsc+proxy"], total, startup)
                specs = {
                    "bridge": dataclasses.replace(spec, network=network),
                    "none+proxy": dataclasses.replace(spec, network="none"),
                    "runsc+proxy": dataclasses.replace(
                        spec, network="none", runtime="runsc", pids_limit=max(spec.pids_limit, 128)
                    ),
                }
                for name in variants:
                    rates[name] = throughput(
                        name,
                        specs[name],
                        egress_client,
                        fetch_args,
                        count=arguments.count,
                        concurrency=arguments.concurrency,
                    )
    finally:
        client.close()
    print(f"{arguments.count} turns each, alternating; image {spec.image}")
    print(
        f"{'variant':<12} {'run p50 / p90 (ms)':>22} {'fetcher start-up p50 (ms)':>27}"
        f" {'containers/s at ' + str(arguments.concurrency):>20}"
    )
    for name, samples in timings.items():
        run = f"{percentile(samples, 0.5):.1f} / {percentile(samples, 0.9):.1f}"
        print(f"{name:<12} {run:>22} {percentile(startups[name], 0.5):>27.1f} {rates[name]:>20.2f}")
    difference = percentile(timings["none+proxy"], 0.5) - percentile(timings["bridge"], 0.5)
    print(f"none+proxy - bridge, p50: {difference:+.1f} ms")
    if arguments.output:
        figures = {
            "turns": arguments.count,
            "concurrency": arguments.concurrency,
            "image": spec.image,
            "variants": {
                name: {
                    "run_p50_ms": round(percentile(samples, 0.5), 1),
                    "run_p90_ms": round(percentile(samples, 0.9), 1),
                    "startup_p50_ms": round(percentile(startups[name], 0.5), 1),
                    "throughput_per_s": round(rates[name], 2),
                }
                for name, samples in timings.items()
            },
        }
        arguments.output.write_text(json.dumps(figures, indent=2) + "\n")


def keep(
    turn: int, totals: list[float], startups: list[float], total: float, startup: float
) -> None:
    if turn:  # the first turn warms up
        totals.append(total)
        startups.append(startup)


def run_bridge(
    client: docker.DockerClient, spec: ContainerSpec, arguments: list[str]
) -> tuple[float, float]:
    """One direct fetch on the bridge network; its total time and the fetcher's start-up."""
    started = time.perf_counter()
    report = run_fetcher(client, spec, arguments, volumes={})
    return (time.perf_counter() - started) * MS, float(report["timings"]["startup_ms"])


def run_proxied(
    client: docker.DockerClient, spec: ContainerSpec, egress: EgressClient, arguments: list[str]
) -> tuple[float, float]:
    """One fetch through a fresh proxy session; its total time and the fetcher's start-up."""
    started = time.perf_counter()
    session = egress.open_session(label="bench", ttl_ms=spec.timeout_ms)
    try:
        socket_path = f"{MOUNT}/{session.socket_path.name}"
        report = run_fetcher(
            client,
            spec,
            [*arguments, "--proxy-socket", socket_path],
            volumes={str(session.directory): {"bind": MOUNT, "mode": "ro"}},
        )
    finally:
        record = egress.close_session(session.id)
    total = (time.perf_counter() - started) * MS
    if [entry.decision for entry in record.connections] != ["allowed"]:
        raise SystemExit(f"the proxy did not relay exactly one connection: {record}")
    return total, float(report["timings"]["startup_ms"])


def throughput(
    variant: str,
    spec: ContainerSpec,
    egress_client: EgressClient,
    arguments: list[str],
    *,
    count: int,
    concurrency: int,
) -> float:
    """Containers per second: ``count`` runs of ``variant``, ``concurrency`` at a time, each
    thread with a Docker client of its own."""

    def one(_: int) -> None:
        client = docker.from_env(timeout=120)
        try:
            if variant == "bridge":
                run_bridge(client, spec, arguments)
            else:
                run_proxied(client, spec, egress_client, arguments)
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return count / (time.perf_counter() - started)


def run_fetcher(
    client: docker.DockerClient, spec: ContainerSpec, arguments: list[str], *, volumes: Any
) -> dict[str, Any]:
    """Create, start, wait for, read and remove one fetcher container; return its report."""
    container = client.containers.create(
        spec.image,
        command=arguments,
        user=spec.user,
        labels={LABEL: "fetcher"},
        volumes=volumes,
        **fetcher_host_options(spec),
    )
    try:
        container.start()
        container.wait(timeout=spec.timeout_ms / MS)
        output = container.logs(stdout=True, stderr=False)
    finally:
        container.remove(force=True)
    report: dict[str, Any] = json.loads(output)
    if report["status_code"] != 200:
        raise SystemExit(f"the fetch failed: {report['error']}")
    return report


@contextmanager
def bench_network(client: docker.DockerClient) -> Iterator[str]:
    """A bridge network of the benchmark's own, removed afterwards."""
    name = f"scanbox-egress-bench-{os.getpid()}"
    network = client.networks.create(name, driver="bridge", labels={LABEL: "network"})
    try:
        yield name
    finally:
        network.remove()


@contextmanager
def page_container(client: docker.DockerClient, spec: ContainerSpec, network: str) -> Iterator[str]:
    """The page server on ``network``; yields its address once it answers."""
    container = client.containers.run(
        spec.image,
        entrypoint=["python3", "-c", PAGE_SERVER],
        user=spec.user,
        network=network,
        read_only=True,
        cap_drop=["ALL"],
        labels={LABEL: "page"},
        detach=True,
    )
    try:
        container.reload()
        address = str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])
        _wait_until(lambda: _answers(address), what="the page container")
        yield address
    finally:
        container.remove(force=True)


@contextmanager
def egress(allowed: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Iterator[EgressClient]:
    """A real egress proxy on its own loop and thread, allowing only the page."""
    with tempfile.TemporaryDirectory(prefix="sbx-bench-") as directory:
        config = EgressConfig(
            directory=Path(directory) / "egress",
            allowed_networks=(allowed,),
            allowed_ports=parse_port_policy("any"),
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="egress", daemon=True)
        thread.start()
        proxy = EgressProxy(config, logger=_Quiet())
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        try:
            yield EgressClient(control_socket=config.control_socket)
        finally:
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def _answers(address: str) -> bool:
    import socket  # noqa: PLC0415 (only the readiness probe needs it)

    try:
        with socket.create_connection((address, PAGE_PORT), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until(check: Callable[[], bool], *, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up within {timeout_s} s")
        time.sleep(0.05)


class _Quiet:
    """A logger that keeps the proxy's lines out of the figures."""

    def __getattr__(self, _level: str) -> object:
        return lambda *_args, **_fields: None


if __name__ == "__main__":
    main()
