"""Hrana over WebSocket: the connection, its streams, and the aiohttp application serving it."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.libsqlserver.streams import DEFAULT_BUSY_TIMEOUT_S, HranaError, Json, Stream

#: Subprotocols served, preferred first (all JSON-encoded).
SUBPROTOCOLS = ("hrana3", "hrana2", "hrana1")
#: Seconds between WebSocket pings; a client that misses one is dropped and its streams closed.
HEARTBEAT_S = 10.0
#: Largest message accepted from a client.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

log = logging.getLogger("libsqlserver")
#: The open WebSockets, closed when the server stops.
_SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])


#: Database names a URL path may carry (``/NAME`` serves ``DIRECTORY/NAME.db``).
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The database ``/`` serves.
DEFAULT_DATABASE = "main"


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """What the server serves, and to whom."""

    directory: Path
    auth_token: str | None = None
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S

    def database_for(self, path: str) -> str | None:
        """The SQLite file a URL path names (``None`` for a path that names none)."""
        name = path.strip("/") or DEFAULT_DATABASE
        if not _DATABASE_NAME.fullmatch(name):
            return None
        return str(self.directory / f"{name}.db")


_CONFIG = web.AppKey("config", ServerConfig)


@dataclass
class _StreamSlot:
    """A stream's one thread (requests on a stream run in order) and, once open, the stream."""

    executor: ThreadPoolExecutor
    stream: Stream | None = None


@dataclass
class HranaConnection:
    """One WebSocket client: its streams and its stored SQL texts."""

    config: ServerConfig
    database: str
    streams: dict[int, _StreamSlot] = field(default_factory=dict)
    sqls: dict[int, str] = field(default_factory=dict)
    authenticated: bool = False

    def hello(self, message: Mapping[str, Any]) -> Json:
        token = self.config.auth_token
        if token is not None and message.get("jwt") != token:
            return {
                "type": "hello_error",
                "error": {"message": "authentication failed", "code": "AUTH_FAILED"},
            }
        self.authenticated = True
        return {"type": "hello_ok"}

    def submit(self, request: Mapping[str, Any]) -> Future[Json]:
        """Start ``request``; stream requests are queued on their stream's thread, in order."""
        kind = request.get("type")
        done: Future[Json] = Future()
        try:
            if kind == "open_stream":
                return self._open(request["stream_id"])
            if kind == "close_stream":
                return self._close(request["stream_id"])
            if kind == "store_sql":
                self.sqls[request["sql_id"]] = request["sql"]
                done.set_result({"type": "store_sql"})
                return done
            if kind == "close_sql":
                self.sqls.pop(request["sql_id"], None)
                done.set_result({"type": "close_sql"})
                return done
            return self._on_stream(request["stream_id"], _handlers(kind, request, dict(self.sqls)))
        except HranaError as error:
            done.set_exception(error)
            return done

    def close_all(self) -> None:
        for stream_id in list(self.streams):
            self._close(stream_id)

    def _open(self, stream_id: int) -> Future[Json]:
        if stream_id in self.streams:
            raise HranaError(f"stream {stream_id} is already open", "STREAM_EXISTS")
        slot = _StreamSlot(executor=ThreadPoolExecutor(1, thread_name_prefix="hrana-stream"))
        self.streams[stream_id] = slot

        def open_stream() -> Json:
            try:
                slot.stream = Stream(path=self.database, busy_timeout_s=self.config.busy_timeout_s)
            except sqlite3.Error as error:
                raise HranaError.from_sqlite(error) from error
            return {"type": "open_stream"}

        return slot.executor.submit(open_stream)

    def _close(self, stream_id: int) -> Future[Json]:
        slot = self.streams.pop(stream_id, None)
        if slot is None:
            done: Future[Json] = Future()
            done.set_result({"type": "close_stream"})
            return done

        def close_stream() -> Json:
            if slot.stream is not None:
                slot.stream.close()
            return {"type": "close_stream"}

        closed = slot.executor.submit(close_stream)
        slot.executor.shutdown(wait=False)
        return closed

    def _on_stream(self, stream_id: int, work: Callable[[Stream], Json]) -> Future[Json]:
        slot = self.streams.get(stream_id)
        if slot is None:
            raise HranaError(f"stream {stream_id} is not open", "STREAM_CLOSED")

        def run() -> Json:
            if slot.stream is None:
                raise HranaError(f"stream {stream_id} failed to open", "STREAM_CLOSED")
            return work(slot.stream)

        return slot.executor.submit(run)


def _handlers(kind: object, request: Mapping[str, Any], sqls: Mapping[int, str]) -> Any:
    if kind == "execute":
        return lambda s: {"type": "execute", "result": s.execute(request["stmt"], sqls)}
    if kind == "batch":
        return lambda s: {"type": "batch", "result": s.batch(request["batch"], sqls)}
    if kind == "sequence":
        return lambda s: (s.sequence(request, sqls), {"type": "sequence"})[1]
    if kind == "get_autocommit":
        return lambda s: {"type": "get_autocommit", "is_autocommit": s.is_autocommit}
    raise HranaError(f"request type {kind!r} is not supported", "NOT_SUPPORTED")


async def _respond(socket: web.WebSocketResponse, request_id: int, pending: Future[Json]) -> None:
    try:
        response = await asyncio.wrap_future(pending)
        message: Json = {"type": "response_ok", "request_id": request_id, "response": response}
    except HranaError as error:
        message = {"type": "response_error", "request_id": request_id, "error": error.to_json()}
    except Exception as error:  # a bug here must reach the client, not hang it
        log.exception("request %s failed", request_id)
        message = {
            "type": "response_error",
            "request_id": request_id,
            "error": {"message": str(error), "code": "INTERNAL"},
        }
    if not socket.closed:
        await socket.send_str(json.dumps(message))


async def _serve_websocket(request: web.Request) -> web.StreamResponse:
    config: ServerConfig = request.app[_CONFIG]
    database = config.database_for(request.path)
    if database is None:
        raise web.HTTPNotFound(text="no such database\n")
    _use_wal(database)
    socket = web.WebSocketResponse(
        protocols=SUBPROTOCOLS, heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES
    )
    await socket.prepare(request)
    connection = HranaConnection(config=config, database=database)
    replies: set[asyncio.Task[None]] = set()
    request.app[_SOCKETS].add(socket)
    try:
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                await socket.close(code=1003, message=b"only JSON text frames are accepted")
                break
            message = json.loads(frame.data)
            if message.get("type") == "hello":
                answer = connection.hello(message)
                await socket.send_str(json.dumps(answer))
                if answer["type"] == "hello_error":
                    await socket.close(code=1008, message=b"authentication failed")
                    break
            elif message.get("type") == "request" and connection.authenticated:
                pending = connection.submit(message["request"])
                reply = asyncio.create_task(_respond(socket, message["request_id"], pending))
                replies.add(reply)
                reply.add_done_callback(replies.discard)
            else:
                await socket.close(code=1002, message=b"unexpected message")
                break
    finally:
        request.app[_SOCKETS].discard(socket)
        connection.close_all()
    return socket


async def _index(request: web.Request) -> web.StreamResponse:
    if web.WebSocketResponse(protocols=SUBPROTOCOLS).can_prepare(request).ok:
        return await _serve_websocket(request)
    return web.Response(text="libsqlserver (Hrana over WebSocket, for tests)\n")


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _close_sockets(app: web.Application) -> None:
    sockets = app[_SOCKETS]
    for socket in list(sockets):
        await socket.close(code=1001, message=b"server shutting down")


def _use_wal(database: str) -> None:
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def make_app(config: ServerConfig) -> web.Application:
    """The aiohttp application: WebSocket upgrades on ``/`` and ``/NAME``, ``GET /health``."""
    config.directory.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app[_CONFIG] = config
    app[_SOCKETS] = set()
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/health", _health)
    app.router.add_get("/{name:[^/]*}", _index)
    return app
