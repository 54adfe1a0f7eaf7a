"""The relay that gives Chromium a proxy on loopback: each connection goes on to a Unix socket.

Chromium speaks HTTP proxy (CONNECT for TLS and WebSockets, absolute-URI requests for plain
http) only over TCP, and the container has no network but its own loopback. The egress proxy
listens on a Unix socket mounted into the container; this relay listens on ``127.0.0.1`` and
copies bytes both ways between each accepted connection and a new connection to that socket.
It never interprets the stream beyond reading the first line of each connection (the proxy
request, ``CONNECT host:port HTTP/1.1`` or ``GET http://host/... HTTP/1.1``) into its record,
so the report says what Chromium asked the proxy for; the proxy decides and records the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import NamedTuple

#: Bytes read from either side at a time.
CHUNK_BYTES = 64 * 1024
#: Longest first line kept in the record.
MAX_REQUEST_LINE_BYTES = 2048
#: Most connections recorded; later ones are counted only.
MAX_RECORDED_CONNECTIONS = 500
#: Longest wait for the proxy's socket to accept a connection.
CONNECT_TIMEOUT_S = 10.0


class RelayedConnection(NamedTuple):
    """One connection Chromium made to the proxy, as the relay saw it."""

    #: The first line Chromium sent (the proxy request), cut to MAX_REQUEST_LINE_BYTES.
    request_line: str
    #: Seconds after the relay started that the connection was accepted.
    opened_s: float
    sent_bytes: int
    received_bytes: int
    #: Why the relay could not carry it ("proxy_unreachable", "too_many"), or None.
    refused: str | None


class _Counts:
    """Bytes copied each way on one connection, and the first line seen."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.head = b""


class Relay:
    """A loopback TCP listener whose connections are carried to the proxy's Unix socket."""

    def __init__(
        self,
        *,
        socket_path: str,
        max_connections: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._socket_path = socket_path
        self._slots = asyncio.Semaphore(max_connections)
        self._clock = clock
        self._started = clock()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open: dict[int, tuple[float, _Counts]] = {}
        self._records: list[RelayedConnection] = []
        #: Connections accepted that were not recorded (past MAX_RECORDED_CONNECTIONS).
        self.unrecorded = 0
        self.port = 0

    async def start(self) -> int:
        """Listen on an ephemeral loopback port; return it."""
        self._server = await asyncio.start_server(self._accept, host="127.0.0.1", port=0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    @property
    def proxy_url(self) -> str:
        """The proxy server Chromium is told to use."""
        return f"http://127.0.0.1:{self.port}"

    def connections(self) -> list[RelayedConnection]:
        """Every connection so far, finished or not, in the order they were accepted."""
        records = list(self._records)
        for opened, counts in self._open.values():
            records.append(_record(counts, opened=opened, refused=None))
        return sorted(records, key=lambda record: record.opened_s)

    async def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        opened = self._clock() - self._started
        counts = _Counts()
        key = id(counts)
        try:
            if self._slots.locked():
                self._finish(counts, opened=opened, refused="too_many")
                return
            async with self._slots:
                self._open[key] = (opened, counts)
                refused = await self._carry(reader, writer, counts)
                del self._open[key]
                self._finish(counts, opened=opened, refused=refused)
        except asyncio.CancelledError:
            # The relay is closing (close() cancels every connection): this one ends here.
            self._finish(counts, opened=opened, refused=None)
        finally:
            self._open.pop(key, None)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _carry(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: _Counts
    ) -> str | None:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self._socket_path), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            return "proxy_unreachable"
        try:
            await asyncio.gather(
                _copy(reader, upstream_writer, counts, upstream=True),
                _copy(upstream_reader, writer, counts, upstream=False),
            )
        finally:
            upstream_writer.close()
            with contextlib.suppress(OSError):
                await upstream_writer.wait_closed()
        return None

    def _finish(self, counts: _Counts, *, opened: float, refused: str | None) -> None:
        if len(self._records) >= MAX_RECORDED_CONNECTIONS:
            self.unrecorded += 1
            return
        self._records.append(_record(counts, opened=opened, refused=refused))


async def _copy(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, counts: _Counts, *, upstream: bool
) -> None:
    """Copy ``source`` to ``sink`` until end of stream, then pass the end on."""
    try:
        while chunk := await source.read(CHUNK_BYTES):
            if upstream:
                if len(counts.head) < MAX_REQUEST_LINE_BYTES and b"\n" not in counts.head:
                    counts.head += chunk[: MAX_REQUEST_LINE_BYTES - len(counts.head)]
                counts.sent += len(chunk)
            else:
                counts.received += len(chunk)
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()


def _record(counts: _Counts, *, opened: float, refused: str | None) -> RelayedConnection:
    line = counts.head.split(b"\n", 1)[0].rstrip(b"\r")
    return RelayedConnection(
        request_line=line.decode("latin-1"),
        opened_s=opened,
        sent_bytes=counts.sent,
        received_bytes=counts.received,
        refused=refused,
    )
