"""Where every failed attempt is sorted: retry, discard, fail, or time out.

This is the one place that turns a ``ScanError`` into a state: transient errors go back to
QUEUED with backoff while attempts remain (then DISCARDED), timeouts become TIMED_OUT (or are
retried when ``retry_timeouts`` is on), everything else FAILS at once. A scan cut short by its
worker's shutdown goes back to QUEUED at once whatever its attempt: stopping a worker must not
discard jobs. A terminal move writes the job's webhook deliveries in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from statemachine.states import TERMINAL, State
from statemachine.transitions import transition
from worker.errors import ScanError, ScanTimedOut, TransientScanError
from worker.logs import get_logger
from worker.queue.dispatch import Dispatcher
from worker.scan.backoff import Backoff
from worker.scan.claim import Claim
from worker.store.database import Database
from worker.store.outbox import queue_webhooks


@dataclass(frozen=True, kw_only=True)
class Settlement:
    """What became of a failed attempt: the state written (``None``: another writer won)."""

    state: State | None
    retry_in_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class OutcomePolicy:
    """How failed attempts are settled."""

    backoff: Backoff
    retry_timeouts: bool = False

    def target(self, error: ScanError, *, attempt: int, max_attempts: int) -> State:
        """The state an attempt that raised ``error`` moves to."""
        if error.requeue_at_once:
            return State.QUEUED
        retryable = isinstance(error, TransientScanError) or (
            self.retry_timeouts and isinstance(error, ScanTimedOut)
        )
        if retryable:
            return State.QUEUED if attempt < max_attempts else State.DISCARDED
        if isinstance(error, ScanTimedOut):
            return State.TIMED_OUT
        return State.FAILED


def settle(
    error: ScanError,
    *,
    claim: Claim,
    source: State,
    version: int,
    db: Database,
    dispatcher: Dispatcher,
    policy: OutcomePolicy,
    actor: str,
    now: datetime,
) -> Settlement:
    """Record what ``error`` means for the attempt in ``claim`` (now at ``source``/``version``)."""
    target = policy.target(error, attempt=claim.attempt, max_attempts=claim.max_attempts)
    code = error.stored_code
    changes: dict[str, Any] = {
        "error_code": code,
        "error_message": error.message[:2000],
        **error.job_columns(),
    }
    delay = None
    if target is State.QUEUED:
        delay = 0.0 if error.requeue_at_once else policy.backoff.delay(claim.attempt)
    if delay is not None:
        changes.update(available_at=now + timedelta(seconds=delay), lease_expires_at=None)

    def write(connection: Connection) -> int | None:
        moved = transition(
            connection,
            job_id=claim.job_id,
            source=source,
            target=target,
            version=version,
            actor=actor,
            now=now,
            changes=changes,
            detail={"attempt": claim.attempt, "error": code},
        )
        if moved is not None and target in TERMINAL:
            queue_webhooks(connection, job_id=claim.job_id, now=now)
        return moved

    log = get_logger(job_id=claim.job_id, attempt=claim.attempt, worker=actor, state=target.value)
    if db.run_write(write) is None:
        log.info("outcome_lost", reason="another writer moved the job first", error=code)
        return Settlement(state=None)
    if delay is not None:
        dispatcher.dispatch(
            [claim.job_id], priority=claim.priority, attempt=claim.attempt + 1, delay_s=delay
        )
        log.info("job_requeued", error=code, message=error.message, retry_in_s=round(delay, 3))
    elif target is State.DISCARDED:
        log.warning("job_discarded", error=code, message=error.message)
    else:
        log.warning("job_failed", error=code, message=error.message)
    return Settlement(state=target, retry_in_s=delay)
