"""The fetcher through the egress proxy: the CONNECT it sends, and every answer it may get.

A scripted stand-in for the proxy listens on a Unix socket in the test's directory; the real
proxy is exercised in ``tests/integration/egress``.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fetcher.fetch import fetch
from fetcher.options import parse_invocation
from fetcher.outcome import FetchOutcome
from fetcher.proxy import connect_request, parse_answer
from tests.services import poll
from tests.unit.fetcher.servers import TUNNEL_RESPONSE, ScriptedProxy
from tests.unit.fetcher.support import loopback_options

OPEN = b"HTTP/1.1 200 Connection established\r\nScanbox-Peer: 127.0.0.1\r\n\r\n"


def no_resolver(host: str, port: int, *, type: int) -> list[Any]:
    raise AssertionError(f"the fetcher resolved {host} although the proxy resolves")


@pytest.fixture
def proxy_path() -> Iterator[str]:
    """A socket path short enough for any test name (``tmp_path`` can pass 107 bytes)."""
    directory = tempfile.mkdtemp(prefix="sbx-proxy-")
    yield str(Path(directory) / "egress.sock")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_proxy(proxy_path: str) -> Iterator[Any]:
    started: list[ScriptedProxy] = []

    def start(*answers: bytes) -> ScriptedProxy:
        proxy = ScriptedProxy(proxy_path, answers)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()


def fetch_via(url: str, proxy_path: str, **options: Any) -> FetchOutcome:
    return fetch(
        url,
        options=loopback_options(proxy_socket=proxy_path, **options),
        resolver=no_resolver,
    )


def test_the_connect_request_names_host_and_port() -> None:
    assert connect_request("page.test", 443) == (
        b"CONNECT page.test:443 HTTP/1.1\r\nHost: page.test:443\r\n\r\n"
    )
    assert connect_request("::1", 80) == b"CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"


def test_every_connection_is_a_connect_and_speaks_http_through_it(
    make_proxy: Any, proxy_path: str
) -> None:
    proxy = make_proxy(OPEN + TUNNEL_RESPONSE)

    outcome = fetch_via("http://page.test:8080/a?b=1", proxy_path)

    assert outcome.error is None
    assert outcome.final is not None
    assert outcome.final.status_code == 200
    assert outcome.final.peer is not None
    assert outcome.final.peer.address == ipaddress.ip_address("127.0.0.1")
    assert proxy.heads == [b"CONNECT page.test:8080 HTTP/1.1\r\nHost: page.test:8080\r\n\r\n"]
    poll(lambda: proxy.tunnelled or None, timeout_s=5, what="the tunnel to close")
    assert proxy.tunnelled[0].startswith(b"GET /a?b=1 HTTP/1.1\r\nHost: page.test:8080\r\n")


def test_each_redirect_hop_is_its_own_connect(make_proxy: Any, proxy_path: str) -> None:
    redirect = b"HTTP/1.1 302 Found\r\nLocation: http://next.test/\r\nContent-Length: 0\r\n\r\n"
    proxy = make_proxy(OPEN + redirect, OPEN + TUNNEL_RESPONSE)

    outcome = fetch_via("http://first.test/", proxy_path)

    assert outcome.error is None
    assert [head.split(b"\r\n")[0] for head in proxy.heads] == [
        b"CONNECT first.test:80 HTTP/1.1",
        b"CONNECT next.test:80 HTTP/1.1",
    ]


@pytest.mark.parametrize(
    ("url", "listed"),
    [
        ("http://127.0.0.2/", "127.0.0.2"),
        ("http://[::1]/", "::1"),
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
    ],
)
def test_a_blocked_ip_address_never_reaches_the_proxy(
    make_proxy: Any, proxy_path: str, url: str, listed: str
) -> None:
    proxy = make_proxy(OPEN + TUNNEL_RESPONSE)

    outcome = fetch_via(url, proxy_path)

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert f"resolves to {listed}, which is blocked as" in outcome.error.message
    assert proxy.heads == []


def test_a_redirect_to_a_blocked_ip_address_stops_before_the_proxy(
    make_proxy: Any, proxy_path: str
) -> None:
    redirect = (
        b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n"
    )
    proxy = make_proxy(OPEN + redirect)

    outcome = fetch_via("http://first.test/", proxy_path)

    assert outcome.error is not None
    assert outcome.error.code == "blocked"
    assert "169.254.169.254" in outcome.error.message
    assert len(proxy.heads) == 1


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (
            b"HTTP/1.1 200 Connection established\r\nScanbox-Peer: 10.0.0.7\r\n\r\n",
            "blocked",
            "the egress proxy connected page.test to 10.0.0.7, which is blocked as private",
        ),
        (
            b"HTTP/1.1 200 Connection established\r\nScanbox-Peer: 127.0.0.1:80\r\n\r\n",
            "blocked",
            "did not say which address",
        ),
        (b"HTTP/1.1 200 Connection established\r\n\r\n", "blocked", "did not say which address"),
        (
            b"HTTP/1.1 403 Forbidden\r\nScanbox-Refusal: blocked-address\r\n"
            b"Scanbox-Detail: page.test resolves to 10.0.0.7, which is blocked as private\r\n\r\n",
            "blocked",
            "page.test resolves to 10.0.0.7, which is blocked as private",
        ),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", "blocked", "the egress proxy refused page.test"),
        (
            b"HTTP/1.1 502 Bad Gateway\r\nScanbox-Error: refused\r\nScanbox-Detail: no\r\n\r\n",
            "refused",
            "no",
        ),
        (b"HTTP/1.1 502 Bad Gateway\r\nScanbox-Error: unreachable\r\n\r\n", "unreachable", ""),
        (b"HTTP/1.1 502 Bad Gateway\r\nScanbox-Error: dns\r\n\r\n", "dns", ""),
        (b"HTTP/1.1 504 Gateway Timeout\r\nScanbox-Error: timeout\r\n\r\n", "timeout", ""),
        (b"HTTP/1.1 502 Bad Gateway\r\nScanbox-Error: ???\r\n\r\n", "connection", ""),
        (b"HTTP/1.1 408 Request Timeout\r\n\r\n", "timeout", ""),
        (b"HTTP/1.1 503 Service Unavailable\r\n\r\n", "connection", "busy"),
        (b"HTTP/1.1 418 I'm a teapot\r\n\r\n", "protocol", "answered 418"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "protocol", "not HTTP"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "protocol", "not HTTP"),
        (b"HTTP/1.1 200 \xff\r\n\r\n", "protocol", "not ASCII"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 5000 + b"\r\n\r\n", "protocol", "too long"),
        (b"HTTP/1.1 200 OK\r\n", "connection", "closed the connection"),
        (b"", "connection", "closed the connection"),
    ],
)
def test_each_answer_of_the_proxy_becomes_its_fetch_error(
    make_proxy: Any, proxy_path: str, answer: bytes, code: str, message: str
) -> None:
    make_proxy(answer)

    outcome = fetch_via("http://page.test/", proxy_path, retries=0)

    assert outcome.error is not None
    assert outcome.error.code == code
    assert message in outcome.error.message
    assert outcome.final is None


def test_a_missing_proxy_socket_is_a_connection_error(proxy_path: str) -> None:
    outcome = fetch_via("http://page.test/", proxy_path)

    assert outcome.error is not None
    assert outcome.error.code == "connection"
    assert f"the egress proxy at {proxy_path} cannot be reached" in outcome.error.message


def test_answers_parse_strictly() -> None:
    answer = parse_answer(b"HTTP/1.1 200 Connection established\r\nScanbox-Peer:  ::1 \r\n\r\n")
    assert answer.status == 200
    assert answer.header("scanbox-peer") == "::1"
    for head in (b"HTTP/2 200 OK\r\n\r\n", b"HTTP/1.1 20 OK\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n"):
        with pytest.raises(ValueError, match="not an HTTP status line"):
            parse_answer(head)
    with pytest.raises(ValueError, match="not a header line"):
        parse_answer(b"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n")


def test_the_proxy_socket_is_an_option(proxy_path: str) -> None:
    invocation = parse_invocation(["http://page.test/", "--proxy-socket", proxy_path])
    assert invocation.options.proxy_socket == proxy_path
    assert parse_invocation(["http://page.test/"]).options.proxy_socket is None
