"""Running the egress proxy as a process of its own, until it is told to stop."""

from __future__ import annotations

import asyncio
import signal

from worker.egress.config import EgressConfig
from worker.egress.proxy import EgressProxy

#: Signals that stop the proxy (it closes every session first).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_egress(config: EgressConfig) -> None:
    """Serve the egress proxy under ``config`` until SIGTERM or SIGINT, then close it down."""
    asyncio.run(_serve(config))


async def _serve(config: EgressConfig) -> None:
    proxy = EgressProxy(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    await proxy.start()
    try:
        await stop.wait()
    finally:
        await proxy.stop()
