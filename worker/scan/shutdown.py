"""Graceful shutdown: the first signal stops new claims, the grace period, the second signal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Shutdown:
    """A worker process's shutdown request, asked for by signal handlers, read by the runner.

    After ``request()`` the worker claims nothing new and the running scan may go on for
    ``grace_s``; after that, or after ``force()``, the scan is interrupted: its container is
    killed and the job goes back to QUEUED.
    """

    def __init__(self, *, grace_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self.monotonic = monotonic
        self._requested_at: float | None = None
        self._forced = threading.Event()
        self._requested = threading.Event()

    def request(self) -> None:
        """Stop after the running scan (first signal); a second request forces."""
        if self.requested:
            self.force()
        else:
            self._begin()

    def force(self) -> None:
        """Interrupt the running scan at once."""
        if not self.requested:
            self._begin()
        self._forced.set()

    def _begin(self) -> None:
        self._requested_at = self.monotonic()
        self._requested.set()

    @property
    def requested(self) -> bool:
        """Whether a shutdown was asked for."""
        return self._requested.is_set()

    def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return early, with ``True``, once a shutdown is asked for."""
        return self._requested.wait(seconds)

    def interruption(self) -> str | None:
        """Why the running scan must stop now, or ``None`` while it may go on."""
        if self._forced.is_set():
            return "shutdown forced by a second signal"
        if self._requested_at is not None and (
            self.monotonic() - self._requested_at >= self.grace_s
        ):
            return f"shutdown grace period of {self.grace_s:g}s is over"
        return None
