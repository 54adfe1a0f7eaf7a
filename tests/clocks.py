"""A clock that tests move by hand, so that nothing waits for real time to pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class ManualClock:
    """A ``worker.clock.Clock`` that stands still until ``advance`` or ``set`` moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; return the new time."""
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (forward or back); return it."""
        self.now = moment
        return self.now
