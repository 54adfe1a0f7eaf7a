"""The fetch loop against loopback servers: redirects, retries, limits, deadlines, failures."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fetcher.fetch import fetch
from tests.unit.fetcher.servers import (
    FakeResolver,
    Reply,
    ScriptedServer,
    SilentListener,
    drip,
    numeric_resolver,
    replies,
    routes,
)
from tests.unit.fetcher.support import fetch_loopback, loopback_options

MakeServer = Callable[..., ScriptedServer]
MakeListener = Callable[..., SilentListener]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.fixture
def stop_dripping() -> Iterator[threading.Event]:
    """Stops drip-feeding servers when the test ends."""
    stop = threading.Event()
    yield stop
    stop.set()


def test_a_plain_fetch_reports_the_response(make_server: MakeServer) -> None:
    body = b"<html><title>t</title></html>"
    server = make_server(
        replies(Reply(headers=[("Content-Type", "text/html"), ("ETag", '"v1"')], body=body))
    )

    outcome = fetch_loopback(server.url("/page?q=1"), options=loopback_options(server.port))

    assert outcome.error is None
    final = outcome.final
    assert final is not None
    assert (final.status_code, final.reason, final.http_version) == (200, "OK", "HTTP/1.1")
    assert final.url == server.url("/page?q=1")
    assert final.body.kept == body
    assert final.body.sha256 == hashlib.sha256(body).hexdigest()
    assert not final.body.truncated
    assert final.peer is not None
    assert str(final.peer.address) == "127.0.0.1"
    assert final.connect_ms is not None
    assert final.ttfb_ms is not None
    assert outcome.attempts == 1
    request = server.requests[0]
    assert request.path == "/page?q=1"
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["user-agent"] == "scanbox-fetcher/0.1"
    assert request.headers["accept-encoding"] == "gzip, deflate"


def test_error_statuses_are_results_not_failures(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(status=404, body=b"missing")))

    outcome = fetch_loopback(server.url("/gone"), options=loopback_options(server.port))

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.status_code == 404
    assert outcome.final.body.kept == b"missing"


def test_a_redirect_chain_is_recorded_hop_by_hop(make_server: MakeServer) -> None:
    server = make_server(
        routes(
            {
                "/a": Reply(status=302, headers=[("Location", "/dir/b")]),
                "/dir/b": Reply(status=301, headers=[("Location", "../c?x=1")]),
                "/c?x=1": Reply(body=b"done"),
            }
        )
    )

    outcome = fetch_loopback(server.url("/a"), options=loopback_options(server.port))

    assert outcome.error is None
    assert [(hop.url, hop.status_code, hop.location) for hop in outcome.redirects] == [
        (server.url("/a"), 302, "/dir/b"),
        (server.url("/dir/b"), 301, "../c?x=1"),
    ]
    assert outcome.final is not None
    assert outcome.final.url == server.url("/c?x=1")
    assert outcome.final.body.kept == b"done"
    assert outcome.attempts == 3


def test_too_many_redirects_stop_with_redirect_limit(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(status=302, headers=[("Location", "/again")])))

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, max_redirects=3)
    )

    assert outcome.error is not None
    assert outcome.error.code == "redirect_limit"
    assert len(outcome.redirects) == 4
    assert len(server.requests) == 4
    assert outcome.final is not None
    assert outcome.final.status_code == 302


def test_a_retryable_status_is_retried_after_its_retry_after(make_server: MakeServer) -> None:
    server = make_server(
        replies(
            Reply(status=503, headers=[("Retry-After", "1")], body=b"busy"),
            Reply(body=b"fine"),
        )
    )
    slept: list[float] = []

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port), sleep=slept.append
    )

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.status_code == 200
    assert outcome.final.body.kept == b"fine"
    assert outcome.attempts == 2
    assert slept == [1.0]


def test_retries_run_out_and_the_last_response_is_reported(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(status=500, body=b"broken")))
    slept: list[float] = []

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, retries=2), sleep=slept.append
    )

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.status_code == 500
    assert outcome.attempts == 3
    assert slept == [0.5, 1.0]


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(status=429, headers=[("Retry-After", "3600")])))
    slept: list[float] = []

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port), sleep=slept.append
    )

    assert outcome.final is not None
    assert outcome.final.status_code == 429
    assert outcome.attempts == 1
    assert slept == []


def test_a_conditional_fetch_reports_not_modified(make_server: MakeServer) -> None:
    def handle(request: Any) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(status=304, headers=[("ETag", '"v1"')])
        return Reply(body=b"changed")

    server = make_server(handle)

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, if_none_match='"v1"')
    )

    assert outcome.error is None
    assert outcome.not_modified
    assert outcome.final is not None
    assert outcome.final.status_code == 304
    assert outcome.final.body.kept == b""
    assert outcome.final.body.sha256 == EMPTY_SHA256


def test_a_304_without_a_conditional_request_is_not_reported_as_not_modified(
    make_server: MakeServer,
) -> None:
    server = make_server(replies(Reply(status=304)))

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    assert outcome.final is not None
    assert outcome.final.status_code == 304
    assert not outcome.not_modified


def test_the_body_is_cut_at_the_cap(make_server: MakeServer) -> None:
    body = bytes(range(256)) * 4096
    server = make_server(replies(Reply(body=body)))

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, max_body_bytes=10_000)
    )

    assert outcome.error is None
    assert outcome.final is not None
    kept = outcome.final.body
    assert kept.size == 10_000
    assert kept.truncated
    assert kept.sha256 == hashlib.sha256(body[:10_000]).hexdigest()


def test_a_body_exactly_the_size_of_the_cap_is_not_truncated(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(body=b"x" * 4096)))

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, max_body_bytes=4096)
    )

    assert outcome.final is not None
    assert outcome.final.body.size == 4096
    assert not outcome.final.body.truncated


def test_a_gzip_bomb_inflates_no_further_than_the_cap(make_server: MakeServer) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    server = make_server(replies(Reply(headers=[("Content-Encoding", "gzip")], body=bomb)))
    cap = 256 * 1024

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, max_body_bytes=cap)
    )

    assert outcome.error is None
    assert outcome.final is not None
    kept = outcome.final.body
    assert (kept.size, kept.truncated, kept.encoding) == (cap, True, "gzip")
    assert kept.sha256 == hashlib.sha256(b"\0" * cap).hexdigest()


def test_a_deflate_body_is_decoded(make_server: MakeServer) -> None:
    text = b"<p>deflated</p>" * 100
    server = make_server(
        replies(Reply(headers=[("Content-Encoding", "deflate")], body=zlib.compress(text)))
    )

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    assert outcome.final is not None
    assert outcome.final.body.kept == text
    assert outcome.final.body.encoding == "deflate"


def test_a_corrupt_gzip_body_is_a_protocol_error_with_the_response_kept(
    make_server: MakeServer,
) -> None:
    server = make_server(
        replies(Reply(headers=[("Content-Encoding", "gzip")], body=b"definitely not gzip"))
    )

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    assert outcome.error is not None
    assert outcome.error.code == "protocol"
    assert outcome.final is not None
    assert outcome.final.status_code == 200


def test_a_chunked_body_is_read_whole(make_server: MakeServer) -> None:
    chunks = [b"5\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"]
    server = make_server(replies(Reply(headers=[("Transfer-Encoding", "chunked")], body=chunks)))

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.body.kept == b"hello world"


def test_a_server_that_never_answers_times_out(make_listener: MakeListener) -> None:
    listener = make_listener(host="127.0.0.1")

    outcome = fetch_loopback(
        f"http://127.0.0.1:{listener.port}/",
        options=loopback_options(listener.port, read_timeout_ms=200, timeout_ms=2_000),
    )

    assert outcome.error is not None
    assert outcome.error.code == "timeout"
    assert outcome.final is None
    assert outcome.attempts == 1
    assert listener.connection_count() == 1


def test_a_drip_fed_body_cannot_outlast_the_total_deadline(
    make_server: MakeServer, stop_dripping: threading.Event
) -> None:
    server = make_server(
        replies(
            Reply(
                headers=[("Content-Length", "1000000")],
                body=drip(b"x", every=0.02, stop=stop_dripping),
            )
        )
    )

    outcome = fetch_loopback(
        server.url("/"),
        options=loopback_options(server.port, read_timeout_ms=10_000, timeout_ms=1_000),
    )

    assert outcome.error is not None
    assert outcome.error.code == "timeout"
    assert outcome.final is not None
    assert outcome.final.body.truncated
    assert 0 < outcome.final.body.size < 1_000_000


def test_a_resolver_that_hangs_cannot_outlast_the_total_deadline() -> None:
    release = threading.Event()

    def hanging_resolver(host: str, port: int, *, type: int) -> list[Any]:
        release.wait(10)
        return []

    try:
        outcome = fetch(
            "http://slow-dns.test/",
            options=loopback_options(80, timeout_ms=200),
            resolver=hanging_resolver,
        )
    finally:
        release.set()

    assert outcome.error is not None
    assert outcome.error.code == "timeout"
    assert outcome.attempts == 0


def test_a_closed_port_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    outcome = fetch_loopback(f"http://127.0.0.1:{port}/", options=loopback_options(port))

    assert outcome.error is not None
    assert outcome.error.code == "refused"
    assert outcome.attempts == 1


def test_a_name_that_does_not_resolve_is_a_dns_error() -> None:
    def failing_resolver(host: str, port: int, *, type: int) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    outcome = fetch("http://nowhere.test/", options=loopback_options(80), resolver=failing_resolver)

    assert outcome.error is not None
    assert outcome.error.code == "dns"
    assert "nowhere.test" in outcome.error.message


def test_a_name_resolving_to_nothing_is_a_dns_error() -> None:
    outcome = fetch("http://empty.test/", options=loopback_options(80), resolver=FakeResolver([[]]))

    assert outcome.error is not None
    assert outcome.error.code == "dns"


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (TimeoutError("timed out"), "timeout"),
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
        (OSError(101, "Network is unreachable"), "unreachable"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection"),
    ],
)
def test_connect_failures_map_to_error_codes(failure: OSError, code: str) -> None:
    def failing_opener(**_: Any) -> socket.socket:
        raise failure

    outcome = fetch(
        "http://127.0.0.1/",
        options=loopback_options(80),
        resolver=numeric_resolver,
        opener=failing_opener,
    )

    assert outcome.error is not None
    assert outcome.error.code == code
    assert outcome.attempts == 1


def test_a_response_that_is_not_http_is_a_protocol_error() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        answered = threading.Event()

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            answered.set()

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        outcome = fetch_loopback(f"http://127.0.0.1:{port}/", options=loopback_options(port))
        thread.join(timeout=5)

    assert answered.is_set()
    assert outcome.error is not None
    assert outcome.error.code == "protocol"


def test_a_connection_closed_mid_body_keeps_the_partial_body(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(headers=[("Content-Length", "1000")], body=b"x" * 10)))

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    assert outcome.error is not None
    assert outcome.error.code == "connection"
    assert outcome.final is not None
    assert outcome.final.body.kept == b"x" * 10
    assert outcome.final.body.truncated


def test_startup_is_measured_when_the_first_request_is_sent(make_server: MakeServer) -> None:
    server = make_server(replies(Reply()))

    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port), process_age=lambda: 0.25
    )

    assert outcome.startup_ms == 250.0
