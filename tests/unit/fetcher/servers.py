"""Loopback-only test doubles for the fetcher: scripted HTTP(S) servers, silent listeners, fakes.

Everything here binds to 127.0.0.0/8 or ::1 and never resolves a name through DNS.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fetcher.connection import open_socket


@dataclass
class Reply:
    """What a scripted server answers: status, headers, and a body (bytes or chunks)."""

    status: int = 200
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""


@dataclass(frozen=True)
class SeenRequest:
    """A request as the server received it."""

    path: str
    headers: dict[str, str]
    peer: str


Handler = Callable[[SeenRequest], Reply]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        owner: ScriptedServer,
        *,
        family: int,
    ) -> None:
        self.address_family = family
        self.owner = owner
        super().__init__(address, _RequestHandler)

    def get_request(self) -> tuple[Any, Any]:
        sock, peer = self.socket.accept()
        self.owner.record_connection(peer)
        context = self.owner.ssl_context
        if context is None:
            return sock, peer
        try:
            return context.wrap_socket(sock, server_side=True), peer
        except (OSError, ssl.SSLError):
            sock.close()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The fetcher hangs up on purpose (truncation, timeouts); that is not a test failure.
        self.owner.handler_errors += 1


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        seen = SeenRequest(
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            peer=self.client_address[0],
        )
        owner.requests.append(seen)
        reply = owner.handler(seen)
        self.send_response(reply.status, reply.reason)
        names = {name.lower() for name, _ in reply.headers}
        for name, value in reply.headers:
            self.send_header(name, value)
        body = reply.body
        if isinstance(body, bytes) and "content-length" not in names and reply.status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if isinstance(body, bytes):
            self.wfile.write(body)
        else:
            for chunk in body:
                self.wfile.write(chunk)
                self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


class ScriptedServer:
    """An HTTP/1.1 (or HTTPS) server on a loopback address, answering from ``handler``."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: list[SeenRequest] = []
        self.connections: list[str] = []
        self.handler_errors = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _Server((host, port), self, family=family)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def record_connection(self, peer: Any) -> None:
        self.connections.append(peer[0])

    def url(self, path: str = "/", *, scheme: str = "http", host: str | None = None) -> str:
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{name}:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class SilentListener:
    """A listening socket nobody accepts on: the kernel completes handshakes, nothing answers.

    ``connection_count()`` drains the accept queue without blocking; since every fetch is
    synchronous, a connection the fetch made is already queued when the test asks.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(16)
        self._socket.setblocking(False)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._accepted: list[socket.socket] = []

    def connection_count(self) -> int:
        while True:
            try:
                connection, _ = self._socket.accept()
            except BlockingIOError:
                return len(self._accepted)
            self._accepted.append(connection)

    def close(self) -> None:
        for connection in self._accepted:
            connection.close()
        self._socket.close()


def numeric_resolver(host: str, port: int, *, type: int) -> list[Any]:
    """The real getaddrinfo, refusing to look anything up: only literal addresses resolve."""
    return socket.getaddrinfo(host, port, type=type, flags=socket.AI_NUMERICHOST)


class FakeResolver:
    """Maps names to scripted address lists, one list per call, and records every call."""

    def __init__(self, answers: Sequence[Sequence[str]]) -> None:
        self._answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int, *, type: int) -> list[Any]:
        self.calls.append((host, port))
        addresses = self._answers[min(len(self.calls), len(self._answers)) - 1]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in addresses
        ]


class RecordingOpener:
    """The real socket opener, recording every address a connection is attempted to.

    Addresses outside loopback are recorded and refused without touching the network, so a
    regression in the blocklist fails the test instead of reaching out.
    """

    def __init__(self) -> None:
        self.attempts: list[tuple[Any, ...]] = []

    def __call__(self, *, family: int, sockaddr: tuple[Any, ...], timeout: float) -> socket.socket:
        self.attempts.append(sockaddr)
        if not ipaddress.ip_address(sockaddr[0]).is_loopback:
            raise ConnectionRefusedError(f"test opener refuses non-loopback {sockaddr[0]}")
        return open_socket(family=family, sockaddr=sockaddr, timeout=timeout)


def replies(*sequence: Reply) -> Handler:
    """A handler answering each request with the next reply, repeating the last one."""
    queue = list(sequence)

    def handle(_request: SeenRequest) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handle


def routes(table: dict[str, Reply]) -> Handler:
    """A handler answering by request path, 404 for anything else."""

    def handle(request: SeenRequest) -> Reply:
        return table.get(request.path, Reply(status=404, body=b"not found"))

    return handle


def drip(byte: bytes, *, every: float, stop: threading.Event) -> Iterator[bytes]:
    """A body that sends one byte per ``every`` seconds until ``stop`` is set."""
    while not stop.is_set():
        yield byte
        stop.wait(every)


#: What a scripted proxy answers after a 200: a small HTTP response, as a target would.
TUNNEL_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class ScriptedProxy:
    """A stand-in for the egress proxy on a Unix socket: answers each CONNECT from a script.

    Each answer is raw bytes (an answer head, perhaps followed by what the "target" says
    through the tunnel); the last one repeats. Records every request head it received.
    """

    def __init__(self, path: str, answers: Sequence[bytes]) -> None:
        self.path = path
        self.heads: list[bytes] = []
        #: What each client sent through its tunnel after the CONNECT.
        self.tunnelled: list[bytes] = []
        self._answers = list(answers)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(path)
        self._socket.listen(16)
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="scripted-proxy", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                head = b""
                while not head.endswith(b"\r\n\r\n") and len(head) < 65536:
                    chunk = connection.recv(1)
                    if not chunk:
                        break
                    head += chunk
                self.heads.append(head)
                answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
                tunnelled = b""
                try:
                    connection.sendall(answer)
                    # Let the client read everything before the connection ends.
                    connection.shutdown(socket.SHUT_WR)
                    while chunk := connection.recv(65536):
                        tunnelled += chunk
                except OSError:
                    pass
                self.tunnelled.append(tunnelled)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
