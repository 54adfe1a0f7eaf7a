"""HTTP and HTTPS connections pinned to addresses that were checked before connecting.

A connection opens its socket to a :class:`~fetcher.resolution.PinnedAddress`, never to the
host name, or through a :class:`~fetcher.proxy.ProxyTunnel` to the egress proxy, which
names the address it connected to; SNI and certificate verification keep using the name
from the URL either way. It sends a
request head written by :mod:`fetcher.request` and hands the socket to
:class:`http.client.HTTPResponse` to parse the answer; :mod:`http.client` is imported only then,
so it loads while the request is on its way. Every read and write is bounded by both the
per-read timeout and the fetch's total deadline, re-armed before each ``recv``, so a peer that
drips one byte at a time cannot stretch the fetch.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from fetcher.deadline import Deadline
from fetcher.errors import TlsFailed
from fetcher.resolution import PinnedAddress
from fetcher.tls import TlsSession

if TYPE_CHECKING:
    import http.client
    import ssl

    from fetcher.proxy import ProxyTunnel


class SocketOpener(Protocol):
    """Opens a connected TCP socket; injected so tests can record or refuse connection attempts."""

    def __call__(
        self, *, family: int, sockaddr: tuple[Any, ...], timeout: float
    ) -> socket.socket: ...


def open_socket(*, family: int, sockaddr: tuple[Any, ...], timeout: float) -> socket.socket:
    """Connect a new TCP socket to exactly ``sockaddr``, giving up after ``timeout`` seconds."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def verifying_context(ca_file: str | None, *, url: str) -> ssl.SSLContext:
    """A TLS context that verifies certificates (against ``ca_file`` too, if given) and
    offers HTTP/1.1, as :mod:`http.client` does for its own; raises TlsFailed."""
    import ssl  # noqa: PLC0415 (plain http never loads it; fetcher/__init__.py)

    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsFailed(f"cannot load the CA file: {error}", url=url) from None
    return context


class PinnedConnection:
    """A connection that connects only to its pinned, already checked addresses.

    With a TLS ``context`` (which must verify the certificate and the host name) it speaks
    HTTPS to ``host``; without one, plain HTTP. With a ``tunnel`` it connects through the
    egress proxy instead, to ``port`` of ``host``, and ``addresses`` go unused.
    """

    def __init__(
        self,
        *,
        host: str,
        addresses: Sequence[PinnedAddress],
        deadline: Deadline,
        connect_timeout: float,
        read_timeout: float,
        context: ssl.SSLContext | None = None,
        opener: SocketOpener = open_socket,
        clock: Callable[[], float] = time.monotonic,
        tunnel: ProxyTunnel | None = None,
        port: int = 0,
        url: str = "",
    ) -> None:
        if context is not None:
            import ssl  # noqa: PLC0415 (a context means ssl is loaded already)

            if not context.check_hostname or context.verify_mode != ssl.CERT_REQUIRED:
                raise ValueError("the TLS context must verify the certificate and the host name")
        self.host = host
        self._addresses = tuple(addresses)
        self._deadline = deadline
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._context = context
        self._opener = opener
        self._clock = clock
        self._tunnel = tunnel
        self._port = port
        self._url = url
        self._sock: DeadlineSocket | None = None
        #: The address the socket is connected to, once connected.
        self.peer: PinnedAddress | None = None
        #: Seconds the connect (and TLS handshake) took, once connected.
        self.connect_seconds: float | None = None
        #: Protocol, cipher and verified certificate, once a TLS handshake has completed.
        self.tls_session: TlsSession | None = None

    def connect(self) -> None:
        """Open the socket to the first pinned address that accepts, never to the host name."""
        started = self._clock()
        raw = self._open_pinned() if self._tunnel is None else self._open_tunnel(self._tunnel)
        try:
            self._sock = self._wrap(raw)
        except BaseException:
            raw.close()
            raise
        self.connect_seconds = self._clock() - started

    def send(self, data: bytes) -> None:
        """Send ``data`` (a request head) on the connected socket."""
        self._connected().sendall(data)

    def getresponse(self) -> http.client.HTTPResponse:
        """Read the status line and headers of the response; the body is left to read."""
        import http.client  # noqa: PLC0415 (it loads while the request travels; module doc)

        # HTTPResponse only calls makefile("rb") on its socket, which DeadlineSocket provides.
        sock: Any = self._connected()
        response = http.client.HTTPResponse(sock, method="GET")
        try:
            response.begin()
        except BaseException:
            response.close()
            raise
        return response

    def close(self) -> None:
        """Close the connection; a response still being read keeps the socket until it closes."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connected(self) -> DeadlineSocket:
        if self._sock is None:
            raise OSError("the connection is not open")
        return self._sock

    def _wrap(self, raw: socket.socket) -> DeadlineSocket:
        """Return the socket requests and responses go through; HTTPS adds TLS here."""
        if self._context is None:
            return DeadlineSocket(raw, deadline=self._deadline, read_timeout=self._read_timeout)
        import ssl  # noqa: PLC0415 (see __init__)

        raw.settimeout(self._deadline.bound(self._connect_timeout))
        tls = self._context.wrap_socket(raw, server_hostname=self.host)
        version, cipher = tls.version(), tls.cipher()
        if version is None or cipher is None:
            raise ssl.SSLError("the TLS handshake did not complete")
        self.tls_session = TlsSession(
            version=version, cipher=cipher[0], certificate=tls.getpeercert()
        )
        return DeadlineSocket(tls, deadline=self._deadline, read_timeout=self._read_timeout)

    def _open_tunnel(self, tunnel: ProxyTunnel) -> socket.socket:
        raw, self.peer = tunnel.open(
            host=self.host,
            port=self._port,
            url=self._url,
            deadline=self._deadline,
            timeout=self._connect_timeout,
        )
        return raw

    def _open_pinned(self) -> socket.socket:
        # Like socket.create_connection, try each address in turn and report the last failure;
        # every address here passed the blocklist, so falling back stays within policy.
        failure: OSError | None = None
        for pinned in self._addresses:
            timeout = self._deadline.bound(self._connect_timeout)
            try:
                sock = self._opener(family=pinned.family, sockaddr=pinned.sockaddr, timeout=timeout)
            except OSError as error:
                failure = error
                continue
            self.peer = pinned
            return sock
        raise failure if failure is not None else OSError("no address to connect to")


class DeadlineSocket:
    """The socket a connection sends and reads through: every send and receive re-arms the
    timeout first.

    A narrow wrapper (``sendall``, ``makefile`` and ``close``) that serves plain and TLS
    sockets alike. Like :class:`socket.socket`, closing it while a response still reads from
    it defers the real close until that reader is closed.
    """

    def __init__(self, sock: socket.socket, *, deadline: Deadline, read_timeout: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._open_readers = 0
        self._close_requested = False

    def sendall(self, data: bytes) -> None:
        """Send ``data``, waiting no longer than the read timeout or the deadline allows."""
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer: Any) -> int:
        """Receive into ``buffer``, waiting no longer than the read timeout or the deadline."""
        self._arm()
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str) -> io.BufferedReader:
        """Return the buffered reader http.client parses the response from."""
        if mode != "rb":
            raise ValueError(f"only binary reading is supported, not {mode!r}")
        self._open_readers += 1
        return io.BufferedReader(_SocketReader(self))

    def close(self) -> None:
        """Close the socket now, or once the last open reader is closed."""
        self._close_requested = True
        self._release()

    def reader_closed(self) -> None:
        """Note that a reader from :meth:`makefile` was closed."""
        self._open_readers -= 1
        self._release()

    def _arm(self) -> None:
        self._sock.settimeout(self._deadline.bound(self._read_timeout))

    def _release(self) -> None:
        if self._close_requested and self._open_readers <= 0:
            self._sock.close()


class _SocketReader(io.RawIOBase):
    """Raw reads through a :class:`DeadlineSocket`, for buffering by io.BufferedReader."""

    def __init__(self, owner: DeadlineSocket) -> None:
        super().__init__()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._owner.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._owner.reader_closed()
        super().close()
