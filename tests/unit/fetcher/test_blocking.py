"""Server-side request forgery defences on the real fetch path, against loopback listeners.

Each blocked target has a listener where the connection would land; after the fetch the
listener's accept queue must be empty and the recording opener must have seen no attempt.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from fetcher.fetch import fetch
from fetcher.ports import parse_port_policy
from tests.unit.fetcher.servers import (
    FakeResolver,
    RecordingOpener,
    Reply,
    ScriptedServer,
    SilentListener,
    numeric_resolver,
    replies,
    routes,
)
from tests.unit.fetcher.support import fetch_loopback, loopback_options, no_sleep

MakeServer = Callable[..., ScriptedServer]
MakeListener = Callable[..., SilentListener]


@pytest.mark.parametrize(
    ("host", "listen_on", "category"),
    [
        ("127.0.0.1", "127.0.0.1", "loopback"),
        ("127.1", "127.0.0.1", "loopback"),
        ("2130706433", "127.0.0.1", "loopback"),
        ("0x7f000001", "127.0.0.1", "loopback"),
        ("0x7f.1", "127.0.0.1", "loopback"),
        ("0177.0.0.1", "127.0.0.1", "loopback"),
        ("[::1]", "::1", "loopback"),
        ("[::ffff:127.0.0.1]", "127.0.0.1", "ipv4-mapped:loopback"),
        ("[0:0:0:0:0:ffff:7f00:1]", "127.0.0.1", "ipv4-mapped:loopback"),
    ],
)
def test_loopback_in_any_spelling_is_blocked_without_connecting(
    make_listener: MakeListener, host: str, listen_on: str, category: str
) -> None:
    listener = make_listener(host=listen_on)
    opener = RecordingOpener()
    url = f"http://{host}:{listener.port}/"
    options = loopback_options(allowed_networks=())

    outcome = fetch(url, options=options, resolver=numeric_resolver, opener=opener)

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert category in outcome.error.message
    assert outcome.final is None
    assert outcome.attempts == 0
    assert opener.attempts == []
    assert listener.connection_count() == 0


def test_an_allowance_for_ipv4_loopback_does_not_open_its_ipv6_mapped_form(
    make_listener: MakeListener,
) -> None:
    listener = make_listener(host="127.0.0.1")
    opener = RecordingOpener()
    options = loopback_options(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))

    outcome = fetch(
        f"http://[::ffff:127.0.0.1]:{listener.port}/",
        options=options,
        resolver=numeric_resolver,
        opener=opener,
    )

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert opener.attempts == []
    assert listener.connection_count() == 0


@pytest.mark.parametrize("addresses", [["192.0.2.10", "127.0.0.1"], ["127.0.0.1", "192.0.2.10"]])
def test_one_blocked_address_among_several_blocks_the_whole_name(
    make_listener: MakeListener, addresses: list[str]
) -> None:
    listener = make_listener(host="127.0.0.1")
    resolver = FakeResolver([addresses])
    opener = RecordingOpener()
    options = loopback_options(listener.port)

    outcome = fetch(
        f"http://mixed.test:{listener.port}/", options=options, resolver=resolver, opener=opener
    )

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert "192.0.2.10" in outcome.error.message
    assert "documentation" in outcome.error.message
    assert resolver.calls == [("mixed.test", listener.port)]
    assert opener.attempts == []
    assert listener.connection_count() == 0


@pytest.mark.parametrize("address", ["203.0.113.5", "198.51.100.1", "2001:db8::5"])
def test_documentation_addresses_are_blocked_before_any_connection(address: str) -> None:
    resolver = FakeResolver([[address]])
    opener = RecordingOpener()

    outcome = fetch(
        "http://docs.test/", options=loopback_options(80), resolver=resolver, opener=opener
    )

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert address in outcome.error.message
    assert opener.attempts == []


def test_the_checked_address_is_the_one_connected_to_across_retries(
    make_server: MakeServer, make_listener: MakeListener
) -> None:
    server = make_server(
        replies(Reply(status=503, headers=[("Retry-After", "0")]), Reply(body=b"ok"))
    )
    rebound = make_listener(host="127.0.0.2", port=server.port)
    resolver = FakeResolver([["127.0.0.1"], ["127.0.0.2"]])
    options = loopback_options(server.port, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))

    outcome = fetch(
        f"http://rebind.test:{server.port}/", options=options, resolver=resolver, sleep=no_sleep
    )

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.status_code == 200
    assert outcome.attempts == 2
    assert resolver.calls == [("rebind.test", server.port)]
    assert server.connections == ["127.0.0.1", "127.0.0.1"]
    assert rebound.connection_count() == 0
    assert [request.headers["host"] for request in server.requests] == [
        f"rebind.test:{server.port}"
    ] * 2


def test_each_redirect_hop_is_resolved_once_and_checked_again(
    make_server: MakeServer, make_listener: MakeListener
) -> None:
    server = make_server(routes({"/first": Reply(status=302, headers=[("Location", "/second")])}))
    rebound = make_listener(host="127.0.0.2", port=server.port)
    resolver = FakeResolver([["127.0.0.1"], ["127.0.0.2"]])

    outcome = fetch(
        f"http://rebind.test:{server.port}/first",
        options=loopback_options(server.port),
        resolver=resolver,
    )

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert "127.0.0.2" in outcome.error.message
    assert resolver.calls == [("rebind.test", server.port)] * 2
    assert server.connections == ["127.0.0.1"]
    assert rebound.connection_count() == 0
    assert outcome.final is not None
    assert outcome.final.status_code == 302


def test_a_redirect_to_a_blocked_address_is_not_followed(
    make_server: MakeServer, make_listener: MakeListener
) -> None:
    target = make_listener(host="127.0.0.2")
    server = make_server(
        routes(
            {"/": Reply(status=302, headers=[("Location", f"http://127.0.0.2:{target.port}/x")])}
        )
    )
    opener = RecordingOpener()

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, target.port), opener=opener
    )

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert outcome.error.url == f"http://127.0.0.2:{target.port}/x"
    assert [hop.status_code for hop in outcome.redirects] == [302]
    assert outcome.final is not None
    assert outcome.final.url == server.url("/")
    assert opener.attempts == [("127.0.0.1", server.port)]
    assert target.connection_count() == 0


def test_a_redirect_to_a_port_outside_the_allowed_ports_is_not_followed(
    make_server: MakeServer, make_listener: MakeListener
) -> None:
    other_port = make_listener(host="127.0.0.1")
    server = make_server(
        routes(
            {"/": Reply(status=301, headers=[("Location", f"http://127.0.0.1:{other_port.port}/")])}
        )
    )

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert str(other_port.port) in outcome.error.message
    assert other_port.connection_count() == 0
    assert len(server.connections) == 1


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "javascript:alert(1)"]
)
def test_a_redirect_to_another_scheme_is_a_bad_url(make_server: MakeServer, location: str) -> None:
    server = make_server(routes({"/": Reply(status=302, headers=[("Location", location)])}))
    opener = RecordingOpener()

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port), opener=opener)

    assert outcome.error is not None
    assert outcome.error.code == "bad_url"
    assert len(opener.attempts) == 1


def test_a_url_on_a_port_outside_the_allowed_ports_is_blocked_before_resolving(
    make_listener: MakeListener,
) -> None:
    listener = make_listener(host="127.0.0.1")
    resolver = FakeResolver([["127.0.0.1"]])
    options = loopback_options(allowed_ports=parse_port_policy("80,443"))

    outcome = fetch(f"http://127.0.0.1:{listener.port}/", options=options, resolver=resolver)

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert resolver.calls == []
    assert listener.connection_count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http://",
        "http:///path",
        "127.0.0.1/",
        "http://exa mple.test/",
        "http://[::1/",
        "http://[not-ipv6]/",
        "http://127.0.0.1:99999/",
        "http://host.test:port/",
        "http://bad%host.test/",
        "http://a\nb.test/",
    ],
)
def test_unfetchable_urls_are_bad_urls_and_never_resolved(url: str) -> None:
    resolver = FakeResolver([["127.0.0.1"]])

    outcome = fetch(url, options=loopback_options(), resolver=resolver)

    assert outcome.error is not None
    assert outcome.error.code == "bad_url"
    assert outcome.error.url == url
    assert resolver.calls == []
