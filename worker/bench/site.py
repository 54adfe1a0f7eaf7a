"""The page the benchmark scans, served by the benchmark itself on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: A small HTML page with a title, like most pages a scan meets.
PAGE = (
    b"<!doctype html><html><head><title>scanbox benchmark</title></head>"
    b"<body><h1>scanbox</h1><p>" + b"benchmark page " * 64 + b"</p></body></html>"
)


#: What each path answers: its body and media type.
Routes = Mapping[str, tuple[bytes, str]]


def _handler(routes: Routes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, media_type = routes.get(self.path, (b"not here", "text/plain"))
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_routes(routes: Routes) -> Iterator[str]:
    """Serve ``routes`` on a free loopback port for the block; yield the URL of ``/``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bench-page", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_page() -> Iterator[str]:
    """Serve ``PAGE`` on a free loopback port for the block; yield its URL."""
    with serve_routes({"/": (PAGE, "text/html; charset=utf-8")}) as url:
        yield url
