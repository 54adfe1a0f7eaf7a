"""The egress proxy decides by every resolved address and connects only where it checked.

A real proxy on its own event loop, real sockets on loopback: targets on 127.0.0.1 (allowed),
a canary on 127.0.0.2 (not allowed) that must see no connection, whatever a client asks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fetcher.ports import parse_port_policy
from tests.egress_support import ScriptedResolver
from tests.integration.egress.conftest import (
    MakeEgress,
    RawServer,
    RecordingLogger,
    ask,
    open_client,
    read_all,
    read_head,
)
from tests.unit.fetcher.servers import SilentListener

PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
MakeRawServer = Callable[..., RawServer]


def test_a_connect_is_answered_with_the_peer_and_tunnels_end_to_end(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    page = make_raw_server(PAGE)
    resolver = ScriptedResolver({"page.test": [["127.0.0.1"]]})
    egress = make_egress(resolver=resolver)
    session = egress.client.open_session(label="tunnel")
    request = b"GET /x HTTP/1.1\r\nHost: page.test\r\n\r\n"

    with open_client(str(session.socket_path)) as sock:
        sock.sendall(f"CONNECT page.test:{page.port} HTTP/1.1\r\n\r\n".encode())
        answer = read_head(sock)
        sock.sendall(request)
        response = read_all(sock)

    assert answer == b"HTTP/1.1 200 Connection established\r\nScanbox-Peer: 127.0.0.1\r\n\r\n"
    assert response == PAGE
    assert page.received == [request]
    record = egress.client.close_session(session.id)
    (connection,) = record.connections
    assert (connection.kind, connection.host, connection.port) == (
        "connect",
        "page.test",
        page.port,
    )
    assert (connection.resolved, connection.connected) == (("127.0.0.1",), "127.0.0.1")
    assert (connection.decision, connection.reason) == ("allowed", None)
    assert (connection.bytes_up, connection.bytes_down) == (len(request), len(PAGE))
    assert record.bytes_total == len(request) + len(PAGE)
    assert resolver.calls == [("page.test", page.port)]


@pytest.mark.parametrize(
    ("head", "blocked"),
    [
        ("CONNECT 127.0.0.2:{port} HTTP/1.1", "127.0.0.2"),
        ("CONNECT 2130706434:{port} HTTP/1.1", "127.0.0.2"),
        ("CONNECT 127.0.2:{port} HTTP/1.1", "127.0.0.2"),
        ("CONNECT 0x7f000002:{port} HTTP/1.1", "127.0.0.2"),
        ("CONNECT [::ffff:127.0.0.2]:{port} HTTP/1.1", "::ffff:7f00:2"),
        ("CONNECT canary.test:{port} HTTP/1.1", "127.0.0.2"),
        ("CONNECT mixed.test:{port} HTTP/1.1", "127.0.0.2"),
        ("CONNECT mixed-first.test:{port} HTTP/1.1", "127.0.0.2"),
        ("GET http://127.0.0.2:{port}/ HTTP/1.1", "127.0.0.2"),
        ("GET http://canary.test:{port}/latest/meta-data HTTP/1.1", "127.0.0.2"),
    ],
)
def test_a_target_with_any_refused_address_is_refused_and_never_reached(
    make_egress: MakeEgress, canary: SilentListener, head: str, blocked: str
) -> None:
    resolver = ScriptedResolver(
        {
            "canary.test": [["127.0.0.2"]],
            "mixed.test": [["127.0.0.1", "127.0.0.2"]],
            "mixed-first.test": [["127.0.0.2", "127.0.0.1"]],
        }
    )
    egress = make_egress(resolver=resolver)
    session = egress.client.open_session(label="refusals")

    answer = ask(str(session.socket_path), head.format(port=canary.port).encode() + b"\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nScanbox-Refusal: blocked-address\r\n" in answer
    assert f"resolves to {blocked}, which is blocked as".encode() in answer
    record = egress.client.close_session(session.id)
    (connection,) = record.connections
    assert (connection.decision, connection.reason, connection.connected) == (
        "refused",
        "blocked-address",
        None,
    )
    assert blocked in connection.resolved
    assert canary.connection_count() == 0


def test_a_port_outside_the_policy_is_refused_before_anything_resolves(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    page = make_raw_server(PAGE)
    resolver = ScriptedResolver({"page.test": [["127.0.0.1"]]})
    egress = make_egress(resolver=resolver, allowed_ports=parse_port_policy("80,443"))
    session = egress.client.open_session(label="ports")

    answer = ask(
        str(session.socket_path), f"CONNECT page.test:{page.port} HTTP/1.1\r\n\r\n".encode()
    )

    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\nScanbox-Refusal: blocked-port\r\n")
    assert resolver.calls == []
    assert page.received == []
    record = egress.client.close_session(session.id)
    assert [(c.decision, c.reason) for c in record.connections] == [("refused", "blocked-port")]


def test_a_rebinding_name_cannot_make_the_proxy_connect_to_its_second_answer(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    page = make_raw_server(PAGE)
    # The second answer points at the canary's address, on the page's own port.
    rebound = SilentListener(host="127.0.0.2", port=page.port)
    try:
        resolver = ScriptedResolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
        egress = make_egress(resolver=resolver)
        session = egress.client.open_session(label="rebind")
        connect = f"CONNECT rebind.test:{page.port} HTTP/1.1\r\n\r\n".encode()

        with open_client(str(session.socket_path)) as sock:
            sock.sendall(connect)
            first = read_head(sock)
            assert resolver.calls == [("rebind.test", page.port)]
            sock.sendall(b"GET / HTTP/1.1\r\nHost: rebind.test\r\n\r\n")
            assert read_all(sock) == PAGE
        second = ask(str(session.socket_path), connect)

        assert first.endswith(b"Scanbox-Peer: 127.0.0.1\r\n\r\n")
        assert second.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert resolver.calls == [("rebind.test", page.port)] * 2
        assert len(page.received) == 1
        assert rebound.connection_count() == 0
        record = egress.client.close_session(session.id)
        assert [(c.connected, c.decision) for c in record.connections] == [
            ("127.0.0.1", "allowed"),
            (None, "refused"),
        ]
    finally:
        rebound.close()


def test_an_absolute_uri_request_is_forwarded_clean_and_recorded_without_secrets(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    page = make_raw_server(PAGE)
    logger = RecordingLogger()
    egress = make_egress(resolver=ScriptedResolver({"form.test": [["127.0.0.1"]]}), logger=logger)
    session = egress.client.open_session(label="absolute")
    body = b"user=a&password=hunter2"
    head = (
        f"POST http://form.test:{page.port}/login?token=query-secret HTTP/1.1\r\n"
        "Host: elsewhere.test\r\n"
        "Proxy-Authorization: Basic proxy-secret\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "Connection: keep-alive\r\n"
        "Cookie: session=cookie-secret\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    with open_client(str(session.socket_path)) as sock:
        sock.sendall(head + body)
        response = read_all(sock)

    assert response == PAGE
    (received,) = page.received
    upstream_head, upstream_body = received.split(b"\r\n\r\n", 1)
    assert upstream_head.split(b"\r\n") == [
        b"POST /login?token=query-secret HTTP/1.1",
        f"Host: form.test:{page.port}".encode(),
        b"Cookie: session=cookie-secret",
        f"Content-Length: {len(body)}".encode(),
        b"Connection: close",
    ]
    assert upstream_body == body
    record = egress.client.close_session(session.id)
    (connection,) = record.connections
    assert (connection.kind, connection.decision) == ("http", "allowed")
    assert connection.bytes_up == len(received)
    assert connection.bytes_down == len(PAGE)
    logged = logger.text()
    assert "egress.connection" in logged
    for secret in ("query-secret", "proxy-secret", "cookie-secret", "hunter2", "/login"):
        assert secret not in logged
        assert secret not in repr(record)


def test_a_target_that_refuses_is_a_failure_with_its_error_code(
    make_egress: MakeEgress,
) -> None:
    closed = SilentListener(host="127.0.0.1")
    port = closed.port
    closed.close()
    egress = make_egress()
    session = egress.client.open_session(label="closed")

    answer = ask(str(session.socket_path), f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())

    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\nScanbox-Refusal: target-failed\r\n")
    assert b"\r\nScanbox-Error: refused\r\n" in answer
    record = egress.client.close_session(session.id)
    assert [(c.decision, c.reason) for c in record.connections] == [("failed", "target-failed")]
