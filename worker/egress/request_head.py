"""Reading what a client asks the proxy for: a strict parse of one HTTP/1.x request head.

Two forms are accepted, one request per client connection:

- ``CONNECT host:port``: a tunnel, the client speaks TLS (or plain HTTP) end to end;
- an absolute URI, ``GET http://host[:port]/path``, as browsers send for plain http: the
  head is rewritten for the target (origin-form target, its own ``Host``, ``Proxy-*`` and
  hop-by-hop headers dropped, ``Connection: close``) and anything after it (a body) is
  relayed untouched.

The client is hostile: the head must be ASCII with CRLF line ends, no control characters,
no folded lines, no more headers than allowed, and no framing a server could read two ways
(``Content-Length`` beside ``Transfer-Encoding``, or two different lengths). Host and port
go through the fetcher's own URL check (:func:`fetcher.urls.parse_target`) and port policy.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from fetcher.errors import BadUrl, Blocked
from fetcher.ports import ANY_PORT, PortPolicy, parse_port_policy
from fetcher.request import host_header
from fetcher.urls import Target, parse_target
from worker.egress.errors import Refusal

#: The two kinds of proxied connection, as records name them.
KIND_CONNECT = "connect"
KIND_HTTP = "http"
#: The end of a request head.
HEAD_END = b"\r\n\r\n"
#: Headers that concern the hop to the proxy, never forwarded (besides any that
#: ``Connection`` names).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "upgrade", "host", "proxy-connection"}
)
#: HTTP versions a request may carry.
VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})

_METHOD = re.compile(r"[A-Z]{1,20}")
# RFC 9110 token characters, for header names.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# A CONNECT authority: a bracketed IPv6 literal or a name/IPv4, then an explicit port.
_AUTHORITY = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")
# Anything but visible ASCII, space and tab, in a header value.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e]")


class ProxyRequest(NamedTuple):
    """A request the proxy may act on: where it goes, and what to send there first."""

    kind: str
    #: The target host as checked (lower-case ASCII, IPv6 without brackets).
    host: str
    port: int
    #: For an absolute-URI request, the rewritten head to send the target; empty for CONNECT.
    upstream_head: bytes


def bad_request(detail: str) -> Refusal:
    """The refusal of a request the proxy cannot read."""
    return Refusal(status=400, reason="bad-request", detail=detail)


def parse_request_head(head: bytes, *, allowed_ports: PortPolicy, max_headers: int) -> ProxyRequest:
    """Parse ``head`` (request line and headers, ending with the blank line).

    Raises :class:`Refusal`: 400 for a head that is not a strict HTTP/1.x proxy request, 403
    for a port outside ``allowed_ports``.
    """
    if not head.endswith(HEAD_END):
        raise bad_request("the request head does not end with a blank line")
    try:
        text = head[: -len(HEAD_END)].decode("ascii")
    except UnicodeDecodeError:
        raise bad_request("the request head is not ASCII") from None
    if "\r" in text.replace("\r\n", "") or "\n" in text.replace("\r\n", ""):
        raise bad_request("the request head has a line end that is not CRLF")
    request_line, *header_lines = text.split("\r\n")
    method, target, version = _request_line(request_line)
    headers = _headers(header_lines, max_headers=max_headers)
    if method == "CONNECT":
        return _connect(target, allowed_ports=allowed_ports)
    return _absolute(method, target, version, headers, allowed_ports=allowed_ports)


def _request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise bad_request("the request line is not METHOD TARGET VERSION")
    method, target, version = parts
    if not _METHOD.fullmatch(method):
        raise bad_request("the method is not an upper-case token")
    if version not in VERSIONS:
        raise bad_request("the version is not HTTP/1.0 or HTTP/1.1")
    if not target or _BAD_VALUE.search(target) or "\t" in target:
        raise bad_request("the request target is empty or has control characters")
    return method, target, version


def _headers(lines: list[str], *, max_headers: int) -> list[tuple[str, str]]:
    if len(lines) > max_headers:
        raise bad_request(f"more than {max_headers} headers")
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            # A line starting with white space is an obsolete folded continuation.
            raise bad_request("a header line is not NAME: VALUE")
        if _BAD_VALUE.search(value):
            raise bad_request(f"header {name} has control characters")
        headers.append((name, value.strip(" \t")))
    return headers


def _connect(target: str, *, allowed_ports: PortPolicy) -> ProxyRequest:
    if not _AUTHORITY.fullmatch(target):
        raise bad_request("CONNECT needs host:port")
    checked = _checked(f"https://{target}/", allowed_ports=allowed_ports)
    return ProxyRequest(kind=KIND_CONNECT, host=checked.host, port=checked.port, upstream_head=b"")


def _absolute(
    method: str,
    target: str,
    version: str,
    headers: list[tuple[str, str]],
    *,
    allowed_ports: PortPolicy,
) -> ProxyRequest:
    if not target[:7].lower() == "http://":
        raise bad_request("only CONNECT and absolute http:// URIs are proxied")
    checked = _checked(target, allowed_ports=allowed_ports)
    names = [name.lower() for name, _ in headers]
    lengths = {value for name, value in headers if name.lower() == "content-length"}
    if "transfer-encoding" in names and lengths:
        raise bad_request("the request has both Content-Length and Transfer-Encoding")
    if len(lengths) > 1 or any(not value.isdigit() for value in lengths):
        raise bad_request("the request's Content-Length is not one number")
    dropped = set(HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == "connection":
            dropped.update(token.strip().lower() for token in value.split(","))
    lines = [f"{method} {checked.request_target} {version}", f"Host: {host_header(checked)}"]
    lines += [
        f"{name}: {value}"
        for name, value in headers
        if name.lower() not in dropped and not name.lower().startswith("proxy-")
    ]
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return ProxyRequest(kind=KIND_HTTP, host=checked.host, port=checked.port, upstream_head=head)


def _checked(url: str, *, allowed_ports: PortPolicy) -> Target:
    try:
        return parse_target(url, allowed_ports=allowed_ports)
    except Blocked as error:
        asked = parse_target(url, allowed_ports=parse_port_policy(ANY_PORT))
        raise Refusal(
            status=403,
            reason="blocked-port",
            detail=error.message,
            host=asked.host,
            port=asked.port,
        ) from None
    except BadUrl as error:
        raise bad_request(error.message) from None
