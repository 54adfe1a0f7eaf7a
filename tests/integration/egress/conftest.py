"""Fixtures for the egress proxy's integration tests: a real proxy, real loopback targets.

Targets listen on 127.0.0.1, the only network the proxies here allow; the canary listens on
127.0.0.2, which no proxy here allows, and must never see a connection.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from typing import Any

import pytest

from fetcher.ports import parse_port_policy
from tests.egress_support import EgressThread, ScriptedResolver, egress_directory, running_egress
from tests.unit.fetcher.conftest import (  # noqa: F401 (fixtures for these tests too)
    ca_file,
    make_server,
    test_ca,
)
from tests.unit.fetcher.servers import SilentListener
from worker.egress.config import EgressConfig

#: The one network the test proxies allow.
ALLOWED = (ipaddress.ip_network("127.0.0.1/32"),)
#: Where the canary listens: loopback, but not allowed.
CANARY_HOST = "127.0.0.2"
#: How long a test waits for an answer on a socket.
ANSWER_TIMEOUT_S = 10.0

MakeEgress = Callable[..., EgressThread]


class RecordingLogger:
    """A logger with structlog's methods that keeps every event with its fields."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def _log(self, level: str, event: str, **fields: Any) -> None:
        with self._lock:
            self.events.append((level, event, fields))

    def debug(self, event: str, **fields: Any) -> None:
        self._log("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, **fields)

    def text(self) -> str:
        """Every event and field, as one string to search."""
        return repr(self.events)


class RawServer:
    """A loopback server that reads one request (head and Content-Length body), keeps its
    raw bytes, and answers ``reply``."""

    def __init__(self, reply: bytes, *, host: str = "127.0.0.1") -> None:
        self.reply = reply
        self.received: list[bytes] = []
        self._socket = socket.create_server((host, 0))
        self._socket.settimeout(0.05)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                with suppress(OSError):
                    self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        length = 0
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        while len(data.split(b"\r\n\r\n", 1)[1]) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        self.received.append(data)
        connection.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture
def make_egress() -> Iterator[MakeEgress]:
    """Start proxies on demand, each in a directory of its own; all stop after the test.

    Keyword arguments change the configuration; ``resolver`` and ``logger`` go to the proxy.
    """
    with ExitStack() as stack:

        def start(*, resolver: Any = None, logger: Any = None, **changes: Any) -> EgressThread:
            directory = stack.enter_context(egress_directory())
            settings: dict[str, Any] = {
                "directory": directory,
                "allowed_networks": ALLOWED,
                "allowed_ports": parse_port_policy("any"),
                "header_timeout_s": 5.0,
                "connect_timeout_s": 5.0,
            }
            settings.update(changes)
            kwargs: dict[str, Any] = {"resolver": resolver or ScriptedResolver({})}
            if logger is not None:
                kwargs["logger"] = logger
            return stack.enter_context(running_egress(EgressConfig(**settings), **kwargs))

        yield start


@pytest.fixture
def canary() -> Iterator[SilentListener]:
    """A listener on a loopback address no proxy here allows."""
    listener = SilentListener(host=CANARY_HOST)
    yield listener
    listener.close()


@pytest.fixture
def make_raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(reply: bytes, **kwargs: Any) -> RawServer:
        server = RawServer(reply, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def open_client(path: str) -> socket.socket:
    """A client connection to a session socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def read_head(sock: socket.socket) -> bytes:
    """Read an answer head, byte by byte, up to and including its blank line (or EOF)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    return head


def read_all(sock: socket.socket) -> bytes:
    """Read until the other side closes."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def ask(path: str, head: bytes) -> bytes:
    """Send ``head`` on a fresh connection and return the answer head."""
    with open_client(path) as sock:
        sock.sendall(head)
        return read_head(sock)
