"""Moving bytes between a client and its target, within the session's byte budget.

Each direction is pumped on its own. When the client stops sending, the target is told
(``write_eof``) and its answer still flows back; when the target stops sending, the exchange
is over (one request per connection): the relay returns and its caller records the
connection before it closes both sides, so a client that has seen the end can rely on the
record being there. Every byte either way is
taken from the session's budget first: at the budget, what fits is forwarded and the
connection is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from worker.egress.session import LiveSession
from worker.egress.streams import Stream

#: Bytes read from one side per turn.
CHUNK_BYTES = 64 * 1024
#: Why a relay ended early: the session's bytes ran out, or a side broke the connection.
SESSION_BYTES = "session-bytes"
CONNECTION_BROKEN = "connection-broken"


class _BudgetSpent(Exception):
    """The session's byte budget ran out in the middle of a chunk."""


class Counts:
    """Bytes relayed so far, each way."""

    def __init__(self) -> None:
        self.up = 0
        self.down = 0

    def add_up(self, count: int) -> None:
        self.up += count

    def add_down(self, count: int) -> None:
        self.down += count


def send_within_budget(
    writer: asyncio.StreamWriter, data: bytes, *, session: LiveSession, count: Callable[[int], None]
) -> bool:
    """Write what of ``data`` the budget allows; False when some of it did not fit."""
    allowed = session.take_bytes(len(data))
    if allowed:
        writer.write(data[:allowed])
        count(allowed)
    return allowed == len(data)


async def relay(
    *, client: Stream, target: Stream, session: LiveSession, counts: Counts
) -> str | None:
    """Relay until the target's side ends; return why it ended early, or None."""
    up = asyncio.create_task(
        _pump(client.reader, target.writer, session=session, count=counts.add_up, eof=True)
    )
    down = asyncio.create_task(
        _pump(target.reader, client.writer, session=session, count=counts.add_down, eof=False)
    )
    try:
        pending: set[asyncio.Task[None]] = {up, down}
        while not down.done():
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                failure = task.exception()
                if isinstance(failure, _BudgetSpent):
                    return SESSION_BYTES
                if isinstance(failure, OSError):
                    return CONNECTION_BROKEN
                if failure is not None:
                    raise failure
        return None
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


async def _pump(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    *,
    session: LiveSession,
    count: Callable[[int], None],
    eof: bool,
) -> None:
    """Copy ``source`` to ``sink``; at its end, pass the end on only if ``eof``."""
    while True:
        data = await source.read(CHUNK_BYTES)
        if not data:
            if eof and sink.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    sink.write_eof()
            return
        fitted = send_within_budget(sink, data, session=session, count=count)
        await sink.drain()
        if not fitted:
            raise _BudgetSpent
