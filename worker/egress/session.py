"""One scan's way out: its socket directory, its limits, and what its connections did.

A session is opened before its container is created (a standby container is made before its
job is known) and closed after the container exits. Its deadline is fixed at opening; when
it passes, the socket stops accepting and every connection still open is closed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from worker.egress.records import ConnectionRecord, SessionRecord

#: Why the connections of a session were cut: its deadline passed, or it was closed.
SESSION_DEADLINE = "session-deadline"
SESSION_CLOSED = "session-closed"


class LiveSession:
    """The state of one open session; only the proxy's event loop touches it."""

    def __init__(
        self,
        *,
        session_id: str,
        label: str,
        directory: Path,
        socket_path: Path,
        opened_at: datetime,
        deadline: float,
        max_connections: int,
        max_bytes: int,
    ) -> None:
        self.session_id = session_id
        self.label = label
        self.directory = directory
        self.socket_path = socket_path
        self.opened_at = opened_at
        #: When the session ends, on the event loop's clock.
        self.deadline = deadline
        self.max_connections = max_connections
        self.max_bytes = max_bytes
        #: Records of finished connections, by the order the connections arrived in.
        self.records: dict[int, ConnectionRecord] = {}
        self.arrived = 0
        self.admitted = 0
        self.unrecorded = 0
        self.bytes_used = 0
        self.expired = False
        #: Set when the session starts cutting its connections, and why.
        self.ending: str | None = None
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.timers: list[asyncio.TimerHandle] = []

    def arrive(self) -> int:
        """Number a new client connection, in the order connections arrive."""
        self.arrived += 1
        return self.arrived

    def admit(self) -> bool:
        """Count a new connection; False once the session has had all it may have."""
        if self.ending is not None or self.admitted >= self.max_connections:
            self.unrecorded += 1
            return False
        self.admitted += 1
        return True

    def take_bytes(self, count: int) -> int:
        """How many of ``count`` bytes may still pass; they are counted as passed."""
        allowed = max(0, min(count, self.max_bytes - self.bytes_used))
        self.bytes_used += allowed
        return allowed

    def remaining(self, now: float) -> float:
        """Seconds until the deadline, never negative."""
        return max(0.0, self.deadline - now)

    def record(self, number: int, record: ConnectionRecord) -> None:
        """Keep the record of finished connection ``number``."""
        self.records[number] = record

    def to_record(self, *, closed_at: datetime) -> SessionRecord:
        """Everything the session did, for whoever closes it."""
        return SessionRecord(
            session_id=self.session_id,
            label=self.label,
            opened_at=self.opened_at,
            closed_at=closed_at,
            expired=self.expired,
            connections=tuple(self.records[number] for number in sorted(self.records)),
            unrecorded=self.unrecorded,
            bytes_total=self.bytes_used,
        )
