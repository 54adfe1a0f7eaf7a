"""What an attempt's answer makes of a delivery: delivered, again later (backoff or the
receiver's Retry-After, bounded), or given up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from worker.webhooks.retry import RetryPolicy, retry_after_s
from worker.webhooks.sender import Answer, Kind

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, base_s=10, max_s=600, rng=random.Random(7))


def _answer(
    status: int | None, *, kind: Kind = "answered", retry_after: str | None = None
) -> Answer:
    return Answer(
        kind=kind, detail=f"answered {status}", status=status, retry_after=retry_after,
        excerpt="ok", peer="127.0.0.1",
    )  # fmt: skip


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_delivers(status: int) -> None:
    settled = POLICY.settle(_answer(status), attempt=1, now=NOW)
    assert (settled.status, settled.http_status, settled.peer) == ("delivered", status, "127.0.0.1")
    assert settled.next_attempt_at is None


@pytest.mark.parametrize(
    ("answer", "retried"),
    [
        (_answer(500), True),
        (_answer(503), True),
        (_answer(599), True),
        (_answer(429), True),
        (_answer(408), True),
        (_answer(None, kind="timeout"), True),
        (_answer(None, kind="unreachable"), True),
        (_answer(None, kind="error"), True),
        (_answer(301), False),
        (_answer(302), False),
        (_answer(400), False),
        (_answer(401), False),
        (_answer(404), False),
        (_answer(410), False),
        (_answer(None, kind="refused"), False),
    ],
)
def test_what_is_tried_again(answer: Answer, retried: bool) -> None:
    settled = POLICY.settle(answer, attempt=1, now=NOW)
    assert settled.status == ("pending" if retried else "failed")
    assert (settled.next_attempt_at is not None) is retried


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=20, base_s=10, max_s=100, rng=random.Random(1))
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (12, 100)]:
        delay = policy.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_is_honoured_up_to_the_longest_delay() -> None:
    settled = POLICY.settle(_answer(429, retry_after="120"), attempt=1, now=NOW)
    assert settled.next_attempt_at == NOW + timedelta(seconds=120)
    settled = POLICY.settle(_answer(503, retry_after="86400"), attempt=1, now=NOW)
    assert settled.next_attempt_at == NOW + timedelta(seconds=600)
    date = "Sun, 01 Mar 2026 12:05:00 GMT"
    settled = POLICY.settle(_answer(503, retry_after=date), attempt=1, now=NOW)
    assert settled.next_attempt_at == NOW + timedelta(minutes=5)
    # Only on 429 and 503; a garbage value falls back to the backoff.
    for answer in (_answer(500, retry_after="120"), _answer(429, retry_after="soon")):
        settled = POLICY.settle(answer, attempt=1, now=NOW)
        assert settled.next_attempt_at is not None
        assert NOW + timedelta(seconds=5) <= settled.next_attempt_at <= NOW + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        (" 42 ", 42.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("9" * 65, None),
        ("\u0664\u0662", None),
        ("Sun, 01 Mar 2026 12:00:30", None),
        ("tomorrow", None),
        (None, None),
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert retry_after_s(value, now=NOW) == seconds


def test_the_last_attempt_gives_up_and_says_so() -> None:
    settled = POLICY.settle(_answer(503), attempt=4, now=NOW)
    assert settled.status == "failed"
    assert settled.error == "answered 503 (gave up after 4 attempts)"
