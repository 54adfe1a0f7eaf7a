"""Opening and closing the proxy's sockets cleanly: stream pairs, and servers that stop.

:func:`stop_listening` works around a race in Python 3.11's ``Server.close``: a connection
accepted in the loop turn before the close fails to attach to the closed server, and its
socket is left open until garbage collection. Accepting is paused first, the connections
already accepted are given their turn to attach, and only then is the server closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import NamedTuple


class Stream(NamedTuple):
    """Both halves of one side of a connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close one side and wait until its socket is released, whatever state it is in."""
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def stop_listening(server: asyncio.Server) -> None:
    """Stop accepting on ``server`` and close its listening sockets."""
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())
    # Connections accepted before the reader went attach to the server on their first turn.
    await asyncio.sleep(0)
    server.close()
