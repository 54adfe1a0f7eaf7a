"""The egress proxy as the worker uses it: its configuration, its sessions, its process.

``FETCHER_NETWORK=egress`` (the default) gives fetcher containers no network of their own:
each scan gets a session of this host's egress proxy (``worker.egress``), reached through
``EGRESS_DIR/control.sock``. ``scanbox egress`` runs the proxy; ``scanbox worker`` (and
``scanbox scan``) start one for as long as they run when none answers on that socket, so
several workers on one host share whichever proxy is there first, and a proxy run as a
service of its own (``compose.yaml``) outlives them all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fetcher.addresses import parse_network
from fetcher.ports import parse_port_policy
from worker.containers.egress import Connections, OpenSession
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.egress.errors import EgressError, EgressUnavailable
from worker.errors import EgressUnreachable
from worker.logs import get_logger
from worker.settings import EGRESS_NETWORK, Settings

#: How long a proxy started here may take to answer its first ping (seconds).
START_TIMEOUT_S = 15.0
#: How long a proxy started here gets to close its sessions when told to stop (seconds).
STOP_TIMEOUT_S = 10.0
#: Time between two pings while a started proxy comes up (seconds).
POLL_S = 0.05


def egress_config(settings: Settings) -> EgressConfig:
    """The proxy's configuration: the fetcher's address and port rules, the session bounds."""
    return EgressConfig(
        directory=Path(settings.egress_dir),
        allowed_networks=tuple(parse_network(n) for n in settings.fetcher_allow_networks),
        allowed_ports=parse_port_policy(settings.fetcher_allowed_ports),
        session_max_connections=settings.egress_session_connections,
        session_max_bytes=settings.egress_session_bytes,
    )


def proxy_environment(settings: Settings, *, quiet: bool = False) -> dict[str, str]:
    """The environment of a proxy started for ``settings``: this process's, with every setting
    the proxy reads taken from ``settings`` (which a caller may have built in code), so that
    it serves the directory and applies the rules its clients were given. ``quiet``: it logs
    warnings and errors only (for a command a person reads, not a worker's log)."""
    return os.environ | {
        "EGRESS_DIR": settings.egress_dir,
        "FETCHER_ALLOW_NETWORKS": ",".join(settings.fetcher_allow_networks),
        "FETCHER_ALLOWED_PORTS": settings.fetcher_allowed_ports,
        "EGRESS_SESSION_CONNECTIONS": str(settings.egress_session_connections),
        "EGRESS_SESSION_BYTES": str(settings.egress_session_bytes),
        "LOG_FORMAT": settings.log_format,
        "LOG_LEVEL": "warning" if quiet else settings.log_level,
    }


def egress_client(settings: Settings) -> EgressClient:
    """A client of the proxy's control socket under ``EGRESS_DIR``."""
    return EgressClient(control_socket=egress_config(settings).control_socket)


class ProxySessions:
    """``worker.containers.egress.EgressSessions`` on the egress proxy's control socket."""

    def __init__(self, client: EgressClient) -> None:
        self.client = client

    def open(self, *, label: str, ttl_ms: int) -> OpenSession:
        try:
            session = self.client.open_session(label=label, ttl_ms=ttl_ms)
        except EgressError as error:
            raise EgressUnreachable(f"no egress session for the container: {error}") from error
        return OpenSession(
            id=session.id, directory=session.directory, socket_name=session.socket_path.name
        )

    def close(self, session: OpenSession) -> Connections:
        try:
            record = self.client.close_session(session.id)
        except EgressError as error:
            raise EgressUnreachable(f"the egress session was not closed: {error}") from error
        return tuple(connection.to_json() for connection in record.connections)


def proxy_sessions(settings: Settings) -> ProxySessions | None:
    """The sessions fetcher containers run in; ``None`` unless ``FETCHER_NETWORK=egress``."""
    if settings.fetcher_network != EGRESS_NETWORK:
        return None
    return ProxySessions(egress_client(settings))


@contextmanager
def egress_running(settings: Settings, *, quiet: bool = False) -> Iterator[None]:
    """Make sure an egress proxy answers for the block, starting ``scanbox egress`` if none does.

    A proxy started here is stopped (SIGTERM: it closes its sessions) when the block ends, and
    stops by itself if this process dies first. It runs in a session of its own, so that a
    Ctrl-C meant for the workers' graceful stop does not cut their scans' way out first.
    Nothing is started unless ``FETCHER_NETWORK=egress``. ``quiet``: the proxy started here
    logs warnings and errors only (``scanbox scan``, ``scanbox bench``).
    """
    if settings.fetcher_network != EGRESS_NETWORK:
        yield
        return
    client = egress_client(settings)
    if _answers(client):
        yield
        return
    log = get_logger()
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "egress", "--parent", str(os.getpid())],
        env=proxy_environment(settings, quiet=quiet),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until_answering(client, process)
        if not quiet:
            log.info("egress_started", pid=process.pid, directory=settings.egress_dir)
        yield
    finally:
        _stop(process)


def _answers(client: EgressClient) -> bool:
    try:
        client.ping()
    except EgressUnavailable:
        return False
    return True


def _wait_until_answering(client: EgressClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(client):
        if process.poll() is not None:
            raise EgressUnreachable(
                f"scanbox egress exited with status {process.returncode} before it answered"
            )
        if time.monotonic() > deadline:
            raise EgressUnreachable(f"scanbox egress did not answer within {START_TIMEOUT_S} s")
        time.sleep(POLL_S)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
