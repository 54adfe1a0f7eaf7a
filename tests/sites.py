"""Web pages served on loopback by the test process itself, for fetcher containers to scan."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Site:
    """A loopback HTTP server whose routes a test sets."""

    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    port: int = 0
    host: str = "127.0.0.1"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def page(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve ``body`` at ``path``."""

        def handler(request: BaseHTTPRequestHandler) -> None:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(body)

        self.routes[path] = handler

    def held_page(
        self, path: str, body: bytes, *, release: threading.Event, hold_s: float = 30.0
    ) -> None:
        """Serve ``body`` at ``path`` only once ``release`` is set (or ``hold_s`` passed)."""
        self.page(path + "#inner", body)
        inner = self.routes.pop(path + "#inner")

        def handler(request: BaseHTTPRequestHandler) -> None:
            release.wait(hold_s)
            inner(request)

        self.routes[path] = handler


@contextmanager
def serve(host: str = "127.0.0.1") -> Iterator[Site]:
    """Run a ``Site`` on ``host`` (a loopback address) for the length of the block."""
    site = Site(host=host)

    class RequestHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.hits.append(self.path)
            handler = site.routes.get(self.path.split("?")[0])
            if handler is None:
                self.send_error(404)
                return
            handler(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), RequestHandler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_listener() -> Iterator[int]:
    """A loopback port that accepts connections and never answers; yields the port."""

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        sock.close()
