"""Reaching a target through scanbox's egress proxy: ``CONNECT`` over its Unix socket.

With ``--proxy-socket`` the fetcher has no network of its own and resolves nothing: every
connection (each redirect hop, each retry) opens the proxy's socket, asks for
``CONNECT host:port`` and, once the proxy answers ``200``, speaks HTTP or TLS through the
tunnel, with SNI and certificate checks on the URL's host name. The proxy resolves the name
once, checks every address, connects to one it checked and names it in
:data:`PEER_HEADER`; this side checks that address again with the same classifier (a second
wall), so a refusal by either is the same ``blocked`` error.

The answer's vocabulary is defined here and used by the proxy too (``worker.egress``):

- ``200``: the tunnel is open; :data:`PEER_HEADER` names the address connected to.
- ``403``: refused by policy; :data:`REFUSAL_HEADER` names why, :data:`DETAIL_HEADER` says it.
- ``502``/``504``: the target could not be reached; :data:`ERROR_HEADER` is one of
  :data:`ERROR_CODES`.
- ``400``, ``408``, ``431``, ``503``: the request itself, or the proxy's own limits.

Only modules the fetch loads anyway are imported, so the proxy costs its start-up nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from fetcher.addresses import IPNetwork, classify
from fetcher.deadline import Deadline
from fetcher.errors import (
    Blocked,
    ConnectionFailed,
    DnsFailed,
    FetchError,
    ProtocolViolation,
    Refused,
    TimedOut,
    Unreachable,
)
from fetcher.resolution import PinnedAddress

#: Header of a ``200`` answer: the address the proxy connected the tunnel to.
PEER_HEADER = "Scanbox-Peer"
#: Header of a refusal: a short reason such as ``blocked-address`` or ``session-connections``.
REFUSAL_HEADER = "Scanbox-Refusal"
#: Header of a ``502``/``504`` answer: why the target could not be reached.
ERROR_HEADER = "Scanbox-Error"
#: Header with the human-readable detail of a refusal or an error.
DETAIL_HEADER = "Scanbox-Detail"
#: What :data:`ERROR_HEADER` may say, and the fetch error each one becomes.
ERROR_CODES: dict[str, type[FetchError]] = {
    "dns": DnsFailed,
    "refused": Refused,
    "unreachable": Unreachable,
    "timeout": TimedOut,
    "connection": ConnectionFailed,
}
#: The longest answer head the fetcher reads from the proxy.
MAX_ANSWER_BYTES = 4096
#: The end of an HTTP head.
HEAD_END = b"\r\n\r\n"


class UnixOpener(Protocol):
    """Connects a stream socket to the proxy's Unix socket; injected so tests can replace it."""

    def __call__(self, path: str, *, timeout: float) -> socket.socket: ...


def open_unix_socket(path: str, *, timeout: float) -> socket.socket:
    """Connect a new Unix stream socket to ``path``, giving up after ``timeout`` seconds."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


class ProxyAnswer(NamedTuple):
    """The status and headers (names lower-cased) of the proxy's answer to a ``CONNECT``."""

    status: int
    headers: dict[str, str]

    def header(self, name: str) -> str:
        """The value of header ``name``, empty when absent."""
        return self.headers.get(name.lower(), "")


def connect_request(host: str, port: int) -> bytes:
    """The ``CONNECT`` request for ``host`` (an IPv6 literal gets brackets) and ``port``."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii")


def parse_answer(head: bytes) -> ProxyAnswer:
    """Parse the proxy's answer head (ending with the blank line). Raises ValueError."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("the answer is not ASCII") from None
    lines = text.removesuffix("\r\n\r\n").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest.partition(" ")[0]
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ValueError(f"not a header line: {line[:80]!r}")
        headers[name.lower()] = value.strip()
    return ProxyAnswer(status=int(code), headers=headers)


class ProxyTunnel:
    """Opens tunnels through the egress proxy and checks the peer each one reports."""

    def __init__(
        self,
        *,
        socket_path: str,
        allowed_networks: Iterable[IPNetwork],
        opener: UnixOpener = open_unix_socket,
    ) -> None:
        self._socket_path = socket_path
        self._allowed_networks = tuple(allowed_networks)
        self._opener = opener

    def open(
        self, *, host: str, port: int, url: str, deadline: Deadline, timeout: float
    ) -> tuple[socket.socket, PinnedAddress]:
        """Open a tunnel to ``host``:``port``; return its socket and the checked peer.

        Raises the fetch error the proxy's answer amounts to (Blocked for a refusal by the
        proxy or by this side's check of the peer), or OSError when the socket fails.
        """
        try:
            sock = self._opener(self._socket_path, timeout=deadline.bound(timeout))
        except TimeoutError:
            raise TimedOut("the egress proxy did not accept the connection", url=url) from None
        except OSError as error:
            raise ConnectionFailed(
                f"the egress proxy at {self._socket_path} cannot be reached: {error}", url=url
            ) from None
        try:
            sock.settimeout(deadline.bound(timeout))
            sock.sendall(connect_request(host, port))
            answer = _read_answer(sock, url=url)
            address = _tunnel_peer(answer, host=host, url=url)
            category = classify(address, allowed_networks=self._allowed_networks)
            if category is not None:
                raise Blocked(
                    f"the egress proxy connected {host} to {address}, "
                    f"which is blocked as {category}",
                    url=url,
                )
        except BaseException:
            sock.close()
            raise
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return sock, PinnedAddress(family=family, address=address, sockaddr=(str(address), port))


def _read_answer(sock: socket.socket, *, url: str) -> ProxyAnswer:
    """Read the answer head one byte at a time: what follows it belongs to the tunnel."""
    head = bytearray()
    while not head.endswith(HEAD_END):
        if len(head) >= MAX_ANSWER_BYTES:
            raise ProtocolViolation("the egress proxy's answer is too long", url=url)
        byte = sock.recv(1)
        if not byte:
            raise ConnectionFailed("the egress proxy closed the connection", url=url)
        head += byte
    try:
        return parse_answer(bytes(head))
    except ValueError as error:
        raise ProtocolViolation(
            f"the egress proxy's answer is not HTTP: {error}", url=url
        ) from None


def _tunnel_peer(
    answer: ProxyAnswer, *, host: str, url: str
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The peer of an open tunnel, or the fetch error a refusal or failure amounts to."""
    detail = answer.header(DETAIL_HEADER) or answer.header(REFUSAL_HEADER)
    if answer.status == 200:
        try:
            return ipaddress.ip_address(answer.header(PEER_HEADER))
        except ValueError:
            raise Blocked(
                f"the egress proxy did not say which address {host} was connected to", url=url
            ) from None
    if answer.status == 403:
        raise Blocked(detail or f"the egress proxy refused {host}", url=url)
    if answer.status in (502, 504):
        error = ERROR_CODES.get(answer.header(ERROR_HEADER), ConnectionFailed)
        raise error(detail or f"the egress proxy could not reach {host}", url=url)
    if answer.status == 408:
        raise TimedOut(detail or "the egress proxy timed the request out", url=url)
    if answer.status == 503:
        raise ConnectionFailed(detail or "the egress proxy is busy", url=url)
    raise ProtocolViolation(
        f"the egress proxy answered {answer.status}: {detail or 'no detail'}", url=url
    )
