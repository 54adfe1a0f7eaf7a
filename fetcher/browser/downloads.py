"""Downloads a page starts: each saved to the capture's temporary directory, hashed and
deleted; never opened or run.

Chromium writes downloads as they arrive, so the size limit is held by watching the directory
and cancelling the downloads still running once it holds more than the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Download, Error, Page

#: How often the download directory's size is checked against the limit.
SIZE_CHECK_INTERVAL_S = 0.1
#: Bytes read at a time while hashing.
HASH_CHUNK_BYTES = 1024 * 1024
#: Longest suggested file name kept.
MAX_NAME_CHARS = 255


class Downloads:
    """The downloads of a capture, in the order they started."""

    def __init__(
        self,
        *,
        directory: Path,
        max_downloads: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._max_downloads = max_downloads
        self._max_bytes = max_bytes
        self._clock = clock
        self._started = clock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: list[tuple[Download, dict[str, Any]]] = []
        self._watch: asyncio.Task[None] | None = None
        self.records: list[dict[str, Any]] = []
        #: Downloads past ``max_downloads``: cancelled and counted.
        self.dropped = 0

    def attach(self, page: Page) -> None:
        """Record the downloads ``page`` starts."""
        page.on("download", self._on_download)

    @property
    def running(self) -> bool:
        """Whether a download is still arriving."""
        return bool(self._running)

    async def settle(self, *, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for downloads to finish; cancel those still running."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, timeout_s))
        for download, _record in list(self._running):
            with contextlib.suppress(Error):
                await download.cancel()
        for task in list(self._tasks):
            task.cancel()
        for record in self.records:
            if record["sha256"] is None and record["failure"] is None:
                record["failure"] = "deadline"
        if self._watch is not None:
            self._watch.cancel()

    def _on_download(self, download: Download) -> None:
        loop = asyncio.get_running_loop()
        if len(self.records) >= self._max_downloads:
            self.dropped += 1
            cancel = loop.create_task(_cancel(download))
            self._tasks.add(cancel)
            cancel.add_done_callback(self._tasks.discard)
            return
        record: dict[str, Any] = {
            "url": download.url,
            "name": download.suggested_filename[:MAX_NAME_CHARS],
            "media_type": None,
            "size": None,
            "sha256": None,
            "failure": None,
            "at_ms": round((self._clock() - self._started) * 1000, 1),
        }
        self.records.append(record)
        self._running.append((download, record))
        task = loop.create_task(self._finish(download, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._watch is None:
            self._watch = loop.create_task(self._hold_limit())

    async def _finish(self, download: Download, record: dict[str, Any]) -> None:
        try:
            failure = await download.failure()
            if failure is not None:
                record["failure"] = record["failure"] or failure
                return
            path = Path(await download.path())
            size, digest = await asyncio.to_thread(_hash_file, path, self._max_bytes)
            record["size"] = size
            if size > self._max_bytes:
                record["failure"] = "too_large"
            else:
                record["sha256"] = digest
            with contextlib.suppress(OSError):
                path.unlink()
        except Error as error:
            record["failure"] = record["failure"] or error.message[:200]
        finally:
            self._running.remove((download, record))

    async def _hold_limit(self) -> None:
        while True:
            await asyncio.sleep(SIZE_CHECK_INTERVAL_S)
            if self._running and _directory_bytes(self._directory) > self._max_bytes:
                for download, record in list(self._running):
                    record["failure"] = "too_large"
                    with contextlib.suppress(Error):
                        await download.cancel()


async def _cancel(download: Download) -> None:
    with contextlib.suppress(Error):
        await download.cancel()


def _directory_bytes(directory: Path) -> int:
    total = 0
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def _hash_file(path: Path, max_bytes: int) -> tuple[int, str]:
    """The size of ``path`` and the sha256 of its bytes (read up to ``max_bytes`` + 1)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while size <= max_bytes and (chunk := file.read(HASH_CHUNK_BYTES)):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
