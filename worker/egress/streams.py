"""Opening and closing the proxy's sockets: connections to checked addresses, stream
pairs, and servers that stop cleanly.

:func:`stop_listening` works around a race in Python 3.11's ``Server.close``: a connection
accepted in the loop turn before the close fails to attach to the closed server, and its
socket is left open until garbage collection. Accepting is paused first, the connections
already accepted are given their turn to attach, and only then is the server closed.
:func:`serve_unix` works around another: Python 3.11's stream server logs a client task that
was cancelled (the proxy stopping, a session closing) as an error, "Exception in callback";
the proxy's servers all start there, and a cancelled client ends quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from fetcher.addresses import IPAddress


class Stream(NamedTuple):
    """Both halves of one side of a connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


#: Connects to one checked address and port within a timeout (seconds).
Opener = Callable[[IPAddress, int, float], Awaitable[Stream]]
#: What a stream server runs for each client.
ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve_unix(handler: ClientHandler, *, path: str, limit: int) -> asyncio.Server:
    """A stream server on the Unix socket ``path`` that runs ``handler`` for each client; a
    client's task ends without an error when cancelled: only the proxy cancels one, to end
    it, and it has then done so."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await handler(reader, writer)

    return await asyncio.start_unix_server(serve, path=path, limit=limit)


async def open_upstream(address: IPAddress, port: int, timeout_s: float) -> Stream:
    """Connect a socket to exactly ``address``:``port``; nothing is resolved on the way."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (str(address), port)), timeout_s)
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    return Stream(reader=reader, writer=writer)


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
