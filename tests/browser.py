"""Running ``python3 -m fetcher.browser`` in tests: the program as a real process, real
Chromium, the proxy double, canary listeners, and a PNG check that decodes the image."""

from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetcher.browser.stream import read_capture
from fetcher.browser.versions import chromium_binary
from tests.services import unavailable

#: The repository this checkout is.
REPOSITORY = Path(__file__).resolve().parent.parent
#: Seconds a capture process may take beyond its own deadline before the test calls it hung:
#: Playwright's driver and Chromium start, and the watchdog's grace.
PROCESS_MARGIN_S = 30.0


def require_chromium() -> str:
    """The host's Chromium headless shell (Debian's package), or skip / fail in CI."""
    binary = chromium_binary()
    if not os.access(binary, os.X_OK):
        unavailable(f"Chromium at {binary} (apt-get install chromium-headless-shell)")
    return binary


@dataclass
class Capture:
    """What one run of the program gave: exit status, report, artifacts and stderr."""

    returncode: int
    report: dict[str, Any]
    artifacts: dict[str, bytes]
    stderr: str

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        """The recorded requests whose URL path is ``path``."""
        from urllib.parse import urlsplit  # noqa: PLC0415

        return [r for r in self.report["requests"] if urlsplit(r["url"]).path == path]


def run_capture(
    url: str | None,
    *,
    proxy_socket: Path,
    options: Sequence[str] = (),
    stdin: bytes | None = None,
    deadline_ms: int = 20_000,
) -> Capture:
    """Run the program on the host for ``url`` (or with ``--url-stdin`` and ``stdin``)."""
    command = [
        sys.executable,
        "-m",
        "fetcher.browser",
        "--proxy-socket",
        str(proxy_socket),
        "--deadline-ms",
        str(deadline_ms),
        *options,
    ]
    command += ["--url-stdin"] if url is None else [url]
    result = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        cwd=REPOSITORY,
        timeout=deadline_ms / 1000 + PROCESS_MARGIN_S,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    report, artifacts = read_capture(io.BytesIO(result.stdout))
    return Capture(returncode=result.returncode, report=report, artifacts=artifacts, stderr=stderr)


def decode_png(data: bytes) -> tuple[int, int]:
    """Decode a PNG fully (every chunk's CRC, the inflated pixel rows); its width and height."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    position = 8
    width = height = 0
    channels = {0: 1, 2: 3, 4: 2, 6: 4}
    bytes_per_pixel = 0
    idat = b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, f"bit depth {depth}"
            bytes_per_pixel = channels[colour]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        position += 12 + length
    rows = zlib.decompress(idat)
    assert len(rows) == height * (1 + width * bytes_per_pixel), "pixel data of the wrong size"
    return width, height


@dataclass
class Canary:
    """Loopback listeners (TCP and UDP) that count whatever reaches them."""

    tcp_port: int = 0
    udp_port: int = 0
    tcp_connections: int = 0
    udp_datagrams: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def total(self) -> int:
        return self.tcp_connections + self.udp_datagrams

    def reset(self) -> None:
        self.tcp_connections = 0
        self.udp_datagrams = 0


@contextmanager
def canary() -> Iterator[Canary]:
    """A TCP and a UDP listener on 127.0.0.1 that count connections and datagrams."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(64)
    tcp.settimeout(0.1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.1)
    bird = Canary(tcp_port=tcp.getsockname()[1], udp_port=udp.getsockname()[1])

    def accept() -> None:
        while not bird._stop.is_set():
            try:
                conn, _ = tcp.accept()
            except OSError:
                continue
            bird.tcp_connections += 1
            conn.close()

    def receive() -> None:
        while not bird._stop.is_set():
            try:
                udp.recvfrom(65536)
            except OSError:
                continue
            bird.udp_datagrams += 1

    threads = [threading.Thread(target=f, daemon=True) for f in (accept, receive)]
    for thread in threads:
        thread.start()
    try:
        yield bird
    finally:
        bird._stop.set()
        for thread in threads:
            thread.join(timeout=5)
        tcp.close()
        udp.close()
