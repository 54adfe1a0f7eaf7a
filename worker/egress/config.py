"""The egress proxy's tunables: one frozen object, built once and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fetcher.addresses import IPNetwork
from fetcher.ports import DEFAULT_ALLOWED_PORTS, PortPolicy, parse_port_policy
from worker.errors import ConfigurationError

#: Name of the control socket inside the egress directory.
CONTROL_SOCKET = "control.sock"
#: Directory, inside the egress directory, that holds one directory per session.
SESSIONS_DIR = "s"
#: Name of a session's listening socket inside its own directory.
SESSION_SOCKET = "egress.sock"
#: Characters of a session id (hexadecimal).
SESSION_ID_LENGTH = 16
#: Longest path a Unix socket can be bound to on Linux (``sun_path`` less its terminator).
MAX_SOCKET_PATH = 107

#: Ports a connection may go to unless configured otherwise: the fetcher's own default.
DEFAULT_PORT_POLICY = parse_port_policy(DEFAULT_ALLOWED_PORTS)
#: Sessions open at once; one per fetcher container the worker host runs or keeps ready.
DEFAULT_MAX_SESSIONS = 64
#: Client connections open at once, across every session.
DEFAULT_MAX_OPEN_CONNECTIONS = 512
#: Connections one session may make over its life (each redirect hop and retry is one).
DEFAULT_SESSION_MAX_CONNECTIONS = 256
#: Bytes one session may move, both ways together, across all of its connections.
DEFAULT_SESSION_MAX_BYTES = 64 * 1024 * 1024
#: How long a session lives when its opener names no time to live (seconds).
DEFAULT_SESSION_TTL_S = 60.0
#: The longest time to live a session may ask for (seconds).
DEFAULT_MAX_SESSION_TTL_S = 3600.0
#: How long a session that expired without being closed keeps its record (seconds).
DEFAULT_EXPIRED_GRACE_S = 300.0
#: Longest request head a client may send, request line and headers together.
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
#: Headers a request head may carry.
DEFAULT_MAX_HEADERS = 100
#: How long a client has to send its whole request head (seconds).
DEFAULT_HEADER_TIMEOUT_S = 10.0
#: How long one name lookup may take (seconds).
DEFAULT_RESOLVE_TIMEOUT_S = 5.0
#: How long one connect to a target address may take (seconds).
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: Threads that run name lookups (``getaddrinfo`` blocks; each stuck lookup holds one).
DEFAULT_RESOLVER_THREADS = 8
#: Longest control message, one JSON line.
DEFAULT_MAX_CONTROL_LINE_BYTES = 64 * 1024
#: How long a control client may take to send one request (seconds).
DEFAULT_CONTROL_TIMEOUT_S = 10.0


@dataclass(frozen=True, kw_only=True)
class EgressConfig:
    """Where the proxy keeps its sockets, what it lets through, and every bound it keeps."""

    #: Directory of the control socket and the session directories (made mode 0700).
    directory: Path
    #: Networks allowed despite the blocklist (``FETCHER_ALLOW_NETWORKS``).
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: Ports a connection may go to (``FETCHER_ALLOWED_PORTS``).
    allowed_ports: PortPolicy = DEFAULT_PORT_POLICY
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_open_connections: int = DEFAULT_MAX_OPEN_CONNECTIONS
    session_max_connections: int = DEFAULT_SESSION_MAX_CONNECTIONS
    session_max_bytes: int = DEFAULT_SESSION_MAX_BYTES
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    max_session_ttl_s: float = DEFAULT_MAX_SESSION_TTL_S
    expired_grace_s: float = DEFAULT_EXPIRED_GRACE_S
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    resolve_timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    resolver_threads: int = DEFAULT_RESOLVER_THREADS
    max_control_line_bytes: int = DEFAULT_MAX_CONTROL_LINE_BYTES
    control_timeout_s: float = DEFAULT_CONTROL_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in (
            "max_sessions",
            "max_open_connections",
            "session_max_connections",
            "session_max_bytes",
            "max_header_bytes",
            "max_headers",
            "resolver_threads",
            "max_control_line_bytes",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"egress {name} must be at least 1")
        for name in (
            "session_ttl_s",
            "max_session_ttl_s",
            "expired_grace_s",
            "header_timeout_s",
            "resolve_timeout_s",
            "connect_timeout_s",
            "control_timeout_s",
        ):
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ConfigurationError(f"egress {name} must be a positive number of seconds")
        if self.session_ttl_s > self.max_session_ttl_s:
            raise ConfigurationError("egress session_ttl_s is longer than max_session_ttl_s")
        if not self.directory.is_absolute():
            raise ConfigurationError(f"the egress directory {self.directory} is not absolute")
        longest = self.session_socket(session_id="0" * SESSION_ID_LENGTH)
        if len(str(longest).encode()) > MAX_SOCKET_PATH:
            raise ConfigurationError(
                f"the egress directory {self.directory} is too long for a socket path "
                f"({MAX_SOCKET_PATH} bytes at most, including {SESSIONS_DIR}/ID/{SESSION_SOCKET})"
            )

    @property
    def control_socket(self) -> Path:
        """The control socket the worker talks to."""
        return self.directory / CONTROL_SOCKET

    @property
    def sessions_directory(self) -> Path:
        """The directory holding one directory per open session."""
        return self.directory / SESSIONS_DIR

    def session_directory(self, *, session_id: str) -> Path:
        """The directory of one session: the only thing its container gets mounted."""
        return self.sessions_directory / session_id

    def session_socket(self, *, session_id: str) -> Path:
        """The listening socket of one session, inside its directory."""
        return self.session_directory(session_id=session_id) / SESSION_SOCKET
