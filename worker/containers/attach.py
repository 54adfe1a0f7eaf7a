"""Reading a container's output from its attach socket: Docker's multiplexed frames.

Without a TTY, Docker sends stdout and stderr over one stream as frames: a byte naming the
stream, three zero bytes, the payload's length (4 bytes, big-endian), then the payload.
Stdout is capped as it arrives (past the cap: ``OutputTooLarge``, and the reader stops);
of stderr only the tail is kept, to explain a crash.

The fetcher prints its report as one line and exits: a reader can stop at the first complete
line instead of waiting for the engine to tear the container down and close the stream. Every
byte the container wrote to stdout counts against the cap, whatever the engine's log driver
would have kept.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

from worker.errors import ContainerTimedOut, OutputTooLarge, ScanError

#: Stream numbers in a frame header.
STDOUT = 1
STDERR = 2
#: A frame header: stream, three padding bytes, payload length.
HEADER = struct.Struct(">BxxxI")
#: Characters of stderr kept to explain a crash.
STDERR_TAIL_CHARS = 4000
#: Bytes asked of the socket at a time.
RECV_BYTES = 65536
#: How often a read looks up to check for an interruption.
READ_SLICE_S = 0.5
#: Asked while a container runs: an error to stop the scan with (its container is killed), or
#: ``None`` to let it go on.
Interruption = Callable[[], ScanError | None]


def never() -> ScanError | None:
    """The interruption of a scan nothing interrupts."""
    return None


class FrameReader:
    """Collects stdout (capped) and the tail of stderr from the frames fed to it."""

    def __init__(self, *, stdout_limit: int) -> None:
        self.stdout_limit = stdout_limit
        self._buffer = bytearray()
        self._stdout = bytearray()
        self._stderr = bytearray()

    def feed(self, data: bytes) -> None:
        """Take in bytes read from the socket; raise ``OutputTooLarge`` past the cap."""
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            stream, length = HEADER.unpack_from(self._buffer)
            end = HEADER.size + length
            if stream == STDOUT and len(self._stdout) + length > self.stdout_limit:
                raise OutputTooLarge(limit_bytes=self.stdout_limit)
            if len(self._buffer) < end:
                return
            payload = self._buffer[HEADER.size : end]
            del self._buffer[:end]
            if stream == STDOUT:
                self._stdout += payload
            elif stream == STDERR:
                self._stderr += payload
                del self._stderr[: max(len(self._stderr) - STDERR_TAIL_CHARS, 0)]

    @property
    def has_line(self) -> bool:
        """Whether stdout holds a complete line (the fetcher's report is one)."""
        return b"\n" in self._stdout

    @property
    def stdout(self) -> bytes:
        """Everything the container wrote to stdout."""
        return bytes(self._stdout)

    @property
    def stderr_tail(self) -> str:
        """The end of what the container wrote to stderr."""
        return self._stderr.decode("utf-8", "replace")


def read_output(
    sock: socket.socket,
    reader: FrameReader,
    *,
    deadline: float,
    timeout_ms: int,
    interruption: Interruption,
    until_end: bool = False,
) -> None:
    """Feed ``reader`` until stdout holds a complete line or the container closes its output
    (with ``until_end``, only the latter).

    Raises ``ContainerTimedOut`` at ``deadline`` (``time.monotonic()``), the interruption's
    error when it asks to stop, ``OutputTooLarge`` past the cap, and ``OSError`` when the
    connection to the engine breaks. The caller kills the container on every one of them.
    """
    while True:
        stop = interruption()
        if stop is not None:
            raise stop
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ContainerTimedOut(timeout_ms=timeout_ms)
        sock.settimeout(min(remaining, READ_SLICE_S))
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            continue
        if not data:
            return
        reader.feed(data)
        if reader.has_line and not until_end:
            return
