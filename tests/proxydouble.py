"""A test double of the egress proxy: HTTP CONNECT and absolute-URI requests on a Unix socket.

Test fixture only, standing in for ``worker/egress`` until it is on main. It connects only to
127.0.0.1 on the ports a test allows, refuses everything else with 403, and records each
request: what was asked for and whether it was let through. Plain-http requests are forwarded
one per connection (``Connection: close``), which is all the browser tests need.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: Longest request head the double reads.
MAX_HEAD_BYTES = 64 * 1024


@dataclass
class ProxyRecord:
    """One request the double was asked to carry."""

    method: str
    target: str
    host: str
    port: int
    allowed: bool


@dataclass
class ProxyDouble:
    """The double's socket, its policy (loopback ports allowed) and its record."""

    socket_path: Path
    allowed_ports: set[int] = field(default_factory=set)
    records: list[ProxyRecord] = field(default_factory=list)

    def allows(self, host: str, port: int) -> bool:
        return host == "127.0.0.1" and port in self.allowed_ports


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _read_head(conn: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_HEAD_BYTES:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def _handle(proxy: ProxyDouble, conn: socket.socket) -> None:
    head_part, _, early = _read_head(conn).partition(b"\r\n\r\n")
    line, _, header_block = head_part.partition(b"\r\n")
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3:
        return
    method, target, _version = parts
    if method == "CONNECT":
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]")
    else:
        split = urlsplit(target)
        host = split.hostname or ""
        port_text = str(split.port or 80)
    port = int(port_text) if port_text.isdigit() else 0
    allowed = proxy.allows(host, port)
    proxy.records.append(
        ProxyRecord(method=method, target=target, host=host, port=port, allowed=allowed)
    )
    if not allowed:
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    with socket.create_connection((host, port), timeout=10) as upstream:
        upstream.settimeout(None)
        if method == "CONNECT":
            conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            split = urlsplit(target)
            path = (split.path or "/") + (f"?{split.query}" if split.query else "")
            headers = [
                header
                for header in header_block.split(b"\r\n")
                if header and not header.lower().startswith((b"proxy-connection:", b"connection:"))
            ]
            upstream.sendall(
                f"{method} {path} HTTP/1.1\r\n".encode()
                + b"".join(header + b"\r\n" for header in headers)
                + b"Connection: close\r\n\r\n"
            )
        if early:
            upstream.sendall(early)
        back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        back.start()
        _pipe(conn, upstream)
        back.join(timeout=30)


@contextmanager
def proxy_double(directory: Path, *, allowed_ports: set[int]) -> Iterator[ProxyDouble]:
    """Run a proxy double on ``directory/egress.sock`` for the length of the block."""
    proxy = ProxyDouble(socket_path=directory / "egress.sock", allowed_ports=set(allowed_ports))

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):
                _handle(proxy, self.request)

    server = socketserver.ThreadingUnixStreamServer(str(proxy.socket_path), Handler)
    server.daemon_threads = True
    proxy.socket_path.chmod(0o777)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
