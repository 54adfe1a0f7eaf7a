"""The egress proxy's bounds hold against slow, greedy and long-lived clients."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.egress_support import ScriptedResolver
from tests.integration.egress.conftest import (
    ANSWER_TIMEOUT_S,
    MakeEgress,
    RawServer,
    ask,
    open_client,
    read_all,
    read_head,
)
from tests.services import poll
from tests.unit.fetcher.servers import SilentListener

MakeRawServer = Callable[..., RawServer]
PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def test_a_head_longer_than_the_limit_is_refused(make_egress: MakeEgress) -> None:
    egress = make_egress(max_header_bytes=1024)
    session = egress.client.open_session(label="long-head")

    answer = ask(
        str(session.socket_path),
        b"CONNECT page.test:443 HTTP/1.1\r\nX-Filler: " + b"a" * 4096 + b"\r\n\r\n",
    )

    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    record = egress.client.close_session(session.id)
    assert [(c.kind, c.reason) for c in record.connections] == [("unknown", "header-too-large")]


def test_a_head_that_never_ends_is_timed_out(make_egress: MakeEgress) -> None:
    egress = make_egress(header_timeout_s=0.3)
    session = egress.client.open_session(label="slow-head")

    with open_client(str(session.socket_path)) as sock:
        sock.sendall(b"CONNECT page.test:443 HTTP/1.1\r\nX-Slow: ")
        answer = read_head(sock)

    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    record = egress.client.close_session(session.id)
    assert [c.reason for c in record.connections] == ["header-timeout"]


def test_slow_clients_fill_only_the_open_connection_bound_and_are_shed(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    page = make_raw_server(PAGE)
    egress = make_egress(max_open_connections=4, header_timeout_s=0.5)
    session = egress.client.open_session(label="slowloris")
    path = str(session.socket_path)
    slow = [open_client(path) for _ in range(4)]
    try:
        for sock in slow:
            sock.sendall(b"C")
        poll(
            lambda: egress.run(lambda: egress.proxy.connections.open == 4) or None,
            timeout_s=ANSWER_TIMEOUT_S,
            what="four open connections",
        )

        # Past the bound a connection is answered at once, before it sends anything.
        with open_client(path) as extra:
            busy = read_head(extra)
        shed = [read_head(sock) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    after = ask(path, f"CONNECT 127.0.0.1:{page.port} HTTP/1.1\r\n\r\n".encode())

    assert busy.startswith(b"HTTP/1.1 503 Service Unavailable\r\nScanbox-Refusal: proxy-busy\r\n")
    assert all(answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") for answer in shed)
    assert after.startswith(b"HTTP/1.1 200 Connection established\r\n")


def test_a_session_gets_only_its_connections(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    page = make_raw_server(PAGE)
    egress = make_egress(session_max_connections=2)
    session = egress.client.open_session(label="greedy")
    connect = f"CONNECT 127.0.0.1:{page.port} HTTP/1.1\r\n\r\n".encode()

    answers = [ask(str(session.socket_path), connect) for _ in range(4)]

    assert [answer.split(b"\r\n")[0] for answer in answers] == [
        b"HTTP/1.1 200 Connection established",
        b"HTTP/1.1 200 Connection established",
        b"HTTP/1.1 403 Forbidden",
        b"HTTP/1.1 403 Forbidden",
    ]
    assert b"Scanbox-Refusal: session-connections" in answers[2]
    record = egress.client.close_session(session.id)
    assert len(record.connections) == 2
    assert record.unrecorded == 2


def test_a_session_moves_no_more_bytes_than_its_budget(
    make_egress: MakeEgress, make_raw_server: MakeRawServer
) -> None:
    body = b"x" * 200_000
    page = make_raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    )
    budget = 10_000
    egress = make_egress(session_max_bytes=budget)
    session = egress.client.open_session(label="budget")
    request = b"GET / HTTP/1.1\r\nHost: page\r\n\r\n"

    with open_client(str(session.socket_path)) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{page.port} HTTP/1.1\r\n\r\n".encode())
        read_head(sock)
        sock.sendall(request)
        received = read_all(sock)

    # The budget is spent: a second tunnel opens but carries nothing either way.
    with open_client(str(session.socket_path)) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{page.port} HTTP/1.1\r\n\r\n".encode())
        second = read_head(sock)
        sock.sendall(request)
        after_budget = read_all(sock)

    assert len(received) == budget - len(request)
    assert second.startswith(b"HTTP/1.1 200 ")
    assert after_budget == b""
    assert len(page.received) == 1
    record = egress.client.close_session(session.id)
    first, spent = record.connections
    assert (first.bytes_up, first.bytes_down) == (len(request), len(received))
    assert (first.decision, first.reason) == ("allowed", "session-bytes")
    assert (spent.bytes_up, spent.bytes_down, spent.reason) == (0, 0, "session-bytes")
    assert record.bytes_total == budget


def test_at_the_deadline_every_connection_of_the_session_is_cut(
    make_egress: MakeEgress,
) -> None:
    silent = SilentListener(host="127.0.0.1")
    try:
        egress = make_egress(resolver=ScriptedResolver({}))
        session = egress.client.open_session(label="deadline", ttl_ms=500)
        with open_client(str(session.socket_path)) as tunnel:
            tunnel.sendall(f"CONNECT 127.0.0.1:{silent.port} HTTP/1.1\r\n\r\n".encode())
            opened = read_head(tunnel)
            idle = open_client(str(session.socket_path))
            with idle:
                # Both stay open until the session's deadline cuts them.
                cut_tunnel = read_all(tunnel)
                cut_idle = read_head(idle)
        assert opened.startswith(b"HTTP/1.1 200 ")
        assert cut_tunnel == b""
        assert cut_idle == b""
        # The socket itself is gone.
        with pytest.raises(FileNotFoundError), open_client(str(session.socket_path)):
            pass
        record = egress.client.close_session(session.id)
    finally:
        silent.close()
    assert record.expired
    assert sorted((c.decision, c.reason) for c in record.connections) == [
        ("allowed", "session-deadline"),
        ("refused", "session-deadline"),
    ]
    assert not session.directory.exists()


def test_a_session_that_is_never_closed_is_dropped_after_its_grace(
    make_egress: MakeEgress,
) -> None:
    egress = make_egress(expired_grace_s=0.2)
    session = egress.client.open_session(label="orphan", ttl_ms=100)

    poll(
        lambda: egress.client.ping().sessions == 0 or None,
        timeout_s=ANSWER_TIMEOUT_S,
        what="the orphan session to be dropped",
    )

    assert not session.directory.exists()


def test_a_session_deadline_is_no_longer_than_the_proxy_allows(make_egress: MakeEgress) -> None:
    egress = make_egress(session_ttl_s=1.0, max_session_ttl_s=2.0)
    session = egress.client.open_session(label="long", ttl_ms=3_600_000)
    assert session.ttl_ms == 2000
    egress.client.close_session(session.id)


def test_idle_connections_do_not_stall_the_proxy(make_egress: MakeEgress) -> None:
    egress = make_egress(header_timeout_s=5.0)
    session = egress.client.open_session(label="idle")
    idle = [open_client(str(session.socket_path)) for _ in range(50)]
    try:
        # Every idle connection waits on the event loop; the control socket still answers.
        assert egress.client.ping().sessions == 1
        assert ask(str(session.socket_path), b"BREW / HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 400 Bad Request\r\n"
        )
    finally:
        for sock in idle:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
    egress.client.close_session(session.id)
