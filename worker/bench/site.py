"""The page the benchmark scans, served by the benchmark itself on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: A small HTML page with a title, like most pages a scan meets.
PAGE = (
    b"<!doctype html><html><head><title>scanbox benchmark</title></head>"
    b"<body><h1>scanbox</h1><p>" + b"benchmark page " * 64 + b"</p></body></html>"
)


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_page() -> Iterator[str]:
    """Serve ``PAGE`` on a free loopback port for the block; yield its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bench-page", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
