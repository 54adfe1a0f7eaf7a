"""The control socket: where the worker opens and closes sessions (mode 0600, JSON lines).

Only the proxy's own user (the worker's) can connect; what arrives is still parsed strictly
(:mod:`worker.egress.protocol`), each line bounded in size and in the time it may take, and
a bad request gets an error reply rather than ending the proxy.
"""

from __future__ import annotations

import asyncio
import os
from functools import partial
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

#: Mode of the control socket: the proxy's own user only.
CONTROL_MODE = 0o600


class SessionKeeper(Protocol):
    """What the control socket asks of the proxy."""

    def session_count(self) -> int: ...

    async def open_session(self, *, label: str, ttl_ms: int | None) -> Session: ...

    async def close_session(self, session_id: str) -> SessionRecord: ...


async def start_control_server(keeper: SessionKeeper, *, config: EgressConfig) -> asyncio.Server:
    """Listen on the control socket, mode 0600."""
    path = config.control_socket
    server = await asyncio.start_unix_server(
        partial(_serve, keeper, config), path=str(path), limit=config.max_control_line_bytes
    )
    os.chmod(path, CONTROL_MODE)
    return server


async def _serve(
    keeper: SessionKeeper,
    config: EgressConfig,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), config.control_timeout_s)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(encode(error_message(BAD_REQUEST, "the request line is too long")))
                await writer.drain()
                return
            writer.write(encode(await _reply(keeper, line)))
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


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
