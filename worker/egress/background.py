"""An egress proxy on a thread of the calling process, for the worker's own outbound requests.

Webhooks go out the way a fetcher's requests do: through a session of an egress proxy, which
resolves the callback's host once, refuses it if any address is refused, connects to the
address it checked and records the connection. A process that has no proxy of its own to
talk to runs one here: the same :class:`~worker.egress.proxy.EgressProxy`, on an event loop
of its own in a daemon thread, in a private directory made for it and removed with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from fetcher.resolution import Resolver, system_resolver
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.egress.errors import EgressUnavailable
from worker.egress.proxy import EgressProxy

#: Where the private directories are made: short, so that socket paths fit.
DIRECTORY_PARENT = Path("/tmp")  # noqa: S108 (mkdtemp makes a fresh directory, mode 0700)
#: How long the proxy may take to start listening (seconds).
START_TIMEOUT_S = 10.0


class BackgroundEgress:
    """Runs an egress proxy configured by ``configure``, given the private directory."""

    def __init__(
        self,
        configure: Callable[[Path], EgressConfig],
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._configure = configure
        self._resolver = resolver
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.config: EgressConfig | None = None

    def start(self) -> EgressClient:
        """Start the proxy and return a client of its control socket once it answers."""
        directory = Path(tempfile.mkdtemp(prefix="sbx-egress-", dir=DIRECTORY_PARENT))
        try:
            self.config = self._configure(directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self._thread = threading.Thread(target=self._run, name="egress", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failure is not None:
            self.stop()
            raise EgressUnavailable(f"the egress proxy did not start: {self._failure}")
        return EgressClient(control_socket=self.config.control_socket)

    def _run(self) -> None:
        assert self.config is not None
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(self.config))
        except BaseException as error:  # reported to start(), which raises it
            self._failure = error
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self, config: EgressConfig) -> None:
        proxy = EgressProxy(config, resolver=self._resolver)
        self._stopping = asyncio.Event()
        await proxy.start()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await proxy.stop()

    def stop(self) -> None:
        """Stop the proxy (closing its sessions), wait for its thread, remove its directory."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            # The loop may close in between: the proxy has stopped already then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
            self._thread = None
        if self.config is not None:
            shutil.rmtree(self.config.directory, ignore_errors=True)
