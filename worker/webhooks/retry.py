"""What becomes of a webhook attempt: delivered, tried again later, or given up.

A ``2xx`` answer delivers it. Worth another attempt, with exponential backoff (and jitter),
while attempts remain: no answer in time, a connection that failed or broke, an answer that
was not HTTP, ``408``, ``425``, ``429`` and every ``5xx``. A ``Retry-After`` (seconds, or an
HTTP date) on a ``429`` or ``5xx`` answer sets the delay instead, up to the longest backoff,
so that a receiver can't park a delivery for longer. Given up at once: a callback the egress
proxy refuses (the address rules), any other ``3xx`` or ``4xx`` (redirects are not
followed: the signature is for the URL the producer gave).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from worker.store.outbox import DELIVERED, FAILED, PENDING, Settlement
from worker.webhooks.sender import Answer

#: Statuses worth another attempt besides every 5xx.
RETRY_STATUSES = frozenset({408, 425, 429})
#: Statuses whose ``Retry-After`` is honoured.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: Longest ``Retry-After`` value read, in characters.
MAX_RETRY_AFTER_CHARS = 64


def retry_after_s(value: str | None, *, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (RFC 9110 10.2.3); ``None`` if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_RETRY_AFTER_CHARS:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def worth_retrying(answer: Answer) -> bool:
    """Whether another attempt might deliver what ``answer`` did not."""
    if answer.kind == "refused":
        return False
    if answer.status is None:
        return True
    return answer.status in RETRY_STATUSES or 500 <= answer.status <= 599


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long a delivery is tried."""

    #: Attempts in all, the first one included.
    max_attempts: int = 8
    #: Delay after the first failed attempt; doubled after each further one.
    base_s: float = 5.0
    #: Longest delay, backoff and ``Retry-After`` alike.
    max_s: float = 3600.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Backoff after failed attempt ``attempt``: base·2^(n-1), capped, then 50 to 100 %."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(attempt - 1, 62))
        return ceiling * (0.5 + self.rng.random() / 2)

    def settle(self, answer: Answer, *, attempt: int, now: datetime) -> Settlement:
        """What the attempt that got ``answer`` leaves the delivery as."""
        if answer.kind == "answered" and answer.status is not None and answer.status < 300:
            return _settlement(DELIVERED, answer)
        if not worth_retrying(answer):
            return _settlement(FAILED, answer, error=answer.detail)
        if attempt >= self.max_attempts:
            return _settlement(
                FAILED, answer, error=f"{answer.detail} (gave up after {attempt} attempts)"
            )
        delay = self.delay(attempt)
        asked = None
        if answer.status in RETRY_AFTER_STATUSES:
            asked = retry_after_s(answer.retry_after, now=now)
        if asked is not None:
            delay = min(asked, self.max_s)
        return _settlement(
            PENDING, answer, error=answer.detail, next_attempt_at=now + timedelta(seconds=delay)
        )


def _settlement(
    status: str,
    answer: Answer,
    *,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> Settlement:
    return Settlement(
        status=status,
        next_attempt_at=next_attempt_at,
        http_status=answer.status,
        error=error,
        response=answer.excerpt,
        peer=answer.peer,
    )
