"""Delivering the webhook outbox: claim what is due, sign it, send it, settle each attempt.

Every worker process runs a deliverer beside its scans. Each round claims up to
``concurrency`` due deliveries (a claim is a lease: a deliverer that dies mid-attempt leaves
its delivery to be claimed again when the lease passes), sends them at once on a small pool
of threads, and settles each attempt by :class:`~worker.webhooks.retry.RetryPolicy`. The
first round runs one poll interval after the start. Without ``WEBHOOK_SECRET`` nothing is
sent unsigned: each attempt is settled as failed for that reason, to be retried (``scanbox
webhooks retry``) once the secret is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa

from worker.clock import Clock, utcnow
from worker.errors import ScanboxError
from worker.logs import get_logger
from worker.store.database import Database
from worker.store.outbox import (
    DELIVERED,
    FAILED,
    PENDING,
    ClaimedDelivery,
    Settlement,
    claim_due,
    settle_delivery,
)
from worker.webhooks.retry import RetryPolicy
from worker.webhooks.sender import Answer, WebhookSender
from worker.webhooks.signing import Signer

#: Seconds a claim outlasts the attempt's own deadline.
LEASE_MARGIN_S = 30.0


class Deliverer:
    """Sends due webhook deliveries and records how each attempt ended."""

    def __init__(
        self,
        *,
        db: Database,
        sender: WebhookSender,
        signer: Signer | None,
        policy: RetryPolicy,
        timeout_s: float,
        concurrency: int = 4,
        poll_s: float = 1.0,
        clock: Clock = utcnow,
        epoch: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.sender = sender
        self.signer = signer
        self.policy = policy
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.lease = timedelta(seconds=timeout_s + LEASE_MARGIN_S)
        self.clock = clock
        self.epoch = epoch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._log = get_logger(component="webhooks")

    def run_once(self) -> int:
        """Claim what is due now, deliver it, settle it; return how many attempts were made."""
        now = self.clock()
        claimed = claim_due(self.db, now=now, lease_until=now + self.lease, limit=self.concurrency)
        for _ in self._pool.map(self.attempt, claimed):
            pass
        return len(claimed)

    def attempt(self, delivery: ClaimedDelivery) -> Settlement:
        """One attempt at ``delivery``: send, then record how it ended."""
        host = urlsplit(delivery.url).hostname or ""
        log = self._log.bind(
            delivery=delivery.id, job_id=delivery.job_id, attempt=delivery.attempt, host=host
        )
        if self.signer is None:
            answer = Answer(kind="error", detail="WEBHOOK_SECRET is not set: nothing was sent")
            now = self.clock()
            settlement = Settlement(status=FAILED, error=answer.detail)
        else:
            body = delivery.body.encode("utf-8")
            headers = self.signer.headers(
                message_id=delivery.id, timestamp=int(self.epoch()), body=body
            )
            answer = self.sender.send(
                url=delivery.url, headers=headers, body=body, label=f"webhook-{delivery.id}"
            )
            now = self.clock()
            settlement = self.policy.settle(answer, attempt=delivery.attempt, now=now)
        kept = settle_delivery(self.db, delivery=delivery, settlement=settlement, now=now)
        facts = {"status": answer.status, "kind": answer.kind, "peer": answer.peer}
        if not kept:
            log.info("webhook_attempt_superseded", **facts)
        elif settlement.status == DELIVERED:
            log.info("webhook_delivered", **facts)
        elif settlement.status == PENDING:
            assert settlement.next_attempt_at is not None
            retry_in = (settlement.next_attempt_at - now).total_seconds()
            log.info("webhook_retry", detail=answer.detail, retry_in_s=round(retry_in, 3), **facts)
        else:
            log.warning("webhook_failed", detail=answer.detail, **facts)
        return settlement

    def start(self) -> None:
        """Deliver in a daemon thread, one round every poll interval, until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except (ScanboxError, sa.exc.SQLAlchemyError) as error:
                # The database away, say: the deliveries wait in the outbox for the next round.
                self._log.warning("webhook_round_failed", error=str(error))
