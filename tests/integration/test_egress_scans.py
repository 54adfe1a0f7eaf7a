"""Scans with ``FETCHER_NETWORK=egress``: the container has no network of its own, its only
way out is its session of the egress proxy, and the result says what every connection did.

Real worker processes, a real ``scanbox egress``, real fetcher containers; pages on the
test's loopback. The hostile image is built in the test from the fetcher image: its program
skips the fetcher and its checks and tries every way out it can think of.
"""

from __future__ import annotations

import io
import ipaddress
import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from redis import Redis

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.services import egress_proxy, poll, unavailable, worker_processes
from tests.unit.fetcher.servers import Reply, ScriptedServer, SilentListener, routes
from worker.app.clients import dispatcher
from worker.app.containers import container_spec
from worker.app.database import open_database
from worker.app.egress import egress_client, proxy_sessions
from worker.containers.runner import DockerRunner, RunRequest
from worker.egress.errors import EgressUnavailable
from worker.store import queries
from worker.submit.batch import submit_urls

PAGE = b"<html><head><title>through the proxy</title></head><body>hi</body></html>"

#: Tries each way out and prints what happened, one JSON object. Targets are its
#: ``host:port`` arguments; the proxy's socket is the value of --proxy-socket.
HOSTILE = r"""
import json, socket, sys
args = sys.argv[1:]
at = args.index("--proxy-socket")
proxy = args[at + 1]
targets = [arg for arg in args[:at] + args[at + 2:] if arg != "--"]
out = {"direct": {}, "proxy": {}}
for target in targets:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            out["direct"][target] = "connected"
    except OSError as error:
        out["direct"][target] = type(error).__name__
    try:
        with socket.socket(socket.AF_UNIX) as tunnel:
            tunnel.settimeout(10)
            tunnel.connect(proxy)
            tunnel.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            out["proxy"][target] = tunnel.recv(200).split(b"\r\n")[0].decode()
    except OSError as error:
        out["proxy"][target] = type(error).__name__
print(json.dumps(out), flush=True)
"""


def _scanbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def site() -> Iterator[ScriptedServer]:
    server = ScriptedServer(
        routes(
            {
                "/": Reply(headers=[("Content-Type", "text/html")], body=PAGE),
                "/go": Reply(status=302, headers=[("Location", "/")]),
            }
        )
    )
    yield server
    server.close()


@pytest.fixture
def canary() -> Iterator[SilentListener]:
    """Listens on every address of the host: loopback, the Docker bridge's gateway, others."""
    listener = SilentListener(host="0.0.0.0")
    yield listener
    listener.close()


def _scan(env: dict[str, str], url: str, tmp_path: Path) -> tuple[Any, Any]:
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    [job_id] = submit_urls([url], db=db, dispatcher=dispatcher(settings, redis))
    redis.close()
    with worker_processes(env, tmp_path) as workers:
        assert workers.run("--burst", "--concurrency", "1") == 0
    return queries.get_job(db, job_id), queries.get_result(db, job_id)


@pytest.fixture(params=["runc", "runsc"])
def runtime(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> str:
    name: str = request.param
    if name == "runsc" and "runsc" not in docker_client.info().get("Runtimes", {}):
        unavailable("gVisor's runsc registered with the Docker engine (run scripts/setup.sh)")
    return name


def test_a_scan_goes_out_only_through_its_session_and_its_result_names_every_peer(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    site: ScriptedServer,
    runtime: str,
    tmp_path: Path,
) -> None:
    env = scan_env | {"CONTAINER_PIDS_LIMIT": "128"}
    if runtime == "runsc":
        env["CONTAINER_RUNTIME"] = "runsc"
    job, result = _scan(env, site.url("/go"), tmp_path)

    assert job.state == State.COMPLETED, job.error_message
    assert (result.status_code, result.title) == (200, "through the proxy")
    # Both hops went through the proxy, which connected to the address it had checked.
    assert [(c["host"], c["port"], c["connected"], c["decision"]) for c in result.egress] == [
        ("127.0.0.1", site.port, "127.0.0.1", "allowed"),
        ("127.0.0.1", site.port, "127.0.0.1", "allowed"),
    ]
    assert all(c["bytes_down"] > 0 for c in result.egress)
    assert site.connections == ["127.0.0.1", "127.0.0.1"]
    shown = _scanbox(env, "show", job.id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["result"]["egress"] == result.egress
    human = _scanbox(env, "show", job.id)
    assert "egress" in human.stdout
    assert "allowed" in human.stdout


def test_a_worker_starts_an_egress_proxy_when_none_answers_and_stops_it_at_exit(
    scan_env: dict[str, str], site: ScriptedServer, tmp_path: Path, egress_dir: Path
) -> None:
    env = scan_env | {"EGRESS_DIR": f"{egress_dir}-own"}
    client = egress_client(settings_from(env))
    with pytest.raises(EgressUnavailable):
        client.ping()

    job, result = _scan(env, site.url("/"), tmp_path)

    assert job.state == State.COMPLETED, job.error_message
    assert [c["decision"] for c in result.egress] == ["allowed"]
    with pytest.raises(EgressUnavailable):
        client.ping()


@pytest.fixture
def hostile_image(docker_client: docker.DockerClient, fetcher_image: str) -> Iterator[str]:
    tag = f"scanbox-test-hostile-egress-{secrets.token_hex(4)}:latest"
    entrypoint = json.dumps(["python3", "-c", HOSTILE])
    dockerfile = f"FROM {fetcher_image}\nENTRYPOINT {entrypoint}\n".encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


def _gateway(attrs: dict[str, Any]) -> str:
    """A network's gateway: the address the engine names, or its subnet's first one."""
    config = attrs["IPAM"]["Config"][0]
    gateway = config.get("Gateway")
    return str(gateway or next(ipaddress.ip_network(config["Subnet"]).hosts()))


@pytest.fixture
def test_network(docker_client: docker.DockerClient) -> Iterator[str]:
    """A network of the test's own; its gateway is an address of this host."""
    network = docker_client.networks.create(f"scanbox-test-egress-{secrets.token_hex(4)}")
    try:
        network.reload()
        yield _gateway(network.attrs)
    finally:
        network.remove()


def test_a_hostile_image_reaches_nothing_directly_and_the_proxy_refuses_what_is_not_allowed(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    hostile_image: str,
    canary: SilentListener,
    site: ScriptedServer,
    test_network: str,
    egress_dir: Path,
    tmp_path: Path,
) -> None:
    bridge = _gateway(docker_client.networks.get("bridge").attrs)
    # This proxy allows the page's port on 127.0.0.1, and nothing else.
    env = scan_env | {
        "EGRESS_DIR": f"{egress_dir}-strict",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.1/32",
        "FETCHER_ALLOWED_PORTS": str(site.port),
        "FETCHER_IMAGE": hostile_image,
    }
    targets = [
        f"127.0.0.1:{canary.port}",
        f"{bridge}:{canary.port}",
        f"{test_network}:{canary.port}",
        f"{bridge}:{site.port}",
        f"10.0.0.1:{site.port}",
        f"127.0.0.1:{site.port}",
    ]
    settings = settings_from(env)
    runner = DockerRunner(
        client=docker_client, spec=container_spec(settings), egress=proxy_sessions(settings)
    )
    with egress_proxy(env, log=tmp_path / "strict-egress.log"):
        run = runner.run(
            RunRequest(
                job_id=secrets.token_hex(16),
                attempt=1,
                worker_id="test-worker",
                url=targets[-1],
                options=targets[:-1],
            )
        )
    said = json.loads(run.stdout)
    allowed = f"127.0.0.1:{site.port}"

    # No direct connection anywhere: the container has no network but its own loopback.
    assert all(outcome != "connected" for outcome in said["direct"].values()), said
    # Through the proxy, only the allowed target gets a tunnel.
    assert said["proxy"][allowed] == "HTTP/1.1 200 Connection established", said
    refused = {target: line for target, line in said["proxy"].items() if target != allowed}
    assert all(line.startswith("HTTP/1.1 403") for line in refused.values()), said
    assert canary.connection_count() == 0
    assert run.egress is not None
    decisions = {f"{c['host']}:{c['port']}": c["decision"] for c in run.egress}
    assert decisions == {target: "refused" for target in refused} | {allowed: "allowed"}


def test_a_proxy_a_worker_started_stops_when_that_worker_is_killed(
    scan_env: dict[str, str], tmp_path: Path, egress_dir: Path
) -> None:
    env = scan_env | {"EGRESS_DIR": f"{egress_dir}-orphan"}
    client = egress_client(settings_from(env))
    with worker_processes(env, tmp_path) as workers:
        worker = workers.start("--concurrency", "1")
        poll(lambda: _answering(client), timeout_s=30, what="the worker's egress proxy")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        # Not its process group: the proxy runs in a session of its own, and goes by itself.
        poll(lambda: None if _answering(client) else True, timeout_s=10, what="the proxy to go")


def _answering(client: Any) -> bool | None:
    try:
        client.ping()
    except EgressUnavailable:
        return None
    return True
