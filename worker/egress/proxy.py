"""The egress proxy: one per worker host, a listening socket per scan session.

Layout of the egress directory (mode 0700, so no other local user reaches inside)::

    EGRESS_DIR/control.sock          the worker's control socket (0600)
    EGRESS_DIR/s/ID/                 one directory per session (0755): mounted read-only
    EGRESS_DIR/s/ID/egress.sock      into that scan's container; the socket is 0666 so
                                     the container's unprivileged user can connect

A session gets its directory and socket when it is opened and loses both when it is
closed; at its deadline its socket stops accepting and its connections are cut, and its
record waits for the close (or is dropped after a grace period, if nobody closes it).
Bounds: sessions open at once and client connections open at once across the proxy;
connections, bytes and time per session (see :class:`~worker.egress.config.EgressConfig`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from fetcher.resolution import Resolver, system_resolver
from worker.clock import Clock, utcnow
from worker.egress.config import SESSION_ID_LENGTH, EgressConfig
from worker.egress.connections import ConnectionHandler
from worker.egress.control import ControlServer
from worker.egress.errors import EgressError, EgressRefused
from worker.egress.protocol import PROXY_FAILED, SESSION_LIMIT, UNKNOWN_SESSION, Session
from worker.egress.records import SessionRecord
from worker.egress.session import SESSION_CLOSED, SESSION_DEADLINE, LiveSession
from worker.egress.streams import Opener, open_upstream, serve_unix, stop_listening
from worker.logs import get_logger

#: Modes of the egress directory, a session's directory and a session's socket.
DIRECTORY_MODE = 0o700
SESSION_DIRECTORY_MODE = 0o755
SESSION_SOCKET_MODE = 0o666
#: Milliseconds in a second.
MS = 1000.0


def new_session_id() -> str:
    """A fresh, unguessable session id."""
    return secrets.token_hex(SESSION_ID_LENGTH // 2)


class OpenConnections:
    """The proxy-wide count of open client connections, and its bound."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


class EgressProxy:
    """Opens, serves and closes sessions; started and stopped on one event loop."""

    def __init__(
        self,
        config: EgressConfig,
        *,
        resolver: Resolver = system_resolver,
        opener: Opener = open_upstream,
        clock: Clock = utcnow,
        new_id: Callable[[], str] = new_session_id,
        logger: Any = None,
    ) -> None:
        self.config = config
        self._resolver = resolver
        self._opener = opener
        self._clock = clock
        self._new_id = new_id
        self._log = logger if logger is not None else get_logger(component="egress")
        self._sessions: dict[str, LiveSession] = {}
        self._ending: dict[str, asyncio.Task[None]] = {}
        self.connections = OpenConnections(limit=config.max_open_connections)
        self._executor: ThreadPoolExecutor | None = None
        self._handler: ConnectionHandler | None = None
        self._control: ControlServer | None = None

    async def start(self) -> None:
        """Prepare the egress directory and listen on the control socket."""
        self._prepare_directory()
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.resolver_threads, thread_name_prefix="egress-resolve"
        )
        self._handler = ConnectionHandler(
            config=self.config,
            gate=self.connections,
            resolver=self._resolver,
            executor=self._executor,
            opener=self._opener,
            clock=self._clock,
            logger=self._log,
        )
        self._control = ControlServer(self, config=self.config)
        await self._control.start()
        self._log.info("egress.started", directory=str(self.config.directory))

    async def stop(self) -> None:
        """Stop listening, close every session, and remove the control socket."""
        if self._control is not None:
            await self._control.close()
            self._control = None
        for session_id in list(self._sessions):
            await self.close_session(session_id)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(FileNotFoundError):
            self.config.control_socket.unlink()
        self._log.info("egress.stopped")

    def live_session(self, session_id: str) -> LiveSession | None:
        """The state of an open session, for inspection on the proxy's loop."""
        return self._sessions.get(session_id)

    def session_count(self) -> int:
        """Sessions open now, expired ones awaiting their close included."""
        return len(self._sessions)

    async def open_session(self, *, label: str, ttl_ms: int | None) -> Session:
        """Open a session with its own directory and socket; raises EgressRefused when full."""
        if len(self._sessions) >= self.config.max_sessions:
            raise EgressRefused(
                code=SESSION_LIMIT, message=f"{self.config.max_sessions} sessions are open"
            )
        ttl_s = self.config.session_ttl_s if ttl_ms is None else ttl_ms / MS
        ttl_s = min(ttl_s, self.config.max_session_ttl_s)
        session_id = self._new_id()
        directory = self.config.session_directory(session_id=session_id)
        socket_path = self.config.session_socket(session_id=session_id)
        try:
            directory.mkdir()
            os.chmod(directory, SESSION_DIRECTORY_MODE)
        except OSError as error:
            self._log.error("egress.session_failed", label=label, error=str(error))
            raise EgressRefused(
                code=PROXY_FAILED, message=f"no directory for the session: {error.strerror}"
            ) from None
        loop = asyncio.get_running_loop()
        session = LiveSession(
            session_id=session_id,
            label=label,
            directory=directory,
            socket_path=socket_path,
            opened_at=self._clock(),
            deadline=loop.time() + ttl_s,
            max_connections=self.config.session_max_connections,
            max_bytes=self.config.session_max_bytes,
        )
        try:
            session.server = await serve_unix(
                partial(self._serve, session),
                path=str(socket_path),
                limit=self.config.max_header_bytes,
            )
            os.chmod(socket_path, SESSION_SOCKET_MODE)
        except BaseException:
            if session.server is not None:
                session.server.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        session.timers.append(loop.call_at(session.deadline, self._expire, session))
        self._sessions[session_id] = session
        self._log.info("egress.session_opened", session=session_id, label=label, ttl_s=ttl_s)
        return Session(
            id=session_id, directory=directory, socket_path=socket_path, ttl_ms=round(ttl_s * MS)
        )

    async def close_session(self, session_id: str) -> SessionRecord:
        """End a session, remove its directory, and return its record."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            raise EgressRefused(code=UNKNOWN_SESSION, message="no open session has that id")
        for timer in session.timers:
            timer.cancel()
        await self._end(session, why=SESSION_CLOSED)
        shutil.rmtree(session.directory, ignore_errors=True)
        record = session.to_record(closed_at=self._clock())
        self._log.info(
            "egress.session_closed",
            session=session_id,
            label=session.label,
            expired=session.expired,
            connections=len(record.connections),
            refused=sum(1 for entry in record.connections if entry.decision != "allowed"),
            unrecorded=record.unrecorded,
            bytes_total=record.bytes_total,
        )
        return record

    async def _serve(
        self, session: LiveSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None, "asyncio runs each client callback as a task"
        assert self._handler is not None, "start() makes the handler before any session"
        session.tasks.add(task)
        try:
            await self._handler.serve(session, reader, writer)
        except asyncio.CancelledError:
            # Cut by the session's end (the record is kept already). The task ends normally:
            # Python 3.11's stream callback asks a finished task for its exception, which
            # raises for a cancelled one and logs a traceback for every connection cut.
            pass
        finally:
            session.tasks.discard(task)

    def _expire(self, session: LiveSession) -> None:
        session.expired = True
        self._log.info("egress.session_expired", session=session.session_id, label=session.label)
        self._ending[session.session_id] = asyncio.create_task(
            self._cut(session, why=SESSION_DEADLINE)
        )
        loop = asyncio.get_running_loop()
        session.timers.append(
            loop.call_later(self.config.expired_grace_s, self._forget, session.session_id)
        )

    def _forget(self, session_id: str) -> None:
        self._ending.pop(session_id, None)
        session = self._sessions.pop(session_id, None)
        if session is not None:
            shutil.rmtree(session.directory, ignore_errors=True)
            self._log.warning("egress.session_forgotten", session=session_id, label=session.label)

    async def _end(self, session: LiveSession, *, why: str) -> None:
        cutting = self._ending.pop(session.session_id, None)
        if cutting is not None:
            await cutting
        else:
            await self._cut(session, why=why)

    async def _cut(self, session: LiveSession, *, why: str) -> None:
        """Stop accepting, cut every open connection, and remove the socket."""
        if session.ending is None:
            session.ending = why
        if session.server is not None:
            await stop_listening(session.server)
        with contextlib.suppress(FileNotFoundError):
            session.socket_path.unlink()
        tasks = list(session.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _prepare_directory(self) -> None:
        """Make the egress directory ours and private, and clear what a dead proxy left."""
        directory = self.config.directory
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise EgressError(f"{directory} is not a directory owned by this user")
        os.chmod(directory, DIRECTORY_MODE)
        control = self.config.control_socket
        if control.exists() or control.is_symlink():
            if _answers(control):
                raise EgressError(f"an egress proxy already answers on {control}")
            control.unlink()
        sessions = self.config.sessions_directory
        if sessions.is_symlink() or (sessions.exists() and not sessions.is_dir()):
            sessions.unlink()
        shutil.rmtree(sessions, ignore_errors=True)
        sessions.mkdir(mode=DIRECTORY_MODE)


def _answers(path: os.PathLike[str]) -> bool:
    """Whether something accepts connections on the Unix socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            return False
    return True
