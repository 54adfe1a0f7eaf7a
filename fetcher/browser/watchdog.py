"""The last word on time: whatever the page, Chromium or the driver do, the program ends soon
after its deadline, with a report if none was written yet.

The capture itself keeps to the deadline with a timeout on every wait; the watchdog is a
thread of its own, so it fires even if the event loop were stuck. Both write through one
:class:`Output`, so at most one report ever reaches stdout.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

from fetcher.browser.stream import Artifact, write_capture

#: Seconds past the capture's deadline after which the watchdog ends the process.
WATCHDOG_GRACE_S = 3.0
#: Longest the watchdog waits for a report being written to be finished.
WRITE_GRACE_S = 2.0


class Output:
    """stdout, written once: the first report (with its artifacts) wins."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.written = False

    def write(
        self,
        *,
        report: Mapping[str, Any],
        artifacts: Sequence[Artifact],
        wait_s: float | None = None,
    ) -> bool:
        """Write the report and artifacts unless a report was written; whether this one was."""
        if not self._lock.acquire(timeout=-1 if wait_s is None else wait_s):
            return False
        try:
            if self.written:
                return False
            self.written = True
            write_capture(self._stream, report=report, artifacts=artifacts)
            return True
        finally:
            self._lock.release()


class Watchdog:
    """Ends the process ``seconds`` after it is armed, writing ``late_report()`` if nothing
    was written by then."""

    def __init__(
        self,
        *,
        output: Output,
        late_report: Callable[[], Mapping[str, Any]],
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self._output = output
        self._late_report = late_report
        self._exit = exit_process
        self._timer: threading.Timer | None = None
        self.fired = threading.Event()

    def arm(self, *, seconds: float) -> None:
        """Fire in ``seconds`` unless disarmed first."""
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        """Stand down: the program is ending on its own."""
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self) -> None:
        self.fired.set()
        written = self._output.written
        if not written:
            written = self._output.write(
                report=self._late_report(), artifacts=(), wait_s=WRITE_GRACE_S
            )
            written = written or self._output.written
        self._exit(0 if written else 1)
