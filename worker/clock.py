"""Time as scanbox sees it: timezone-aware UTC, behind a callable that tests can replace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: A source of the current time; pass another one in to drive time in tests.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
