"""The control protocol between a worker and its egress proxy: JSON lines on a Unix socket.

One request per line, one reply per line, any number per connection. Requests::

    {"op": "ping"}
    {"op": "open", "label": "scanbox-fetch-…", "ttl_ms": 45000}     ttl_ms may be null
    {"op": "close", "session": "<id>"}

Replies are ``{"ok": true, ...}`` (``protocol`` and ``sessions`` for a ping; ``session``
with ``id``, ``directory``, ``socket_path`` and ``ttl_ms`` for an open; ``record`` for a
close) or ``{"ok": false, "error": CODE, "message": TEXT}``. Both ends parse strictly:
exact keys, exact types, bounded sizes, no duplicate keys, no NaN or Infinity; anything else
is an :class:`~worker.egress.errors.EgressProtocolError`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from worker.egress.config import SESSION_ID_LENGTH
from worker.egress.errors import EgressProtocolError

#: Version of this protocol, reported by ``ping``.
PROTOCOL_VERSION = 1
#: The longest time to live an open request may name (a day), before the proxy's own bound.
MAX_TTL_MS = 86_400_000
#: Error codes of failed replies.
BAD_REQUEST = "bad-request"
SESSION_LIMIT = "session-limit"
UNKNOWN_SESSION = "unknown-session"
#: The proxy could not do what was asked of it (a session directory it could not make).
PROXY_FAILED = "proxy-failed"
ERROR_CODES = frozenset({BAD_REQUEST, SESSION_LIMIT, UNKNOWN_SESSION, PROXY_FAILED})
#: Longest message of a failed reply.
MAX_MESSAGE_CHARS = 300

_SESSION_ID = re.compile(f"[0-9a-f]{{{SESSION_ID_LENGTH}}}")
_LABEL = re.compile(r"[A-Za-z0-9._:-]{0,100}")


class Ping(NamedTuple):
    """Is the proxy there, and how many sessions does it hold?"""


class OpenRequest(NamedTuple):
    """Open a session; ``ttl_ms`` None takes the proxy's default time to live."""

    label: str
    ttl_ms: int | None


class CloseRequest(NamedTuple):
    """Close a session and return its record."""

    session_id: str


ControlRequest = Ping | OpenRequest | CloseRequest


class Session(NamedTuple):
    """An open session as its opener sees it: mount ``directory``, connect to ``socket_path``."""

    id: str
    directory: Path
    socket_path: Path
    ttl_ms: int


def encode(message: dict[str, Any]) -> bytes:
    """One message as its line on the wire."""
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode("ascii") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line into a JSON object; raises EgressProtocolError for anything else."""
    try:
        message = json.loads(
            line.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_unique
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise EgressProtocolError(f"not a JSON line: {str(error)[:100]}") from None
    if not isinstance(message, dict):
        raise EgressProtocolError("a message must be a JSON object")
    return message


def parse_request(message: dict[str, Any]) -> ControlRequest:
    """The request ``message`` makes; raises EgressProtocolError."""
    op = message.get("op")
    if op == "ping":
        _keys(message, {"op"})
        return Ping()
    if op == "open":
        _keys(message, {"op", "label", "ttl_ms"})
        return OpenRequest(label=label(message["label"]), ttl_ms=_ttl(message["ttl_ms"]))
    if op == "close":
        _keys(message, {"op", "session"})
        return CloseRequest(session_id=session_id(message["session"]))
    raise EgressProtocolError("op must be ping, open or close")


def request_message(request: ControlRequest) -> dict[str, Any]:
    """The message that asks for ``request``."""
    if isinstance(request, OpenRequest):
        return {"op": "open", "label": request.label, "ttl_ms": request.ttl_ms}
    if isinstance(request, CloseRequest):
        return {"op": "close", "session": request.session_id}
    return {"op": "ping"}


def session_message(session: Session) -> dict[str, Any]:
    """The reply to a successful open."""
    return {
        "ok": True,
        "session": {
            "id": session.id,
            "directory": str(session.directory),
            "socket_path": str(session.socket_path),
            "ttl_ms": session.ttl_ms,
        },
    }


def parse_session(message: dict[str, Any]) -> Session:
    """The session a successful open reply names."""
    _keys(message, {"ok", "session"})
    fields = message["session"]
    if not isinstance(fields, dict):
        raise EgressProtocolError("session must be an object")
    _keys(fields, {"id", "directory", "socket_path", "ttl_ms"})
    directory = _absolute_path(fields["directory"], "directory")
    socket_path = _absolute_path(fields["socket_path"], "socket_path")
    if socket_path.parent != directory:
        raise EgressProtocolError("the session's socket is not inside its directory")
    ttl_ms = _ttl(fields["ttl_ms"])
    if ttl_ms is None:
        raise EgressProtocolError("ttl_ms must be a number")
    return Session(
        id=session_id(fields["id"]), directory=directory, socket_path=socket_path, ttl_ms=ttl_ms
    )


def error_message(code: str, message: str) -> dict[str, Any]:
    """A failed reply."""
    return {"ok": False, "error": code, "message": message[:MAX_MESSAGE_CHARS]}


def reply_failure(message: dict[str, Any]) -> tuple[str, str] | None:
    """The error code and message of a failed reply, None for a successful one."""
    ok = message.get("ok")
    if ok is True:
        return None
    if ok is not False:
        raise EgressProtocolError("ok must be true or false")
    _keys(message, {"ok", "error", "message"})
    code, text = message["error"], message["message"]
    if code not in ERROR_CODES or not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
        raise EgressProtocolError("a failed reply must carry a known code and a short message")
    return code, text


def session_id(value: object) -> str:
    """A session id as the proxy makes them; raises EgressProtocolError."""
    if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
        raise EgressProtocolError(f"a session id is {SESSION_ID_LENGTH} lower-case hex digits")
    return value


def label(value: object) -> str:
    """A session label: letters, digits and ``._:-``, at most 100; raises EgressProtocolError."""
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise EgressProtocolError("a label is at most 100 letters, digits and ._:-")
    return value


def _keys(message: dict[str, Any], keys: set[str]) -> None:
    if set(message) != keys:
        raise EgressProtocolError(f"expected exactly the keys {sorted(keys)}")


def _ttl(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_TTL_MS:
        raise EgressProtocolError(f"ttl_ms must be null or an integer from 1 to {MAX_TTL_MS}")
    return value


def _absolute_path(value: object, name: str) -> Path:
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 4096:
        raise EgressProtocolError(f"{name} must be an absolute path")
    if "\x00" in value or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise EgressProtocolError(f"{name} must be a plain absolute path")
    return Path(value)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    message = dict(pairs)
    if len(message) != len(pairs):
        raise ValueError("a key appears twice")
    return message
