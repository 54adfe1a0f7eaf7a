"""A fetcher container with no network of its own reaches loopback pages only through its
session of the egress proxy, whose directory is all it gets mounted.

The container runs as a scan's would (``network_mode=none``, user 65534, read-only root, no
capabilities, the scan's limits), from the fetcher image under test.
"""

from __future__ import annotations

import json
from typing import Any

import docker

from tests.egress_support import ScriptedResolver
from tests.integration.egress.conftest import MakeEgress
from tests.unit.fetcher.servers import Reply, ScriptedServer, SilentListener, routes
from worker.containers.spec import ContainerSpec, fetcher_host_options
from worker.egress.protocol import Session

#: Where a container finds its session's directory.
MOUNT = "/run/scanbox-egress"
#: Label on this test's containers.
LABEL = "org.scanbox.test.egress"
SPEC = ContainerSpec(
    image="",
    timeout_ms=20_000,
    memory_limit_mb=128,
    cpu_limit=0.5,
    pids_limit=32,
    tmpfs_mb=4,
    user="65534:65534",
    network="none",
    deployment="egress-tests",
)


def run_fetcher(
    client: docker.DockerClient, image: str, session: Session, arguments: list[str]
) -> dict[str, Any]:
    """Run the fetcher once with the session mounted; return its report."""
    options = fetcher_host_options(SPEC)
    container = client.containers.create(
        image,
        command=arguments,
        user=SPEC.user,
        labels={LABEL: "1"},
        volumes={str(session.directory): {"bind": MOUNT, "mode": "ro"}},
        **options,
    )
    try:
        container.start()
        status = container.wait(timeout=SPEC.timeout_ms / 1000)
        output = container.logs(stdout=True, stderr=False)
        errors = container.logs(stdout=False, stderr=True)
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, errors.decode(errors="replace")
    report: dict[str, Any] = json.loads(output)
    return report


def test_a_fetcher_without_a_network_goes_out_only_through_its_session(
    docker_client: docker.DockerClient,
    fetcher_image: str,
    make_egress: MakeEgress,
    make_server: Any,
    canary: SilentListener,
) -> None:
    server: ScriptedServer = make_server(
        routes(
            {
                "/": Reply(headers=[("Content-Type", "text/html")], body=b"<title>out</title>"),
                "/away": Reply(
                    status=302, headers=[("Location", f"http://canary.test:{canary.port}/")]
                ),
            }
        )
    )
    resolver = ScriptedResolver({"page.test": [["127.0.0.1"]], "canary.test": [["127.0.0.2"]]})
    egress = make_egress(resolver=resolver)
    session = egress.client.open_session(label="container", ttl_ms=60_000)
    common = [
        "--proxy-socket",
        f"{MOUNT}/{session.socket_path.name}",
        "--allow-network",
        "127.0.0.1/32",
        "--allowed-ports",
        "any",
        "--timeout-ms",
        "10000",
    ]

    page = run_fetcher(
        docker_client, fetcher_image, session, [f"http://page.test:{server.port}/", *common]
    )
    away = run_fetcher(
        docker_client, fetcher_image, session, [f"http://page.test:{server.port}/away", *common]
    )
    # Without the proxy the container's 127.0.0.1 is its own: nothing reaches the host.
    direct = run_fetcher(
        docker_client, fetcher_image, session, [f"http://127.0.0.1:{server.port}/", *common[2:]]
    )

    assert page["error"] is None
    assert (page["status_code"], page["title"]) == (200, "out")
    assert page["peer"] == {"address": "127.0.0.1", "port": server.port}
    assert away["error"]["code"] == "blocked"
    assert (
        away["error"]["message"]
        == "canary.test resolves to 127.0.0.2, which is blocked as loopback"
    )
    assert direct["error"]["code"] in ("refused", "unreachable")
    assert len(server.connections) == 2
    assert canary.connection_count() == 0
    egress.settle(session.id)
    record = egress.client.close_session(session.id)
    assert [(c.host, c.connected, c.decision) for c in record.connections] == [
        ("page.test", "127.0.0.1", "allowed"),
        ("page.test", "127.0.0.1", "allowed"),
        ("canary.test", None, "refused"),
    ]
