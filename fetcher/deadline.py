"""The fetch's total deadline, which bounds every connect, read, backoff and resolution."""

from __future__ import annotations

from collections.abc import Callable

#: Message of the TimeoutError raised once the total deadline has passed.
TOTAL_DEADLINE_PASSED = "the total deadline passed"


class Deadline:
    """A point in time on ``clock`` after which the fetch must stop waiting for anything."""

    def __init__(self, *, clock: Callable[[], float], seconds: float) -> None:
        self._clock = clock
        self.started_at = clock()
        self.expires_at = self.started_at + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - self._clock())

    def elapsed(self) -> float:
        """Seconds since the fetch started."""
        return self._clock() - self.started_at

    def bound(self, seconds: float) -> float:
        """Return ``seconds`` or what is left of the deadline, whichever is smaller.

        Raises TimeoutError when nothing is left, so no socket is ever given a zero timeout
        (which would make it non-blocking rather than expired).
        """
        remaining = self.remaining()
        if remaining <= 0:
            raise TimeoutError(TOTAL_DEADLINE_PASSED)
        return min(seconds, remaining)
