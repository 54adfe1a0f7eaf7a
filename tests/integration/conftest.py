from __future__ import annotations

import gc
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests.exceptions

from tests.services import RedisServer, egress_proxy, free_port, unavailable
from worker.containers.spec import LABEL_JOB, LABEL_MANAGED
from worker.settings import DEFAULT_FETCHER_IMAGE, Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server process of the test session's own."""
    server = RedisServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """The real Docker engine."""
    client: docker.DockerClient | None = None
    with warnings.catch_warnings():
        # docker-py leaves the socket of a refused connection to the garbage collector.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=60)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            if client is not None:
                client.close()
            client = None
        gc.collect()
    if client is None:
        unavailable("the Docker engine")
    yield client
    client.close()


@pytest.fixture(scope="session")
def fetcher_image(docker_client: docker.DockerClient) -> str:
    """The fetcher image that scripts/setup.sh builds, or ``SCANBOX_TEST_FETCHER_IMAGE``."""
    image = os.environ.get("SCANBOX_TEST_FETCHER_IMAGE") or DEFAULT_FETCHER_IMAGE
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        unavailable(f"the fetcher image {image} (run scripts/setup.sh)")
    return image


@pytest.fixture
def egress_dir() -> Iterator[Path]:
    """A short directory for one test's egress proxy (its sockets' paths must stay short)."""
    parent = Path(tempfile.mkdtemp(prefix="sbx-", dir="/tmp"))
    try:
        yield parent / "egress"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def scan_env(
    tmp_path: Path, redis_server: RedisServer, fetcher_image: str, egress_dir: Path
) -> Iterator[dict[str, str]]:
    """Environment for workers and producers of one test: its own database file and queue.

    Targets are on the test's loopback: fetchers have no network of their own and go out
    through the test's egress proxy (``scanbox egress``, running for the test, as it would as
    a service), which may reach 127.0.0.0/8 on any port.
    """
    env = {
        "TURSO_CONNECTION_URL": f"file:{tmp_path / 'scanbox.db'}",
        "REDIS_URL": redis_server.url,
        "QUEUE_NAME": f"test-{uuid.uuid4().hex[:12]}",
        "FETCHER_IMAGE": fetcher_image,
        "FETCHER_NETWORK": "egress",
        "EGRESS_DIR": str(egress_dir),
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
        "CONTAINER_TIMEOUT_MS": "30000",
        "FETCH_TIMEOUT_MS": "20000",
        "CONTAINER_MEMORY_LIMIT_MB": "128",
        "RETRY_BACKOFF_MS": "100",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    with egress_proxy(env, log=tmp_path / "egress.log"):
        yield env


def settings_from(env: dict[str, str]) -> Settings:
    """The settings a worker started with ``env`` would read."""
    return Settings(_env_file=None, **{name.lower(): value for name, value in env.items()})  # type: ignore[arg-type]


def scanbox_containers(client: docker.DockerClient, job_ids: list[str]) -> list[str]:
    """Names of scanbox containers, running or not, that belong to ``job_ids``."""
    wanted = set(job_ids)
    containers = client.containers.list(
        all=True, filters={"label": LABEL_MANAGED}, ignore_removed=True
    )
    return [c.name or "" for c in containers if c.labels.get(LABEL_JOB) in wanted]
