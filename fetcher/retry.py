"""When a response is worth asking for again, and how long to wait before asking."""

from __future__ import annotations

import datetime
import email.utils

#: Statuses that say "try again later": request timeout, rate limiting, transient server errors.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Wait before the first retry when the response gives no Retry-After; doubled per retry.
BACKOFF_BASE_SECONDS = 0.5
#: Longest wait between attempts without a Retry-After; the deadline caps every wait anyway.
BACKOFF_MAX_SECONDS = 8.0


def retry_delay(*, retry_after: str | None, retry_number: int, now: float) -> float:
    """Return the seconds to wait before retry number ``retry_number`` (counting from 1).

    A Retry-After header wins, in delta-seconds or as an HTTP date relative to ``now`` (Unix
    time); otherwise the wait doubles from :data:`BACKOFF_BASE_SECONDS`.
    """
    advised = parse_retry_after(retry_after, now=now)
    if advised is not None:
        return advised
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (retry_number - 1))


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Return the wait a Retry-After value asks for, never negative, or None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; parsedate_to_datetime leaves "-0000" dates naive.
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)
