"""Standby fetcher containers, made ahead of the scans that will use them.

A background thread keeps ``size`` containers ready: created with every option DockerRunner
uses, their stdin, stdout and stderr attached and, when warm, started, so the fetcher is
already waiting on stdin for its URL. Each container is handed out once and never comes
back: after its one scan it is removed, by the same thread. ``close`` removes everything the
pool still holds.

Standby containers carry scanbox's labels and ``org.scanbox.standby``; a container still
named ``scanbox-standby-…`` has no job yet. Once handed out it is renamed after its job and
attempt (``scanbox-<job>-<attempt>``), which is how the reaper tells whose it is. If the
worker dies, the attach closes, the fetcher reads end-of-file instead of a URL and exits, and
the reaper removes it; an unstarted one is retired once older than ``MAX_AGE_S``.
"""

from __future__ import annotations

import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import docker

from worker.containers import docker_errors
from worker.containers.docker_errors import ENGINE_ERRORS, translated
from worker.containers.egress import SESSION_MARGIN_MS, EgressSessions, OpenSession, with_proxy
from worker.containers.ownership import MAX_AGE_S
from worker.containers.spec import (
    LABEL_STANDBY,
    LABEL_WORKER,
    STANDBY_PREFIX,
    ContainerSpec,
    fetcher_container_options,
    standby_labels,
)
from worker.errors import ContainerStartFailed, DockerUnavailable, ScanError
from worker.logs import get_logger

#: How long the filler waits after the engine failed it before it tries again.
RETRY_AFTER_S = 1.0
#: How long ``close`` waits for the filler thread to finish what it is doing (an engine call
#: that is slow under load); then it sweeps the pool's containers by their labels anyway, well
#: within a stopping worker's grace.
CLOSE_TIMEOUT_S = 10.0


@dataclass
class Standby:
    """One ready container: its id, its attach socket, whether it is started, its age."""

    container_id: str
    sock: socket.socket
    started: bool
    made_at: float
    #: Keeps the SDK's wrapper of the socket (and so the socket) alive.
    handle: Any = None
    #: Its egress session, mounted when it was made; the scan that takes it closes it.
    session: OpenSession | None = None

    def close_socket(self) -> None:
        """Close the attach socket (the fetcher sees end-of-file on stdin if it still reads)."""
        for closable in (self.handle, self.sock):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass


class StandbyPool:
    """Keeps ``size`` standby fetcher containers ready for this worker process."""

    def __init__(
        self,
        *,
        client: docker.DockerClient,
        spec: ContainerSpec,
        command: Sequence[str],
        worker_id: str,
        host: str,
        size: int,
        warm: bool,
        egress: EgressSessions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.egress = egress
        self.spec = spec
        self.command = list(command)
        self.worker_id = worker_id
        self.host = host
        self.size = size
        self.warm = warm
        self.clock = clock
        self._ready: queue.Queue[Standby] = queue.Queue()
        #: Containers to rename (to a name) or remove (``None``), in order.
        self._work: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="standby-pool", daemon=True)
        self._log = get_logger(worker=worker_id)

    def open(self) -> None:
        """Start making containers in the background."""
        self._thread.start()

    def take(self) -> Standby:
        """A ready container, made on the spot if none is ready; it is the caller's now."""
        while True:
            try:
                standby = self._ready.get_nowait()
            except queue.Empty:
                return self.make()
            finally:
                self._wake.set()
            if self.clock() - standby.made_at < MAX_AGE_S / 2:
                return standby
            self.discard(standby)

    def assign(self, standby: Standby, name: str) -> None:
        """Name a handed-out container after its job and attempt, in the background."""
        self._work.put((standby.container_id, name))
        self._wake.set()

    def discard(self, standby: Standby) -> None:
        """Give back a container that was used (or can't be): it is removed, never reused."""
        standby.close_socket()
        self._close_session(standby.session)
        standby.session = None
        self._work.put((standby.container_id, None))
        self._wake.set()

    def close(self) -> None:
        """Stop making containers and remove every container the pool still holds."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CLOSE_TIMEOUT_S)
        while True:
            try:
                standby = self._ready.get_nowait()
            except queue.Empty:
                break
            self.discard(standby)
        self._do_work()
        self._sweep_own()

    def _sweep_own(self) -> None:
        """Remove any container still labelled as this pool's.

        A create the engine carried out while its answer was lost (the engine stopping
        mid-request) leaves a container that the pool never heard of.
        """
        own = [f"{LABEL_WORKER}={self.worker_id}", f"{LABEL_STANDBY}=true"]
        try:
            leftovers = self.client.containers.list(
                all=True, filters={"label": own}, ignore_removed=True
            )
        except ENGINE_ERRORS as error:
            self._log.warning("standby_sweep_failed", error=str(error))
            return
        for container in leftovers:
            self._remove(str(container.id))

    def labels(self) -> dict[str, str]:
        """The labels of this pool's containers."""
        return standby_labels(
            worker_id=self.worker_id, host=self.host, deployment=self.spec.deployment
        )

    def make(self) -> Standby:
        """Create, attach and (when warm) start one standby container."""
        name = f"{STANDBY_PREFIX}{secrets.token_hex(8)}"
        session = None
        if self.egress is not None:
            # The container may wait until MAX_AGE_S / 2, then runs to its deadline.
            ttl_ms = round(MAX_AGE_S * 1000) + self.spec.timeout_ms + SESSION_MARGIN_MS
            session = self.egress.open(label=name, ttl_ms=ttl_ms)
        try:
            container_id = self._create(name, session)
        except BaseException:
            self._close_session(session)
            raise
        return self._prepare(container_id, session)

    def _create(self, name: str, session: OpenSession | None) -> str:
        command = self.command
        if session is not None:
            command = with_proxy(command, session)
        options = fetcher_container_options(
            self.spec, command=command, name=name, labels=self.labels(), stdin_open=True
        )
        if session is not None:
            options["volumes"] = session.volumes
        with translated(
            "create a standby container", refused=ContainerStartFailed, image=self.spec.image
        ):
            return str(self.client.containers.create(self.spec.image, **options).id)
        raise AssertionError("unreachable: translated() re-raises")

    def _prepare(self, container_id: str, session: OpenSession | None) -> Standby:
        try:
            handle = self.client.api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            standby = Standby(
                container_id=container_id,
                sock=getattr(handle, "_sock", handle),
                started=False,
                made_at=self.clock(),
                handle=handle,
                session=session,
            )
            if self.warm:
                self.client.api.start(container_id)
                standby.started = True
        except (*ENGINE_ERRORS, OSError) as error:
            self._remove(container_id)
            self._close_session(session)
            raise ContainerStartFailed(f"could not prepare a standby container: {error}") from error
        return standby

    def _close_session(self, session: OpenSession | None) -> None:
        """Close the egress session of a container that will not run a scan."""
        if session is None or self.egress is None:
            return
        try:
            self.egress.close(session)
        except ScanError as error:
            self._log.warning("standby_session_not_closed", error=str(error))

    def _fill(self) -> None:
        while not self._stop.is_set():
            self._do_work()
            if self._ready.qsize() >= self.size:
                self._wake.wait(timeout=MAX_AGE_S / 4)
                self._wake.clear()
                self._retire_old()
                continue
            try:
                made = self.make()
            except (ContainerStartFailed, DockerUnavailable) as error:
                self._log.warning("standby_not_made", error=str(error))
                self._stop.wait(RETRY_AFTER_S)
                continue
            if self._stop.is_set():
                # Made while the pool was closing (a slow engine): nobody will take it.
                self.discard(made)
                self._do_work()
            else:
                self._ready.put(made)

    def _retire_old(self) -> None:
        for _ in range(self._ready.qsize()):
            try:
                standby = self._ready.get_nowait()
            except queue.Empty:
                return
            if self.clock() - standby.made_at < MAX_AGE_S / 2:
                self._ready.put(standby)
            else:
                self.discard(standby)

    def _do_work(self) -> None:
        while True:
            try:
                container_id, name = self._work.get_nowait()
            except queue.Empty:
                return
            if name is None:
                self._remove(container_id)
            else:
                self._rename(container_id, name)

    def _rename(self, container_id: str, name: str) -> None:
        try:
            self.client.api.rename(container_id, name)
        except ENGINE_ERRORS as error:
            # Gone already, or the engine is: the container is removed either way.
            self._log.info("standby_not_renamed", container=container_id, error=str(error))

    def _remove(self, container_id: str) -> None:
        if not docker_errors.remove(self.client.api, container_id):
            # Left for the reaper, which finds it by its labels.
            self._log.warning("standby_not_removed", container=container_id)
