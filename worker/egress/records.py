"""What the proxy records: one entry per client connection, one record per closed session.

Records cross the control socket as JSON and end up in a scan's result, so both directions
are strict: :meth:`ConnectionRecord.from_json` and :meth:`SessionRecord.from_json` accept
exactly the keys and types :meth:`to_json` writes, and bounded strings, or raise
:class:`~worker.egress.errors.EgressProtocolError`.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.egress.errors import EgressProtocolError

#: What became of a connection: relayed, refused by policy or limits, or the target failed.
ALLOWED = "allowed"
REFUSED = "refused"
FAILED = "failed"
DECISIONS = frozenset({ALLOWED, REFUSED, FAILED})
#: Kinds of connection: a CONNECT tunnel, an absolute-URI request, or a head never read.
KINDS = frozenset({"connect", "http", "unknown"})
#: Longest reason code and detail a record keeps.
MAX_REASON_CHARS = 64
MAX_DETAIL_CHARS = 300
#: Longest host name (RFC 1035) and label a record keeps.
MAX_HOST_CHARS = 253
MAX_LABEL_CHARS = 100
#: Addresses one connection's record lists (a resolver may return many).
MAX_RESOLVED = 32


@dataclass(frozen=True, kw_only=True)
class ConnectionRecord:
    """One client connection to a session socket and what the proxy did with it."""

    kind: str
    host: str | None
    port: int | None
    #: Every address the host resolved to (or the IP address itself), in order.
    resolved: tuple[str, ...]
    #: The address the proxy connected to, if it did.
    connected: str | None
    decision: str
    #: Why it was refused, failed, or was cut short (``blocked-address``, ``session-bytes``).
    reason: str | None
    detail: str | None
    #: Bytes from the client to the target, and back.
    bytes_up: int
    bytes_down: int
    started_at: datetime
    duration_ms: float

    def to_json(self) -> dict[str, Any]:
        """The record as the control protocol and scan results carry it."""
        return {
            "kind": self.kind,
            "host": self.host,
            "port": self.port,
            "resolved": list(self.resolved),
            "connected": self.connected,
            "decision": self.decision,
            "reason": self.reason,
            "detail": self.detail,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "started_at": self.started_at.isoformat(),
            "duration_ms": round(self.duration_ms, 3),
        }

    @classmethod
    def from_json(cls, data: object) -> ConnectionRecord:
        """Read a record back; raises EgressProtocolError for anything else."""
        fields = _exact(data, "connection record", CONNECTION_KEYS)
        kind = _choice(fields["kind"], KINDS, "kind")
        decision = _choice(fields["decision"], DECISIONS, "decision")
        resolved = fields["resolved"]
        if not isinstance(resolved, list) or len(resolved) > MAX_RESOLVED:
            raise EgressProtocolError("resolved is not a list of addresses")
        return cls(
            kind=kind,
            host=_optional_text(fields["host"], "host", MAX_HOST_CHARS),
            port=_optional_port(fields["port"]),
            resolved=tuple(_address(item, "resolved") for item in resolved),
            connected=None
            if fields["connected"] is None
            else _address(fields["connected"], "connected"),
            decision=decision,
            reason=_optional_text(fields["reason"], "reason", MAX_REASON_CHARS),
            detail=_optional_text(fields["detail"], "detail", MAX_DETAIL_CHARS),
            bytes_up=_count(fields["bytes_up"], "bytes_up"),
            bytes_down=_count(fields["bytes_down"], "bytes_down"),
            started_at=_timestamp(fields["started_at"], "started_at"),
            duration_ms=_duration(fields["duration_ms"]),
        )


@dataclass(frozen=True, kw_only=True)
class SessionRecord:
    """Everything one session did, returned when it is closed."""

    session_id: str
    label: str
    opened_at: datetime
    closed_at: datetime
    #: Whether the session's deadline passed before it was closed.
    expired: bool
    connections: tuple[ConnectionRecord, ...]
    #: Connections refused past the session's connection limit, counted but not recorded.
    unrecorded: int
    #: Bytes moved both ways across every connection of the session.
    bytes_total: int

    def to_json(self) -> dict[str, Any]:
        """The record as the control protocol carries it."""
        return {
            "session_id": self.session_id,
            "label": self.label,
            "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat(),
            "expired": self.expired,
            "connections": [connection.to_json() for connection in self.connections],
            "unrecorded": self.unrecorded,
            "bytes_total": self.bytes_total,
        }

    @classmethod
    def from_json(cls, data: object, *, max_connections: int) -> SessionRecord:
        """Read a record back, with at most ``max_connections`` connections."""
        fields = _exact(data, "session record", SESSION_KEYS)
        connections = fields["connections"]
        if not isinstance(connections, list) or len(connections) > max_connections:
            raise EgressProtocolError("connections is not a bounded list")
        if not isinstance(fields["expired"], bool):
            raise EgressProtocolError("expired is not a boolean")
        return cls(
            session_id=_text(fields["session_id"], "session_id", MAX_LABEL_CHARS),
            label=_text(fields["label"], "label", MAX_LABEL_CHARS),
            opened_at=_timestamp(fields["opened_at"], "opened_at"),
            closed_at=_timestamp(fields["closed_at"], "closed_at"),
            expired=fields["expired"],
            connections=tuple(ConnectionRecord.from_json(item) for item in connections),
            unrecorded=_count(fields["unrecorded"], "unrecorded"),
            bytes_total=_count(fields["bytes_total"], "bytes_total"),
        )


#: The keys each record has, no more and no fewer.
CONNECTION_KEYS = frozenset(
    {
        "kind",
        "host",
        "port",
        "resolved",
        "connected",
        "decision",
        "reason",
        "detail",
        "bytes_up",
        "bytes_down",
        "started_at",
        "duration_ms",
    }
)
SESSION_KEYS = frozenset(
    {
        "session_id",
        "label",
        "opened_at",
        "closed_at",
        "expired",
        "connections",
        "unrecorded",
        "bytes_total",
    }
)


def _exact(data: object, what: str, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != keys:
        raise EgressProtocolError(f"a {what} must be an object with exactly {sorted(keys)}")
    return data


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise EgressProtocolError(f"{name} is not printable text of at most {limit} characters")
    return value


def _optional_text(value: object, name: str, limit: int) -> str | None:
    return None if value is None else _text(value, name, limit)


def _choice(value: object, choices: frozenset[str], name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise EgressProtocolError(f"{name} is not one of {sorted(choices)}")
    return value


def _count(value: object, name: str) -> int:
    if type(value) is not int or value < 0:
        raise EgressProtocolError(f"{name} is not a non-negative integer")
    return value


def _optional_port(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= 65535:
        raise EgressProtocolError("port is not a TCP port")
    return value


def _address(value: object, name: str) -> str:
    try:
        return str(ipaddress.ip_address(_text(value, name, 64)))
    except ValueError:
        raise EgressProtocolError(f"{name} is not an IP address") from None


def _timestamp(value: object, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_text(value, name, 40))
    except ValueError:
        raise EgressProtocolError(f"{name} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise EgressProtocolError(f"{name} has no time zone")
    return moment


def _duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EgressProtocolError("duration_ms is not a number")
    if not math.isfinite(value) or value < 0:
        raise EgressProtocolError("duration_ms is not a finite, non-negative number")
    return float(value)
