"""The browser image: its Chromium and Playwright agree, and a capture runs inside it under
the sandbox's limits (no network, read-only root, no capabilities, a non-root user, the
engine's init) with the egress proxy's double reached through a mounted Unix socket.

The image is ``$BROWSER_IMAGE`` (default ``scanbox-browser:latest``), built by
``scripts/build-browser-image.sh``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from fetcher.browser.stream import read_capture
from tests.browser import decode_png
from tests.containers import LABEL_TEST
from tests.proxydouble import ProxyDouble, proxy_double
from tests.services import unavailable
from tests.sites import Site, serve
from worker.containers.attach import HEADER, STDOUT
from worker.containers.spec import ContainerSpec, fetcher_host_options

#: The image under test.
BROWSER_IMAGE = os.environ.get("BROWSER_IMAGE", "scanbox-browser:latest")
#: Where the proxy's socket directory is mounted in the container.
EGRESS_MOUNT = "/run/egress"
#: The browser's HOME in the image (a tmpfs of its own when it runs).
BROWSER_HOME = "/home/browser"
#: The limits the browser runs under here (the defaults of BROWSER_MEMORY_LIMIT_MB and the rest).
BROWSER_SPEC = ContainerSpec(
    image=BROWSER_IMAGE,
    timeout_ms=60_000,
    memory_limit_mb=1536,
    cpu_limit=1.0,
    pids_limit=256,
    tmpfs_mb=256,
    user="65534:65534",
    network="none",
)


@pytest.fixture(scope="module")
def browser_image(docker_client: docker.DockerClient) -> str:
    try:
        docker_client.images.get(BROWSER_IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"the browser image {BROWSER_IMAGE} (scripts/build-browser-image.sh)")
    return BROWSER_IMAGE


def sandbox_options(socket_dir: Path) -> dict[str, Any]:
    """The container options of a capture: the fetcher's sandbox plus a HOME and the socket."""
    options = fetcher_host_options(BROWSER_SPEC)
    options["tmpfs"] = {
        **options["tmpfs"],
        BROWSER_HOME: "rw,noexec,nosuid,nodev,size=64m,uid=65534,gid=65534,mode=0700",
    }
    options["volumes"] = {str(socket_dir): {"bind": EGRESS_MOUNT, "mode": "rw"}}
    options["user"] = BROWSER_SPEC.user
    return options


@dataclass
class ContainerRun:
    """One container run: exit status, raw stdout, stderr and the sampled peak memory."""

    status: int
    stdout: bytes
    stderr: bytes
    peak_memory_bytes: int
    wall_s: float


def _demux(chunks: Iterator[bytes]) -> tuple[bytes, bytes]:
    buffer = bytearray()
    out = bytearray()
    err = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= HEADER.size:
            stream, length = HEADER.unpack_from(buffer)
            if len(buffer) < HEADER.size + length:
                break
            payload = bytes(buffer[HEADER.size : HEADER.size + length])
            del buffer[: HEADER.size + length]
            (out if stream == STDOUT else err).extend(payload)
    return bytes(out), bytes(err)


def _peak_memory(container: Container, stop: threading.Event, peak: list[int]) -> None:
    path = Path(f"/sys/fs/cgroup/memory/docker/{container.id}/memory.max_usage_in_bytes")
    while not stop.wait(0.1):
        with contextlib.suppress(OSError, ValueError):
            peak[0] = max(peak[0], int(path.read_text()))


def run_browser(
    client: docker.DockerClient, *, command: list[str], socket_dir: Path, timeout_s: float
) -> ContainerRun:
    """Run the browser image with ``command`` in the sandbox; its output read from the attach
    stream (binary-safe), the container removed however the run ends."""
    container = client.containers.create(
        BROWSER_IMAGE,
        command=command,
        name=f"scanbox-test-browser-{uuid.uuid4().hex[:10]}",
        labels={LABEL_TEST: "browser"},
        **sandbox_options(socket_dir),
    )
    stop = threading.Event()
    peak = [0]
    attached = None
    try:
        attached = client.api.attach_socket(
            container.id, params={"stdout": 1, "stderr": 1, "stream": 1}
        )
        raw = attached._sock
        raw.settimeout(timeout_s)
        started = time.monotonic()
        container.start()
        sampler = threading.Thread(target=_peak_memory, args=(container, stop, peak))
        sampler.start()

        def chunks() -> Iterator[bytes]:
            while data := raw.recv(65536):
                yield data

        stdout, stderr = _demux(chunks())
        status = container.wait(timeout=timeout_s)["StatusCode"]
        wall = time.monotonic() - started
        stop.set()
        sampler.join(timeout=5)
    finally:
        stop.set()
        if attached is not None:
            attached._sock.close()
            attached.close()
        container.remove(force=True)
    return ContainerRun(
        status=int(status),
        stdout=stdout,
        stderr=stderr,
        peak_memory_bytes=peak[0],
        wall_s=wall,
    )


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as served:
        yield served


@pytest.fixture
def proxy(tmp_path: Path, site: Site) -> Iterator[ProxyDouble]:
    socket_dir = tmp_path / "egress"
    socket_dir.mkdir()
    socket_dir.chmod(0o755)
    with proxy_double(socket_dir, allowed_ports={site.port}) as double:
        yield double


def test_playwrights_chromium_is_the_installed_chromiums_major(
    docker_client: docker.DockerClient, browser_image: str
) -> None:
    output = docker_client.containers.run(
        browser_image,
        entrypoint=["python3", "-m", "fetcher.browser.versions", "--check"],
        remove=True,
        network_mode="none",
        labels={LABEL_TEST: "browser"},
    )
    versions = json.loads(output)
    assert versions["match"] is True
    assert versions["playwright_chromium"].split(".")[0] == versions["chromium"].split(".")[0]


def test_a_capture_in_the_sandbox_reaches_the_page_only_through_the_proxy(
    docker_client: docker.DockerClient,
    browser_image: str,
    site: Site,
    proxy: ProxyDouble,
    figures: list[dict[str, Any]],
) -> None:
    site.page(
        "/",
        b"<title>in a box</title><img src='/logo.png'>"
        b"<script>document.title = 'boxed'; fetch('/api');</script>",
    )
    site.page("/api", b"[1, 2, 3]", content_type="application/json")
    logo = hashlib.sha256(b"logo").digest() * 8
    site.page("/logo.png", logo, content_type="image/png")
    socket_path = f"{EGRESS_MOUNT}/{proxy.socket_path.name}"

    run = run_browser(
        docker_client,
        command=["--proxy-socket", socket_path, "--deadline-ms", "20000", site.url("/")],
        socket_dir=proxy.socket_path.parent,
        timeout_s=60,
    )

    assert run.status == 0, run.stderr.decode("utf-8", "replace")
    report, artifacts = read_capture(io.BytesIO(run.stdout))
    assert report["title"] == "boxed"
    assert report["error"] is None
    by_path = {request["url"].removeprefix(site.url("")): request for request in report["requests"]}
    assert by_path["/api"]["sha256"] == hashlib.sha256(b"[1, 2, 3]").hexdigest()
    assert by_path["/logo.png"]["sha256"] == hashlib.sha256(logo).hexdigest()
    assert decode_png(artifacts["screenshot"]) == (1280, report["screenshot"]["height"])
    assert {record.target for record in proxy.records} >= {
        site.url("/"),
        site.url("/api"),
        site.url("/logo.png"),
    }
    figures.append(
        {
            "image_bytes": docker_client.images.get(browser_image).attrs["Size"],
            "container_wall_s": round(run.wall_s, 3),
            "launch_ms": report["timings"]["launch_ms"],
            "capture_ms": report["timings"]["capture_ms"],
            "window_ms": report["timings"]["window_ms"],
            "peak_memory_mb": round(run.peak_memory_bytes / 2**20, 1),
            "artifact_bytes": sum(len(data) for data in artifacts.values()),
        }
    )


def test_an_endless_script_loop_in_the_sandbox_ends_at_the_deadline(
    docker_client: docker.DockerClient, browser_image: str, site: Site, proxy: ProxyDouble
) -> None:
    site.page("/", b"<title>spin</title><script>while (true) {}</script>")
    socket_path = f"{EGRESS_MOUNT}/{proxy.socket_path.name}"

    run = run_browser(
        docker_client,
        command=[
            "--proxy-socket",
            socket_path,
            "--deadline-ms",
            "6000",
            "--collect-ms",
            "2000",
            site.url("/"),
        ],
        socket_dir=proxy.socket_path.parent,
        timeout_s=60,
    )

    assert run.status == 0, run.stderr.decode("utf-8", "replace")
    report, _artifacts = read_capture(io.BytesIO(run.stdout))
    assert report["error"]["code"] == "timeout"
    assert report["missing"]["page"] == "deadline"
