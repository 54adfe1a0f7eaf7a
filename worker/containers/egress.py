"""A container's way out: a session of the egress proxy, mounted into it.

With ``FETCHER_NETWORK=egress`` a fetcher container has no network of its own
(``network_mode=none``); the runner opens one session of the egress proxy for it, mounts the
session's directory (and nothing else of the proxy's) read-only at :data:`MOUNT`, and tells
the fetcher the socket with ``--proxy-socket``. When the container is done the session is
closed, and what each of its connections did goes into the attempt's result. The proxy
itself is ``worker.egress``; this package sees it only through :class:`EgressSessions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: Where a container finds its session's directory.
MOUNT = "/run/scanbox-egress"
#: The fetcher's option naming the proxy's socket (``fetcher.options``).
PROXY_SOCKET_OPTION = "--proxy-socket"
#: Docker network mode of a container whose only way out is its session.
NO_NETWORK = "none"
#: How long an egress session outlives its container's deadline (ms): the container is
#: killed at the deadline, and its connections are cut with the session a little later.
SESSION_MARGIN_MS = 5_000


@dataclass(frozen=True, kw_only=True)
class OpenSession:
    """A session opened for one container."""

    id: str
    #: The session's directory on the host, mounted into the container.
    directory: Path
    #: The socket's name inside the directory.
    socket_name: str

    @property
    def volumes(self) -> dict[str, dict[str, str]]:
        """The container's ``volumes``: the session's directory alone, read-only."""
        return {str(self.directory): {"bind": MOUNT, "mode": "ro"}}

    @property
    def arguments(self) -> list[str]:
        """The fetcher's options that send it through this session."""
        return [PROXY_SOCKET_OPTION, f"{MOUNT}/{self.socket_name}"]


#: What one session's connections did, as results store it (one JSON object each).
Connections = tuple[dict[str, Any], ...]


class EgressSessions(Protocol):
    """Opens and closes sessions of the egress proxy; raises ``ScanError`` subclasses."""

    def open(self, *, label: str, ttl_ms: int) -> OpenSession:
        """Open a session that lives ``ttl_ms`` at most, named ``label`` in the proxy's log."""

    def close(self, session: OpenSession) -> Connections:
        """Close ``session``; return what each of its connections did."""


def with_proxy(command: Sequence[str], session: OpenSession) -> list[str]:
    """``command`` (the fetcher's options, ``--`` and the URL) with the session's options
    first."""
    return [*session.arguments, *command]
