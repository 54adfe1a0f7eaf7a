"""The control socket: where the worker opens and closes sessions (mode 0600, JSON lines).

Only the proxy's own user (the worker's) can connect; what arrives is still parsed strictly
(:mod:`worker.egress.protocol`), each line bounded in size and in the time it may take, and
a bad request gets an error reply rather than ending the proxy.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Protocol

from worker.egress.config import EgressConfig
from worker.egress.errors import EgressProtocolError, EgressRefused
from worker.egress.protocol import (
    BAD_REQUEST,
    PROTOCOL_VERSION,
    CloseRequest,
    OpenRequest,
    Session,
    decode,
    encode,
    error_message,
    parse_request,
    session_message,
)
from worker.egress.records import SessionRecord
from worker.egress.streams import close_stream, serve_unix, stop_listening

#: Mode of the control socket: the proxy's own user only.
CONTROL_MODE = 0o600


class SessionKeeper(Protocol):
    """What the control socket asks of the proxy."""

    def session_count(self) -> int: ...

    async def open_session(self, *, label: str, ttl_ms: int | None) -> Session: ...

    async def close_session(self, session_id: str) -> SessionRecord: ...


class ControlServer:
    """Listens on the control socket and serves each connection until it ends or is stopped."""

    def __init__(self, keeper: SessionKeeper, *, config: EgressConfig) -> None:
        self._keeper = keeper
        self._config = config
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on the control socket, mode 0600."""
        path = self._config.control_socket
        self._server = await serve_unix(
            self._serve, path=str(path), limit=self._config.max_control_line_bytes
        )
        os.chmod(path, CONTROL_MODE)

    async def close(self) -> None:
        """Stop listening and end every control connection still open."""
        if self._server is not None:
            await stop_listening(self._server)
            await self._server.wait_closed()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None, "asyncio runs each client callback as a task"
        self._tasks.add(task)
        try:
            await self._converse(reader, writer)
        except ConnectionError:
            return
        finally:
            self._tasks.discard(task)
            await close_stream(writer)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await asyncio.wait_for(
                    reader.readuntil(b"\n"), self._config.control_timeout_s
                )
            except (asyncio.IncompleteReadError, TimeoutError):
                return
            except asyncio.LimitOverrunError:
                writer.write(encode(error_message(BAD_REQUEST, "the request line is too long")))
                await writer.drain()
                return
            writer.write(encode(await _reply(self._keeper, line)))
            await writer.drain()


async def _reply(keeper: SessionKeeper, line: bytes) -> dict[str, Any]:
    try:
        request = parse_request(decode(line))
        if isinstance(request, OpenRequest):
            return session_message(
                await keeper.open_session(label=request.label, ttl_ms=request.ttl_ms)
            )
        if isinstance(request, CloseRequest):
            record = await keeper.close_session(request.session_id)
            return {"ok": True, "record": record.to_json()}
        return {"ok": True, "protocol": PROTOCOL_VERSION, "sessions": keeper.session_count()}
    except EgressProtocolError as error:
        return error_message(BAD_REQUEST, str(error))
    except EgressRefused as refused:
        return error_message(refused.code, refused.message)
