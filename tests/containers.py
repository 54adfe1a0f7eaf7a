"""Containers for the replica tests: their images, networks of the test's own, and a tracker.

Everything here is built from local parts (the Debian base image, the worker image that
``scripts/build-worker-image.sh`` builds, Debian's ``redis-server``), carries the label
``org.scanbox.test``, and is removed by ``ScratchContainers.remove_all`` however the test ends.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from tests.databases import REPOSITORY

#: Label on every container and network a replica test makes.
LABEL_TEST = "org.scanbox.test"
#: The local Debian base image (scripts/make-base-image.sh).
BASE_IMAGE = "scanbox/base:bookworm"
#: The worker image as users build it without a registry; the tests run exactly this.
WORKER_IMAGE = "scanbox-worker:latest"
#: A Redis image of the tests' own: the base image plus Debian's redis-server.
REDIS_IMAGE = "scanbox-test-redis:latest"
#: Where the in-project libSQL server's package is mounted inside its container.
TESTS_MOUNT = "/opt/scanbox-tests"
#: Ports the services listen on inside their containers.
REDIS_PORT = 6379
LIBSQL_PORT = 8080
TARGET_PORT = 8000
#: Seconds a stopping worker gets to finish its scans before Docker kills it.
STOP_TIMEOUT_S = 30

_REDIS_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      redis-server >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
USER redis
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", \\
            "--appendonly", "no"]
"""


def build_worker_image() -> str:
    """Build the worker image from this checkout, as a user without a registry would."""
    subprocess.run(
        [str(REPOSITORY / "scripts" / "build-worker-image.sh"), WORKER_IMAGE],
        cwd=REPOSITORY,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return WORKER_IMAGE


def build_redis_image(client: docker.DockerClient) -> str:
    """Build the tests' Redis image (cached by the engine after the first build)."""
    client.images.build(
        fileobj=io.BytesIO(_REDIS_DOCKERFILE.encode()),
        tag=REDIS_IMAGE,
        rm=True,
        labels={LABEL_TEST: "redis"},
    )
    return REDIS_IMAGE


@dataclass
class ScratchContainers:
    """Networks and containers one test made, removed at the end whatever happens."""

    client: docker.DockerClient
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    containers: list[Container] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)

    def network(self, role: str) -> Network:
        """A new bridge network of this test's own."""
        network = self.client.networks.create(
            f"scanbox-test-{role}-{self.run_id}",
            driver="bridge",
            labels={LABEL_TEST: self.run_id},
        )
        self.networks.append(network)
        return network

    def run(self, role: str, image: str, **options: Any) -> Container:
        """Start a detached container named after its role and this test."""
        container = self.client.containers.run(
            image,
            name=f"scanbox-test-{role}-{self.run_id}",
            detach=True,
            labels={LABEL_TEST: self.run_id},
            **options,
        )
        self.containers.append(container)
        return container

    def redis(self, *, network: Network) -> Container:
        return self.run(
            "redis",
            REDIS_IMAGE,
            network=network.name,
            ports={f"{REDIS_PORT}/tcp": ("127.0.0.1", None)},
        )

    def libsql(self, *, network: Network) -> Container:
        """The in-project libSQL server, run by the worker image's Python from this checkout."""
        return self.run(
            "libsql",
            WORKER_IMAGE,
            entrypoint=["python", "-m", "tests.libsqlserver"],
            command=[
                "--dir",
                "/var/lib/libsqlserver",
                "--host",
                "0.0.0.0",
                "--port",
                str(LIBSQL_PORT),
            ],
            working_dir=TESTS_MOUNT,
            environment={"PYTHONPATH": TESTS_MOUNT},
            volumes={str(REPOSITORY / "tests"): {"bind": f"{TESTS_MOUNT}/tests", "mode": "ro"}},
            network=network.name,
            ports={f"{LIBSQL_PORT}/tcp": ("127.0.0.1", None)},
        )

    def target(self, *, network: Network) -> Container:
        """A web server to scan: Python's http.server from the base image."""
        return self.run(
            "target",
            BASE_IMAGE,
            command=["python3", "-m", "http.server", str(TARGET_PORT), "--directory", "/srv"],
            network=network.name,
            user="65534:65534",
        )

    def worker(self, index: int, *, network: Network, env: Mapping[str, str]) -> Container:
        """A worker replica, starting fetcher containers through the mounted Docker socket."""
        return self.run(
            f"worker{index}",
            WORKER_IMAGE,
            command=["worker"],
            environment=dict(env),
            network=network.name,
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
        )

    def remove_all(self) -> None:
        for container in reversed(self.containers):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        self.containers.clear()
        for network in self.networks:
            # Whatever else joined it (a fetcher a worker started) is let go first. Docker
            # 20.10 can keep a stale endpoint of a container killed while it started, and then
            # refuses to remove the network: it is left behind, labelled, rather than failing
            # the test that made it.
            with contextlib.suppress(docker.errors.APIError):
                network.reload()
                for attached in network.containers:
                    with contextlib.suppress(docker.errors.APIError):
                        network.disconnect(attached, force=True)
                network.remove()
        self.networks.clear()


def host_port(container: Container, port: int) -> int:
    """The loopback port Docker published ``port`` of ``container`` on."""
    container.reload()
    return int(container.ports[f"{port}/tcp"][0]["HostPort"])


def subnet_of(network: Network) -> str:
    """The IPv4 subnet Docker gave ``network``."""
    network.reload()
    return str(network.attrs["IPAM"]["Config"][0]["Subnet"])


def replica_environment(
    *,
    database_url: str,
    redis_url: str,
    queue: str,
    deployment: str,
    fetcher_image: str,
    fetcher_network: str,
    allow_networks: str,
) -> dict[str, str]:
    """What each worker replica runs with: the same keys as ``compose.yaml``'s worker service,
    plus the test's own tunings (``TEST_TUNINGS``)."""
    return {
        "TURSO_CONNECTION_URL": database_url,
        "TURSO_AUTH_TOKEN": "",
        "REDIS_URL": redis_url,
        "QUEUE_NAME": queue,
        "SCANBOX_DEPLOYMENT": deployment,
        "FETCHER_IMAGE": fetcher_image,
        "FETCHER_NETWORK": fetcher_network,
        "EGRESS_DIR": "/run/scanbox/egress",
        "FETCHER_ALLOW_NETWORKS": allow_networks,
        "FETCHER_ALLOWED_PORTS": str(TARGET_PORT),
        "WORKER_CONCURRENCY": "2",
        "LOG_FORMAT": "json",
    } | TEST_TUNINGS


#: Settings the replica tests change from their defaults to run quickly on a small machine.
TEST_TUNINGS = {
    # One target host gets every scan: no per-host rate limit, no deduplication of URLs.
    "HOST_RATE_LIMIT": "0",
    "DEDUP_WINDOW_MS": "0",
    # A killed replica's claims expire within seconds, and are looked for every second.
    "LEASE_TTL_MS": "5000",
    "HOUSEKEEPING_INTERVAL_MS": "1000",
    "RETRY_BACKOFF_MS": "100",
    "CONTAINER_MEMORY_LIMIT_MB": "128",
    "CONTAINER_TIMEOUT_MS": "30000",
    "FETCH_TIMEOUT_MS": "10000",
}
