"""Running the egress proxy as a process of its own, until it is told to stop."""

from __future__ import annotations

import asyncio
import os
import signal

from worker.egress.config import EgressConfig
from worker.egress.proxy import EgressProxy

#: Signals that stop the proxy (it closes every session first).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How often a proxy started for one process checks that it is still there (seconds).
PARENT_POLL_S = 0.5


def run_egress(config: EgressConfig, *, parent: int | None = None) -> None:
    """Serve the egress proxy under ``config`` until SIGTERM or SIGINT (or, with ``parent``,
    until that process is no longer this one's parent), then close it down."""
    asyncio.run(_serve(config, parent=parent))


async def _serve(config: EgressConfig, *, parent: int | None) -> None:
    proxy = EgressProxy(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    await proxy.start()
    watcher = None if parent is None else asyncio.create_task(_watch_parent(parent, stop))
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await proxy.stop()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once ``parent`` has gone (this process is then someone else's child)."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_POLL_S)
    stop.set()
