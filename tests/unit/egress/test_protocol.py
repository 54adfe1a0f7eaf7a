"""The control protocol's messages, both ways, parsed strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from worker.egress.errors import EgressProtocolError
from worker.egress.protocol import (
    CloseRequest,
    OpenRequest,
    Ping,
    Session,
    decode,
    encode,
    error_message,
    parse_request,
    parse_session,
    reply_failure,
    request_message,
    session_message,
)

SESSION_ID = "0123456789abcdef"
SESSION = Session(
    id=SESSION_ID,
    directory=Path(f"/run/egress/s/{SESSION_ID}"),
    socket_path=Path(f"/run/egress/s/{SESSION_ID}/egress.sock"),
    ttl_ms=30_000,
)


@pytest.mark.parametrize(
    "request_",
    [
        Ping(),
        OpenRequest(label="scan-1", ttl_ms=None),
        OpenRequest(label="", ttl_ms=5),
        CloseRequest(session_id=SESSION_ID),
    ],
)
def test_every_request_survives_the_wire(request_: Any) -> None:
    assert parse_request(decode(encode(request_message(request_)))) == request_


def test_a_session_survives_the_wire() -> None:
    assert parse_session(decode(encode(session_message(SESSION)))) == SESSION


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"ping"',
        b'{"op": "ping"',
        b'{"op": "ping", "op": "close"}',
        b'{"op": "open", "label": "a", "ttl_ms": NaN}',
        b'{"op": "open", "label": "a", "ttl_ms": Infinity}',
        b'{"op": "ping"}\xff',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_lines_that_are_not_one_json_object_are_refused(line: bytes) -> None:
    with pytest.raises(EgressProtocolError):
        decode(line)


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"op": "shell", "command": "id"},
        {"op": "ping", "extra": 1},
        {"op": "open", "label": "a"},
        {"op": "open", "label": "a", "ttl_ms": 0},
        {"op": "open", "label": "a", "ttl_ms": -1},
        {"op": "open", "label": "a", "ttl_ms": 1.5},
        {"op": "open", "label": "a", "ttl_ms": True},
        {"op": "open", "label": "a", "ttl_ms": "5000"},
        {"op": "open", "label": "a", "ttl_ms": 10**12},
        {"op": "open", "label": "a b", "ttl_ms": None},
        {"op": "open", "label": "a\x1b[2J", "ttl_ms": None},
        {"op": "open", "label": "x" * 101, "ttl_ms": None},
        {"op": "open", "label": 5, "ttl_ms": None},
        {"op": "close", "session": "../../etc"},
        {"op": "close", "session": SESSION_ID.upper()},
        {"op": "close", "session": SESSION_ID + "0"},
        {"op": "close", "session": None},
    ],
)
def test_requests_outside_the_protocol_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(EgressProtocolError):
        parse_request(message)


@pytest.mark.parametrize(
    "change",
    [
        {"directory": "relative/dir"},
        {"directory": f"/run/egress/s/{SESSION_ID}/../../.."},
        {"socket_path": "/elsewhere/egress.sock"},
        {"socket_path": f"/run/egress/s/{SESSION_ID}/./egress.sock"},
        {"id": "not-an-id"},
        {"ttl_ms": None},
        {"ttl_ms": 0},
        {"extra": True},
    ],
)
def test_session_replies_outside_the_protocol_are_refused(change: dict[str, Any]) -> None:
    message = session_message(SESSION)
    message["session"].update(change)
    with pytest.raises(EgressProtocolError):
        parse_session(message)


def test_failed_replies_carry_a_known_code_and_a_short_message() -> None:
    assert reply_failure(error_message("session-limit", "full")) == ("session-limit", "full")
    assert reply_failure({"ok": True, "protocol": 1, "sessions": 0}) is None
    assert len(error_message("bad-request", "x" * 1000)["message"]) == 300
    for reply in (
        {"ok": False, "error": "rm -rf", "message": "x"},
        {"ok": False, "error": "bad-request", "message": "x" * 301},
        {"ok": False, "error": "bad-request"},
        {"ok": "yes"},
        {},
    ):
        with pytest.raises(EgressProtocolError):
            reply_failure(reply)
