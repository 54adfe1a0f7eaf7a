"""What a client may ask the egress proxy for, parsed as the pure function it is."""

from __future__ import annotations

import pytest

from fetcher.ports import PortPolicy, parse_port_policy
from worker.egress.errors import Refusal
from worker.egress.request_head import KIND_CONNECT, KIND_HTTP, ProxyRequest, parse_request_head

ANY = parse_port_policy("any")
WEB = parse_port_policy("80,443")


def parse(head: bytes, *, ports: PortPolicy = ANY, max_headers: int = 100) -> ProxyRequest:
    return parse_request_head(head, allowed_ports=ports, max_headers=max_headers)


def refusal(head: bytes, *, ports: PortPolicy = ANY, max_headers: int = 100) -> Refusal:
    with pytest.raises(Refusal) as raised:
        parse(head, ports=ports, max_headers=max_headers)
    return raised.value


@pytest.mark.parametrize(
    ("line", "host", "port"),
    [
        (b"CONNECT example.test:443 HTTP/1.1", "example.test", 443),
        (b"CONNECT EXAMPLE.Test:8443 HTTP/1.1", "example.test", 8443),
        (b"CONNECT 127.0.0.1:80 HTTP/1.0", "127.0.0.1", 80),
        (b"CONNECT [::1]:443 HTTP/1.1", "::1", 443),
        (b"CONNECT [0:0:0:0:0:ffff:7f00:1]:443 HTTP/1.1", "::ffff:7f00:1", 443),
        (b"CONNECT 127.1:80 HTTP/1.1", "127.1", 80),
    ],
)
def test_a_connect_names_its_host_and_port(line: bytes, host: str, port: int) -> None:
    request = parse(line + b"\r\nHost: whatever\r\n\r\n")
    assert request == (KIND_CONNECT, host, port, b"")


def test_an_absolute_uri_request_is_rewritten_for_its_target() -> None:
    head = (
        b"GET http://User:Secret@Page.Test:8080/a%20b/c?q=1&r=%2F#frag HTTP/1.1\r\n"
        b"Host: elsewhere.test\r\n"
        b"User-Agent: probe\r\n"
        b"Proxy-Authorization: Basic c2VjcmV0\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b"Connection: keep-alive, X-Hop\r\n"
        b"X-Hop: dropped\r\n"
        b"Keep-Alive: 300\r\n"
        b"TE: trailers\r\n"
        b"Upgrade: websocket\r\n"
        b"Accept: */*\r\n\r\n"
    )
    request = parse(head)
    assert request.kind == KIND_HTTP
    assert (request.host, request.port) == ("page.test", 8080)
    assert request.upstream_head == (
        b"GET /a%20b/c?q=1&r=%2F HTTP/1.1\r\n"
        b"Host: page.test:8080\r\n"
        b"User-Agent: probe\r\n"
        b"Accept: */*\r\n"
        b"Connection: close\r\n\r\n"
    )


def test_a_request_body_keeps_its_framing_headers() -> None:
    head = (
        b"POST http://form.test/submit HTTP/1.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\n\r\n"
    )
    upstream = parse(head).upstream_head
    assert upstream == (
        b"POST /submit HTTP/1.1\r\nHost: form.test\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("head", "detail"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "only CONNECT and absolute http:// URIs"),
        (b"GET https://page.test/ HTTP/1.1\r\n\r\n", "only CONNECT and absolute http:// URIs"),
        (b"GET ftp://page.test/ HTTP/1.1\r\n\r\n", "only CONNECT and absolute http:// URIs"),
        (b"CONNECT page.test HTTP/1.1\r\n\r\n", "CONNECT needs host:port"),
        (b"CONNECT user@page.test:443 HTTP/1.1\r\n\r\n", "CONNECT needs host:port"),
        (b"CONNECT page.test:443/x HTTP/1.1\r\n\r\n", "CONNECT needs host:port"),
        (b"CONNECT page.test:0 HTTP/1.1\r\n\r\n", "port 0 is not a TCP port"),
        (b"CONNECT page.test:99999 HTTP/1.1\r\n\r\n", "cannot be parsed"),
        (b"CONNECT [::1:443 HTTP/1.1\r\n\r\n", "CONNECT needs host:port"),
        (b"CONNECT [1.2.3]:443 HTTP/1.1\r\n\r\n", "cannot be parsed"),
        (b"CONNECT page..test:443 HTTP/1.1\r\n\r\n", "empty or too long label"),
        (b"get http://page.test/ HTTP/1.1\r\n\r\n", "upper-case token"),
        (b"GET http://page.test/ HTTP/2.0\r\n\r\n", "HTTP/1.0 or HTTP/1.1"),
        (b"GET http://page.test/ HTTP/1.1 extra\r\n\r\n", "METHOD TARGET VERSION"),
        (b"GET  http://page.test/ HTTP/1.1\r\n\r\n", "METHOD TARGET VERSION"),
        (b"GET http://page.test/\x01 HTTP/1.1\r\n\r\n", "control characters"),
        (b"GET http://pa\xc3\xa9ge.test/ HTTP/1.1\r\n\r\n", "not ASCII"),
        (b"GET http://page.test/ HTTP/1.1\nHost: x\r\n\r\n", "not CRLF"),
        (b"GET http://page.test/ HTTP/1.1\r\nHost: x\rY\r\n\r\n", "not CRLF"),
        (b"GET http://page.test/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "NAME: VALUE"),
        (b"GET http://page.test/ HTTP/1.1\r\nX : a\r\n\r\n", "NAME: VALUE"),
        (b"GET http://page.test/ HTTP/1.1\r\nno colon\r\n\r\n", "NAME: VALUE"),
        (b"GET http://page.test/ HTTP/1.1\r\nX: a\x00b\r\n\r\n", "control characters"),
        (b"GET http://page.test/ HTTP/1.1\r\nX: a\x1b[2Jb\r\n\r\n", "control characters"),
        (
            b"POST http://page.test/ HTTP/1.1\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
        (
            b"POST http://page.test/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "not one number",
        ),
        (b"POST http://page.test/ HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "not one number"),
        (b"GET http://page.test/ HTTP/1.1\r\n", "does not end with a blank line"),
    ],
)
def test_heads_that_are_not_strict_proxy_requests_are_refused(head: bytes, detail: str) -> None:
    refused = refusal(head)
    assert (refused.status, refused.reason) == (400, "bad-request")
    assert detail in refused.detail


def test_too_many_headers_are_refused() -> None:
    head = b"CONNECT page.test:443 HTTP/1.1\r\n" + b"X: y\r\n" * 11 + b"\r\n"
    refused = refusal(head, max_headers=10)
    assert (refused.status, refused.reason) == (400, "bad-request")
    assert parse(head, max_headers=11).port == 443


@pytest.mark.parametrize(
    "head",
    [
        b"CONNECT page.test:22 HTTP/1.1\r\n\r\n",
        b"GET http://page.test:6379/ HTTP/1.1\r\n\r\n",
        b"CONNECT [::1]:25 HTTP/1.1\r\n\r\n",
    ],
)
def test_a_port_outside_the_policy_is_refused(head: bytes) -> None:
    refused = refusal(head, ports=WEB)
    assert (refused.status, refused.reason) == (403, "blocked-port")
    assert "is not in the allowed ports" in refused.detail
