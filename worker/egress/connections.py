"""One client connection to a session socket: read the request, decide, connect, relay, record.

For every request the host is resolved once (an IP address is not resolved), the request is
refused if any address is refused by the classifier and the allow-list, and the proxy
connects only to an address it checked, never to the name. A ``CONNECT`` is answered
``200`` with :data:`fetcher.proxy.PEER_HEADER` naming that address; a refusal gets its
status with :data:`fetcher.proxy.REFUSAL_HEADER` (and :data:`fetcher.proxy.ERROR_HEADER`
when the target could not be reached). Whatever happens, the connection leaves one record.
"""

from __future__ import annotations

import asyncio
import errno
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fetcher.addresses import IPAddress
from fetcher.resolution import Resolver
from worker.clock import Clock
from worker.egress.answers import answer_refusal, answer_tunnel
from worker.egress.config import EgressConfig
from worker.egress.errors import Refusal
from worker.egress.lookup import refusal_for, resolve_once
from worker.egress.records import (
    ALLOWED,
    FAILED,
    MAX_DETAIL_CHARS,
    MAX_RESOLVED,
    REFUSED,
    ConnectionRecord,
)
from worker.egress.relay import Counts, relay, send_within_budget
from worker.egress.request_head import (
    HEAD_END,
    KIND_CONNECT,
    ProxyRequest,
    bad_request,
    parse_request_head,
)
from worker.egress.session import LiveSession
from worker.egress.streams import Opener, Stream, close_stream, open_upstream

#: OS errors that mean no route to the target rather than a broken connection.
UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}
)
#: Milliseconds in a second.
MS = 1000.0


class Gate(Protocol):
    """The proxy-wide bound on open client connections."""

    def enter(self) -> bool: ...

    def leave(self) -> None: ...


@dataclass
class _Entry:
    """What is known of a connection so far; frozen into a ConnectionRecord at its end."""

    started_at: datetime
    started: float
    kind: str = "unknown"
    host: str | None = None
    port: int | None = None
    resolved: tuple[IPAddress, ...] = ()
    connected: IPAddress | None = None
    decision: str = REFUSED
    reason: str | None = None
    detail: str | None = None
    counts: Counts = field(default_factory=Counts)
    #: The connection to the target, once there is one (closed with the client's).
    target: Stream | None = None

    def refused(self, refusal: Refusal) -> None:
        if self.host is None and refusal.host is not None:
            self.host, self.port = refusal.host, refusal.port
        self.decision = FAILED if refusal.error else REFUSED
        self.reason = refusal.reason
        self.detail = refusal.detail[:MAX_DETAIL_CHARS]

    def freeze(self, *, ended: float) -> ConnectionRecord:
        return ConnectionRecord(
            kind=self.kind,
            host=self.host,
            port=self.port,
            resolved=tuple(str(address) for address in self.resolved[:MAX_RESOLVED]),
            connected=None if self.connected is None else str(self.connected),
            decision=self.decision,
            reason=self.reason,
            detail=self.detail,
            bytes_up=self.counts.up,
            bytes_down=self.counts.down,
            started_at=self.started_at,
            duration_ms=max(0.0, (ended - self.started) * MS),
        )


class _OverLimit(Refusal):
    """A connection past the session's connection limit."""


class ConnectionHandler:
    """Serves client connections of any session under one configuration."""

    def __init__(
        self,
        *,
        config: EgressConfig,
        gate: Gate,
        resolver: Resolver,
        executor: Executor,
        opener: Opener = open_upstream,
        clock: Clock,
        logger: Any,
    ) -> None:
        self._config = config
        self._log = logger
        self._gate = gate
        self._resolver = resolver
        self._executor = executor
        self._opener = opener
        self._clock = clock

    async def serve(
        self, session: LiveSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Handle one client connection of ``session`` to its end and record it."""
        loop = asyncio.get_running_loop()
        number = session.arrive()
        entry = _Entry(started_at=self._clock(), started=loop.time())
        client = Stream(reader=reader, writer=writer)
        if not self._gate.enter():
            # Shed at once, unread: reading would hold what the bound is there to free.
            busy = Refusal(status=503, reason="proxy-busy", detail="too many connections")
            entry.refused(busy)
            await answer_refusal(writer, busy)
            await close_stream(writer)
            self._keep(session, number, entry.freeze(ended=loop.time()))
            return
        recorded = True
        try:
            target = await self._open(session, client, entry)
            entry.decision = ALLOWED
            entry.reason = await relay(
                client=client, target=target, session=session, counts=entry.counts
            )
        except Refusal as refusal:
            # Past the session's limit a connection is counted, not recorded.
            recorded = not isinstance(refusal, _OverLimit)
            entry.refused(refusal)
            await answer_refusal(writer, refusal)
        except asyncio.CancelledError:
            entry.reason = session.ending or "proxy-stopped"
            raise
        finally:
            self._gate.leave()
            # Recorded before the client sees its connection end, and whatever cuts it.
            if recorded:
                self._keep(session, number, entry.freeze(ended=loop.time()))
            # Both closed before either is waited for: a cancellation (the proxy stopping)
            # during the first wait must not leave the second open.
            streams = [stream for stream in (client, entry.target) if stream is not None]
            for stream in streams:
                stream.writer.close()
            for stream in streams:
                await close_stream(stream.writer)

    def _keep(self, session: LiveSession, number: int, record: ConnectionRecord) -> None:
        """Record a finished connection, and log it: host and port only, never a path."""
        session.record(number, record)
        log = self._log.debug if record.decision == ALLOWED else self._log.info
        log(
            "egress.connection",
            session=session.session_id,
            kind=record.kind,
            host=record.host,
            port=record.port,
            connected=record.connected,
            decision=record.decision,
            reason=record.reason,
            bytes_up=record.bytes_up,
            bytes_down=record.bytes_down,
        )

    async def _open(self, session: LiveSession, client: Stream, entry: _Entry) -> Stream:
        """Read and check the request, connect to a checked address; answer a CONNECT."""
        loop = asyncio.get_running_loop()
        request = await self._read_request(session, client.reader)
        if not session.admit():
            raise _OverLimit(
                status=403,
                reason="session-connections",
                detail=f"the session had its {session.max_connections} connections",
            )
        entry.kind, entry.host, entry.port = request.kind, request.host, request.port
        entry.resolved = await resolve_once(
            request.host,
            request.port,
            resolver=self._resolver,
            executor=self._executor,
            timeout_s=min(self._config.resolve_timeout_s, session.remaining(loop.time())),
        )
        refusal = refusal_for(
            request.host, entry.resolved, allowed_networks=self._config.allowed_networks
        )
        if refusal is not None:
            raise refusal
        target = await self._connect(session, request, entry)
        if request.kind == KIND_CONNECT:
            assert entry.connected is not None, "a target stream comes with its address"
            await answer_tunnel(client.writer, peer=entry.connected)
        elif not send_within_budget(
            target.writer, request.upstream_head, session=session, count=entry.counts.add_up
        ):
            raise Refusal(status=403, reason="session-bytes", detail="the session's bytes ran out")
        return target

    async def _read_request(
        self, session: LiveSession, reader: asyncio.StreamReader
    ) -> ProxyRequest:
        loop = asyncio.get_running_loop()
        timeout = min(self._config.header_timeout_s, session.remaining(loop.time()))
        try:
            head = await asyncio.wait_for(reader.readuntil(HEAD_END), timeout)
        except asyncio.LimitOverrunError:
            raise Refusal(
                status=431,
                reason="header-too-large",
                detail=f"the request head is longer than {self._config.max_header_bytes} bytes",
            ) from None
        except asyncio.IncompleteReadError:
            raise bad_request("the connection closed before the request head ended") from None
        except TimeoutError:
            raise Refusal(
                status=408, reason="header-timeout", detail="the request head took too long"
            ) from None
        if len(head) > self._config.max_header_bytes:
            raise Refusal(
                status=431,
                reason="header-too-large",
                detail=f"the request head is longer than {self._config.max_header_bytes} bytes",
            )
        return parse_request_head(
            head, allowed_ports=self._config.allowed_ports, max_headers=self._config.max_headers
        )

    async def _connect(self, session: LiveSession, request: ProxyRequest, entry: _Entry) -> Stream:
        """Connect to the first checked address that accepts; never to the name."""
        loop = asyncio.get_running_loop()
        failure: Refusal | None = None
        for address in entry.resolved:
            timeout = min(self._config.connect_timeout_s, session.remaining(loop.time()))
            try:
                stream = await self._opener(address, request.port, timeout)
            except TimeoutError:
                failure = _unreachable(request, address, "timeout", "timed out", status=504)
            except ConnectionRefusedError:
                failure = _unreachable(request, address, "refused", "refused the connection")
            except OSError as error:
                code = "unreachable" if error.errno in UNREACHABLE_ERRNOS else "connection"
                failure = _unreachable(request, address, code, error.strerror or str(error))
            else:
                entry.connected, entry.target = address, stream
                return stream
        raise failure or _unreachable(request, None, "connection", "no address to connect to")


def _unreachable(
    request: ProxyRequest, address: IPAddress | None, code: str, what: str, *, status: int = 502
) -> Refusal:
    where = f"{request.host} ({address})" if address is not None else request.host
    return Refusal(
        status=status,
        reason="target-failed",
        error=code,
        detail=f"{where} port {request.port}: {what}",
    )
