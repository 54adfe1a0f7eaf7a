"""Turning submit stream entries into jobs, each exactly once, whichever worker reads it.

Each round takes a consumer's entries: its own unacknowledged ones after a failed round,
entries a dead consumer left pending past the idle time, then new ones. Every entry is
checked on its own (:mod:`worker.submit.entries`); the valid ones are submitted together (per
priority, and force), with the entry's request id (its own id unless the producer gave one)
as the idempotency key; the refused ones go to the rejected stream. An entry is acknowledged
only after its job's row is committed: a consumer killed between the two leaves the entry
pending, another claims it, finds its request id stored and acknowledges it with no new job.

A group the database refuses (not an outage: a value it can't store) is submitted again one
entry at a time, and only the entries still refused are rejected, with the reason. An outage
raises, and so does a full queue (``MAX_QUEUED_JOBS``): the round's entries stay pending and
are read again. :meth:`StreamIntake.run`
decides to go on: it logs a failed round and waits before the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import sqlalchemy as sa

from worker.clock import Clock, utcnow
from worker.errors import ScanboxError, UsageError
from worker.logs import get_logger
from worker.queue.dispatch import Dispatcher
from worker.queue.stream import Entry, SubmitStream
from worker.store.database import Database
from worker.submit.batch import submit_requests
from worker.submit.callbacks import CallbackRules
from worker.submit.entries import Rejection, StreamRequest, parse_entry

#: Errors that mean the database was away, not that it refused the data.
_OUTAGES = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)
#: How long a round waits on the stream for a new entry (milliseconds).
DEFAULT_BLOCK_MS = 1000
#: How long a consumer with nothing pending may stay idle before another removes it.
CONSUMER_IDLE_MS = 24 * 3600 * 1000
#: Longest pause after a failed round.
MAX_PAUSE_S = 10.0

#: Called with the entry ids of a group after its jobs are committed, before they are
#: acknowledged.
AfterCommit = Callable[[Sequence[str]], None]


class StreamIntake:
    """One consumer of the submit stream: reads entries, stores their jobs, acknowledges."""

    def __init__(
        self,
        *,
        db: Database,
        stream: SubmitStream,
        dispatcher: Dispatcher,
        callbacks: CallbackRules,
        default_callback: str | None = None,
        max_attempts: int = 3,
        dedup_window: timedelta = timedelta(0),
        max_queued: int = 0,
        batch: int = 100,
        claim_idle_ms: int = 60_000,
        block_ms: int = DEFAULT_BLOCK_MS,
        after_commit: AfterCommit | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.stream = stream
        self.dispatcher = dispatcher
        self.callbacks = callbacks
        self.default_callback = default_callback
        self.max_attempts = max_attempts
        self.dedup_window = dedup_window
        self.max_queued = max_queued
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.after_commit = after_commit
        self.clock = clock
        self._retry_own = True
        self._next_claim = 0.0
        self._next_cleanup = 0.0
        self._stop = threading.Event()
        self._log = get_logger(consumer=stream.consumer, stream=stream.name)

    def run_once(self) -> int:
        """One round: read entries and settle each; return how many were settled."""
        entries: list[Entry] = []
        if self._retry_own:
            entries = self.stream.read(count=self.batch, block_ms=0, own_pending=True)
            self._retry_own = bool(entries)
        now = time.monotonic()
        if not entries and now >= self._next_claim:
            entries = self.stream.claim_idle(min_idle_ms=self.claim_idle_ms, count=self.batch)
            if entries:
                self._log.info("stream_entries_claimed", entries=len(entries))
            else:
                self._next_claim = now + max(self.claim_idle_ms / 2000, 0.05)
        if not entries:
            entries = self.stream.read(count=self.batch, block_ms=self.block_ms)
        if not entries:
            return 0
        self._retry_own = True
        self.settle(entries)
        self._retry_own = False
        self.stream.trim()
        if now >= self._next_cleanup:
            self.stream.forget_consumers(idle_ms=CONSUMER_IDLE_MS)
            self._next_cleanup = now + 60
        return len(entries)

    def settle(self, entries: Sequence[Entry]) -> None:
        """Store the jobs of the valid ``entries``, reject the others, acknowledge all."""
        groups: dict[tuple[str, bool, str], list[StreamRequest]] = {}
        for entry in entries:
            parsed = parse_entry(
                entry, default_callback=self.default_callback, callbacks=self.callbacks
            )
            if isinstance(parsed, Rejection):
                self._reject(parsed)
                continue
            groups.setdefault((parsed.priority, parsed.force, parsed.mode), []).append(parsed)
        for (priority, force, mode), requests in groups.items():
            try:
                self._submit(requests, priority=priority, force=force, mode=mode)
            except (UsageError, sa.exc.SQLAlchemyError) as error:
                if isinstance(error, _OUTAGES):
                    raise
                for request in requests:
                    self._submit_alone(request, entries)

    def _submit(
        self, requests: Sequence[StreamRequest], *, priority: str, force: bool, mode: str
    ) -> None:
        submissions = submit_requests(
            [request.request for request in requests],
            db=self.db,
            dispatcher=self.dispatcher,
            priority=priority,
            max_attempts=self.max_attempts,
            dedup_window=timedelta(0) if force else self.dedup_window,
            max_queued=self.max_queued,
            callbacks=self.callbacks,
            mode=mode,
            clock=self.clock,
        )
        entry_ids = [request.entry_id for request in requests]
        if self.after_commit is not None:
            self.after_commit(entry_ids)
        self.stream.ack(entry_ids)
        repeated = sum(1 for submission in submissions if submission.repeated)
        self._log.info(
            "stream_entries_submitted",
            entries=len(entry_ids),
            new_jobs=sum(1 for submission in submissions if not submission.duplicate),
            repeated=repeated,
            priority=priority,
        )

    def _submit_alone(self, request: StreamRequest, entries: Sequence[Entry]) -> None:
        try:
            self._submit(
                [request], priority=request.priority, force=request.force, mode=request.mode
            )
        except (UsageError, sa.exc.SQLAlchemyError) as error:
            if isinstance(error, _OUTAGES):
                raise
            entry = next(entry for entry in entries if entry.id == request.entry_id)
            if isinstance(error, UsageError):
                reason = str(error)
            else:
                reason = f"the database refused it: {getattr(error, 'orig', None) or error}"
            self._reject(Rejection(entry=entry, reason=reason))

    def _reject(self, rejection: Rejection) -> None:
        self.stream.reject(rejection.entry, reason=rejection.reason)
        self._log.info("stream_entry_rejected", entry=rejection.entry.id, reason=rejection.reason)

    def run(self) -> None:
        """Run rounds until :meth:`stop`; a failed round is logged and tried again later."""
        pause = 0.5
        self.stream.ensure_group()
        while not self._stop.is_set():
            try:
                self.run_once()
                pause = 0.5
            except (ScanboxError, sa.exc.SQLAlchemyError) as error:
                self._retry_own = True
                self._log.warning("stream_round_failed", error=str(error), pause_s=pause)
                self._stop.wait(pause)
                pause = min(pause * 2, MAX_PAUSE_S)

    def stop(self) -> None:
        """Ask :meth:`run` to return after its current round."""
        self._stop.set()
