"""The worker's side of the control socket: a small synchronous client.

Each call connects, sends one request line, reads one reply line and hangs up, so a proxy
restarted between two calls is simply reached again. Replies are checked as strictly as the
proxy checks requests (:mod:`worker.egress.protocol`, :mod:`worker.egress.records`).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, NamedTuple

from worker.egress.config import DEFAULT_SESSION_MAX_CONNECTIONS
from worker.egress.errors import EgressProtocolError, EgressRefused, EgressUnavailable
from worker.egress.protocol import (
    PROTOCOL_VERSION,
    CloseRequest,
    ControlRequest,
    OpenRequest,
    Ping,
    Session,
    decode,
    encode,
    parse_session,
    reply_failure,
    request_message,
    session_id,
)
from worker.egress.protocol import label as checked_label
from worker.egress.records import SessionRecord

#: How long one call may take, connect to reply (seconds).
DEFAULT_TIMEOUT_S = 10.0
#: Longest reply the client reads (a closed session's record with every connection).
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
#: Bytes read from the socket per call to recv.
RECV_BYTES = 64 * 1024


class Pong(NamedTuple):
    """The proxy's answer to a ping."""

    protocol: int
    sessions: int


class EgressClient:
    """Talks to the egress proxy on ``control_socket``."""

    def __init__(
        self,
        *,
        control_socket: Path,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_records: int = DEFAULT_SESSION_MAX_CONNECTIONS,
    ) -> None:
        self.control_socket = control_socket
        self._timeout_s = timeout_s
        self._max_reply_bytes = max_reply_bytes
        self._max_records = max_records

    def ping(self) -> Pong:
        """Check that the proxy answers and speaks this protocol."""
        reply = self._call(Ping())
        if set(reply) != {"ok", "protocol", "sessions"}:
            raise EgressProtocolError("a ping reply has ok, protocol and sessions")
        protocol, sessions = reply["protocol"], reply["sessions"]
        if protocol != PROTOCOL_VERSION or type(protocol) is not int:
            raise EgressProtocolError(f"the proxy speaks protocol {protocol!r:.20}")
        if type(sessions) is not int or sessions < 0:
            raise EgressProtocolError("sessions is not a count")
        return Pong(protocol=protocol, sessions=sessions)

    def open_session(self, *, label: str = "", ttl_ms: int | None = None) -> Session:
        """Open a session for one container; mount its ``directory``, pass its socket on.

        ``label`` names the session in the proxy's log (a container name, say); ``ttl_ms``
        is how long it may live (None: the proxy's default), from now.
        """
        request = OpenRequest(label=checked_label(label), ttl_ms=ttl_ms)
        return parse_session(self._call(request))

    def close_session(self, session: str) -> SessionRecord:
        """Close the session with id ``session`` and return what its connections did."""
        reply = self._call(CloseRequest(session_id=session_id(session)))
        if set(reply) != {"ok", "record"}:
            raise EgressProtocolError("a close reply has ok and record")
        record = SessionRecord.from_json(reply["record"], max_connections=self._max_records)
        if record.session_id != session:
            raise EgressProtocolError("the record is of another session")
        return record

    def _call(self, request: ControlRequest) -> dict[str, Any]:
        line = self._exchange(encode(request_message(request)))
        reply = decode(line)
        failure = reply_failure(reply)
        if failure is not None:
            code, message = failure
            raise EgressRefused(code=code, message=message)
        return reply

    def _exchange(self, line: bytes) -> bytes:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self._timeout_s)
                sock.connect(str(self.control_socket))
                sock.sendall(line)
                return self._read_line(sock)
        except TimeoutError:
            raise EgressUnavailable(
                f"the egress proxy on {self.control_socket} did not answer in time"
            ) from None
        except OSError as error:
            raise EgressUnavailable(
                f"the egress proxy on {self.control_socket} cannot be reached: {error}"
            ) from None

    def _read_line(self, sock: socket.socket) -> bytes:
        received = bytearray()
        while b"\n" not in received:
            if len(received) > self._max_reply_bytes:
                raise EgressProtocolError(f"a reply is longer than {self._max_reply_bytes} bytes")
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                raise EgressUnavailable("the egress proxy hung up before it answered")
            received += chunk
        line, _, rest = bytes(received).partition(b"\n")
        if rest:
            raise EgressProtocolError("the proxy sent more than one reply")
        return line
