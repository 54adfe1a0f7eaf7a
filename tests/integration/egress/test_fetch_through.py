"""The fetcher through the real egress proxy: every hop is a CONNECT the proxy decides.

The fetcher here resolves nothing (its resolver fails the test if called); names resolve
only in the proxy, from a scripted table. Targets on 127.0.0.1 are allowed by both walls;
the canary on 127.0.0.2 is allowed by neither and must see no connection.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import trustme

from fetcher.fetch import fetch
from fetcher.outcome import FetchOutcome
from tests.egress_support import ScriptedResolver
from tests.integration.egress.conftest import ALLOWED, MakeEgress
from tests.unit.fetcher.servers import Reply, ScriptedServer, SilentListener, replies, routes
from tests.unit.fetcher.support import loopback_options, server_context

PAGE = Reply(headers=[("Content-Type", "text/html")], body=b"<title>through</title>")


def no_resolver(host: str, port: int, *, type: int) -> list[Any]:
    raise AssertionError(f"the fetcher resolved {host}; only the proxy may")


def fetch_through(url: str, socket_path: Path, **options: Any) -> FetchOutcome:
    return fetch(
        url,
        options=loopback_options(
            proxy_socket=str(socket_path), allowed_networks=ALLOWED, **options
        ),
        resolver=no_resolver,
    )


def test_a_page_is_fetched_through_the_proxy_and_its_peer_is_known_on_both_sides(
    make_egress: MakeEgress, make_server: Any
) -> None:
    server: ScriptedServer = make_server(replies(PAGE))
    egress = make_egress(resolver=ScriptedResolver({"page.test": [["127.0.0.1"]]}))
    session = egress.client.open_session(label="fetch")

    outcome = fetch_through(f"http://page.test:{server.port}/", session.socket_path)

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.status_code == 200
    assert outcome.final.peer is not None
    assert outcome.final.peer.address == ipaddress.ip_address("127.0.0.1")
    assert server.requests[0].headers["host"] == f"page.test:{server.port}"
    egress.settle(session.id)
    record = egress.client.close_session(session.id)
    (connection,) = record.connections
    assert (connection.host, connection.connected, connection.decision) == (
        "page.test",
        "127.0.0.1",
        "allowed",
    )


def test_a_redirect_to_a_name_of_the_canary_is_refused_by_the_proxy_hop_by_hop(
    make_egress: MakeEgress, make_server: Any, canary: SilentListener
) -> None:
    target = f"http://canary.test:{canary.port}/latest/meta-data/"
    server: ScriptedServer = make_server(
        routes({"/start": Reply(status=302, headers=[("Location", target)])})
    )
    resolver = ScriptedResolver({"page.test": [["127.0.0.1"]], "canary.test": [["127.0.0.2"]]})
    egress = make_egress(resolver=resolver)
    session = egress.client.open_session(label="redirect")

    outcome = fetch_through(f"http://page.test:{server.port}/start", session.socket_path)

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert outcome.error.message == (
        "canary.test resolves to 127.0.0.2, which is blocked as loopback"
    )
    assert outcome.error.url == target
    assert [hop.status_code for hop in outcome.redirects] == [302]
    assert canary.connection_count() == 0
    egress.settle(session.id)
    record = egress.client.close_session(session.id)
    assert [(c.host, c.decision, c.reason) for c in record.connections] == [
        ("page.test", "allowed", None),
        ("canary.test", "refused", "blocked-address"),
    ]
    assert resolver.calls == [("page.test", server.port), ("canary.test", canary.port)]


def test_a_redirect_to_the_canarys_address_is_refused_by_the_fetcher_before_the_proxy(
    make_egress: MakeEgress, make_server: Any, canary: SilentListener
) -> None:
    server: ScriptedServer = make_server(
        replies(Reply(status=302, headers=[("Location", f"http://127.0.0.2:{canary.port}/")]))
    )
    egress = make_egress()
    session = egress.client.open_session(label="literal")

    outcome = fetch_through(f"http://127.0.0.1:{server.port}/", session.socket_path)

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert "127.0.0.2, which is blocked as loopback" in outcome.error.message
    assert canary.connection_count() == 0
    egress.settle(session.id)
    record = egress.client.close_session(session.id)
    assert [c.host for c in record.connections] == ["127.0.0.1"]


def test_https_through_the_tunnel_verifies_the_urls_host_name(
    make_egress: MakeEgress, make_server: Any, test_ca: trustme.CA, ca_file: str
) -> None:
    server: ScriptedServer = make_server(
        replies(PAGE), ssl_context=server_context(test_ca, "secure.test")
    )
    resolver = ScriptedResolver({"secure.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    egress = make_egress(resolver=resolver)
    session = egress.client.open_session(label="tls")

    good = fetch_through(
        f"https://secure.test:{server.port}/", session.socket_path, ca_file=ca_file
    )
    wrong = fetch_through(
        f"https://other.test:{server.port}/", session.socket_path, ca_file=ca_file
    )

    assert good.error is None
    assert good.final is not None
    assert good.final.tls is not None
    assert good.final.tls.certificate is not None
    assert wrong.error is not None
    assert wrong.error.code == "tls"
    egress.settle(session.id)
    record = egress.client.close_session(session.id)
    assert [(c.host, c.kind, c.decision) for c in record.connections] == [
        ("secure.test", "connect", "allowed"),
        ("other.test", "connect", "allowed"),
    ]
