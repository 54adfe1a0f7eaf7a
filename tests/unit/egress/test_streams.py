"""A stream server's client task that the proxy cancels ends without an error being logged
(Python 3.11's stream server reports a cancelled client task to the loop's exception handler,
which logs it as "Exception in callback")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from worker.egress.streams import serve_unix


async def _cancel_a_client(path: Path) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    started = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        started.set()
        try:
            await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()

    server = await serve_unix(handler, path=str(path), limit=2**16)
    _, writer = await asyncio.open_unix_connection(str(path))
    await asyncio.wait_for(started.wait(), 5)
    tasks[0].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for _ in range(3):
        await asyncio.sleep(0)
    writer.close()
    server.close()
    await server.wait_closed()
    return reported


def test_a_cancelled_client_task_is_not_reported_as_an_error(tmp_path: Path) -> None:
    assert asyncio.run(_cancel_a_client(tmp_path / "quiet.sock")) == []
