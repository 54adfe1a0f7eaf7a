"""Connection and session records: what to_json writes, from_json reads back, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from worker.egress.errors import EgressProtocolError
from worker.egress.records import ConnectionRecord, SessionRecord

MOMENT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
CONNECTION = ConnectionRecord(
    kind="connect",
    host="page.test",
    port=8443,
    resolved=("127.0.0.1", "::1"),
    connected="127.0.0.1",
    decision="allowed",
    reason=None,
    detail=None,
    bytes_up=120,
    bytes_down=4096,
    started_at=MOMENT,
    duration_ms=12.5,
)
SESSION = SessionRecord(
    session_id="0123456789abcdef",
    label="scan-1",
    opened_at=MOMENT,
    closed_at=MOMENT,
    expired=False,
    connections=(CONNECTION,),
    unrecorded=0,
    bytes_total=4216,
)


def test_records_survive_the_wire() -> None:
    assert SessionRecord.from_json(SESSION.to_json(), max_connections=1) == SESSION


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "udp"},
        {"decision": "maybe"},
        {"host": "a\x1b[2Jb"},
        {"host": "x" * 254},
        {"port": 0},
        {"port": "80"},
        {"resolved": ["not-an-address"]},
        {"resolved": "127.0.0.1"},
        {"resolved": ["127.0.0.1"] * 33},
        {"connected": "localhost"},
        {"bytes_up": -1},
        {"bytes_up": 1.0},
        {"bytes_down": True},
        {"started_at": "yesterday"},
        {"started_at": "2026-01-02T03:04:05"},
        {"duration_ms": float("nan")},
        {"duration_ms": -1},
        {"duration_ms": None},
        {"reason": "x" * 65},
        {"detail": "x" * 301},
        {"extra": 1},
    ],
)
def test_a_connection_record_outside_the_schema_is_refused(change: dict[str, Any]) -> None:
    data = CONNECTION.to_json() | change
    with pytest.raises(EgressProtocolError):
        ConnectionRecord.from_json(data)


def test_a_session_record_with_too_many_connections_is_refused() -> None:
    data = SESSION.to_json()
    data["connections"] = data["connections"] * 3
    assert len(SessionRecord.from_json(data, max_connections=3).connections) == 3
    with pytest.raises(EgressProtocolError):
        SessionRecord.from_json(data, max_connections=2)


@pytest.mark.parametrize(
    "change",
    [
        {"expired": 0},
        {"unrecorded": -1},
        {"label": "\u202eevil"},
        {"connections": {}},
        {"bytes_total": None},
    ],
)
def test_a_session_record_outside_the_schema_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(EgressProtocolError):
        SessionRecord.from_json(SESSION.to_json() | change, max_connections=10)
