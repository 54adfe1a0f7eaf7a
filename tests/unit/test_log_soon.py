"""A signal handler's log line never waits for the log: it is written on a thread of its own."""

from __future__ import annotations

import threading

from worker.logs import log_soon


def test_the_caller_returns_while_the_log_is_busy_and_the_line_is_written_after() -> None:
    busy = threading.Event()
    written: list[tuple[str, dict[str, object]]] = []
    done = threading.Event()

    def log(event: str, **fields: object) -> None:
        # As structlog's logger does while another line holds its write lock.
        busy.wait(timeout=10)
        written.append((event, fields))
        done.set()

    log_soon(log, "shutdown_forced", signal=15)
    # Back in the caller (the main thread, which holds the lock in the real case) at once.
    assert written == []
    busy.set()
    assert done.wait(timeout=10)
    assert written == [("shutdown_forced", {"signal": 15})]
