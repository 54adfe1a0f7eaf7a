"""A real egress proxy for tests: its own event loop on a thread, its own short directory.

Unix socket paths are limited to 107 bytes, so the directory is made directly under the
system's temporary directory rather than in pytest's deeper ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from fetcher.resolution import AddressInfo, numeric_resolver
from tests.services import poll
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.egress.proxy import EgressProxy

T = TypeVar("T")

#: How long a test waits for the proxy's loop to do something it was asked to.
LOOP_TIMEOUT_S = 30.0


class EgressThread:
    """An :class:`EgressProxy` serving on an event loop in a thread of its own."""

    def __init__(self, config: EgressConfig, **kwargs: Any) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="egress", daemon=True)
        self.proxy = EgressProxy(config, **kwargs)
        self.client = EgressClient(control_socket=config.control_socket, timeout_s=10.0)

    def start(self) -> None:
        self._thread.start()
        try:
            self.call(self.proxy.start())
        except BaseException:
            self._end_loop()
            raise

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the proxy's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(LOOP_TIMEOUT_S)

    def run(self, function: Callable[[], T]) -> T:
        """Call ``function`` on the proxy's loop (to read its state safely)."""

        async def call() -> T:
            return function()

        return self.call(call())

    def settle(self, session_id: str) -> None:
        """Wait until no connection of the session is still being served.

        A client that hangs up before its target does leaves the proxy relaying for a
        moment; a test that checks how each connection ended waits for that end first.
        """

        def settled() -> bool | None:
            session = self.proxy.live_session(session_id)
            return True if session is None or not session.tasks else None

        poll(lambda: self.run(settled), timeout_s=LOOP_TIMEOUT_S, what="the connections to end")

    def stop(self) -> None:
        try:
            self.call(self.proxy.stop())
        finally:
            self._end_loop()

    def _end_loop(self) -> None:
        # As asyncio.run ends a loop: cancel whatever is left and let it finish.
        with contextlib.suppress(Exception):
            self.call(_cancel_remaining())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=LOOP_TIMEOUT_S)
        self._loop.close()


async def _cancel_remaining() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def egress_directory() -> Iterator[Path]:
    """A fresh directory for one proxy, short enough for socket paths; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="sbx-egress-"))
    try:
        yield directory / "egress"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def running_egress(config: EgressConfig, **kwargs: Any) -> Iterator[EgressThread]:
    """A started proxy that is stopped however the test ends."""
    egress = EgressThread(config, **kwargs)
    egress.start()
    try:
        yield egress
    finally:
        egress.stop()


class ScriptedResolver:
    """A getaddrinfo stand-in: one scripted answer per call (the last repeats); records calls.

    A host it has no answer for is handed to getaddrinfo with ``AI_NUMERICHOST`` (so
    ``2130706433`` and ``127.1`` resolve as the system would resolve them), and a name fails
    as a real lookup would: no test ever reaches DNS.
    """

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = {name: list(lists) for name, lists in answers.items()}
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int, *, type: int) -> list[AddressInfo]:
        with self._lock:
            self.calls.append((host, port))
            lists = self._answers.get(host)
            if lists is None:
                return list(numeric_resolver(host, port, type=type))
            addresses = lists.pop(0) if len(lists) > 1 else lists[0]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in addresses
        ]
