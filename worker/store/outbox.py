"""The webhook outbox: deliveries written with a job's terminal move, claimed, then settled.

:func:`queue_webhooks` runs inside the transaction of a terminal transition (and of a
submission folded into a job that is already terminal), so a delivery exists exactly when the
state it reports does: a worker that dies after the commit leaves the row for any other.

A delivery is ``pending`` until it is ``delivered`` or ``failed``. Claiming it counts an
attempt and moves ``next_attempt_at`` forward by a lease; the claimer settles it, under the
condition that its attempt is still the latest, so a deliverer that died mid-attempt only
delays its delivery by the lease, and one that comes back late changes nothing. Delivery is
at least once: a receiver drops repeats by ``webhook-id`` (the delivery's ``id``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from worker.errors import UsageError
from worker.store.database import Database
from worker.store.models import DELIVERIES, WebhookDelivery
from worker.store.requests import Callback, callbacks_of
from worker.store.webhook_body import event_body, job_summary

#: A delivery's states.
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATUSES = (PENDING, DELIVERED, FAILED)
#: Characters of the receiver's answer kept on the row.
MAX_RESPONSE_CHARS = 500
#: Characters of an error kept on the row.
MAX_ERROR_CHARS = 500


def new_delivery_id() -> str:
    """A fresh message id (``webhook-id``): ``msg_`` and 32 hex digits."""
    return f"msg_{secrets.token_hex(16)}"


def queue_webhooks(
    connection: Connection,
    *,
    job_id: str,
    now: datetime,
    callbacks: Sequence[Callback] | None = None,
) -> int:
    """Write one delivery per callback the requests of terminal ``job_id`` asked for.

    Call it in the transaction that made the job terminal (or, with ``callbacks``, that folded
    a request with a callback into a terminal job); returns how many were written.
    """
    if callbacks is None:
        callbacks = callbacks_of(connection, job_id)
    if not callbacks:
        return 0
    state, data = job_summary(connection, job_id)
    rows = []
    for callback in callbacks:
        event, body = event_body(state=state, data=data, request_id=callback.request_id, now=now)
        rows.append(
            {
                "id": new_delivery_id(),
                "job_id": job_id,
                "request_id": callback.request_id,
                "url": callback.url,
                "event": event,
                "body": body,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    connection.execute(DELIVERIES.insert(), rows)
    return len(rows)


@dataclass(frozen=True, kw_only=True)
class ClaimedDelivery:
    """A delivery one deliverer now attempts: attempt number ``attempt``."""

    id: str
    job_id: str
    url: str
    body: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class Settlement:
    """How an attempt ended: the delivery's new status and what the receiver said."""

    status: str
    #: When to try again (``status`` pending), else ``None``.
    next_attempt_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    response: str | None = None
    peer: str | None = None


def _due(now: datetime, limit: int) -> sa.Select[str, int]:
    return (
        sa.select(DELIVERIES.c.id, DELIVERIES.c.attempts)
        .where(DELIVERIES.c.status == PENDING, DELIVERIES.c.next_attempt_at <= now)
        .order_by(DELIVERIES.c.next_attempt_at)
        .limit(limit)
    )


def claim_due(
    db: Database, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` deliveries due at ``now``, each until ``lease_until``.

    A read comes first, so that a poll that finds nothing due takes no write lock.
    """
    with db.read() as session:
        if not session.execute(_due(now, 1)).first():
            return []

    def claim(connection: Connection) -> list[ClaimedDelivery]:
        claimed = []
        for delivery_id, attempts in connection.execute(_due(now, limit)).all():
            moved = connection.execute(
                DELIVERIES.update()
                .where(
                    DELIVERIES.c.id == delivery_id,
                    DELIVERIES.c.status == PENDING,
                    DELIVERIES.c.attempts == attempts,
                    DELIVERIES.c.next_attempt_at <= now,
                )
                .values(attempts=attempts + 1, next_attempt_at=lease_until, last_attempt_at=now)
            )
            if moved.rowcount != 1:
                continue
            row = connection.execute(
                sa.select(DELIVERIES.c.job_id, DELIVERIES.c.url, DELIVERIES.c.body).where(
                    DELIVERIES.c.id == delivery_id
                )
            ).one()
            claimed.append(
                ClaimedDelivery(
                    id=delivery_id,
                    job_id=row.job_id,
                    url=row.url,
                    body=row.body,
                    attempt=attempts + 1,
                )
            )
        return claimed

    return db.run_write(claim)


def settle_delivery(
    db: Database, *, delivery: ClaimedDelivery, settlement: Settlement, now: datetime
) -> bool:
    """Record how ``delivery``'s attempt ended; ``False`` if a later attempt took it over."""
    if settlement.status not in STATUSES:
        raise ValueError(f"unknown delivery status {settlement.status!r}")
    values: dict[str, object] = {
        "status": settlement.status,
        "last_status": settlement.http_status,
        "last_error": None if settlement.error is None else settlement.error[:MAX_ERROR_CHARS],
        "last_response": None
        if settlement.response is None
        else settlement.response[:MAX_RESPONSE_CHARS],
        "last_peer": settlement.peer,
    }
    if settlement.status == PENDING:
        if settlement.next_attempt_at is None:
            raise ValueError("a delivery to try again needs its next attempt's time")
        values["next_attempt_at"] = settlement.next_attempt_at
    if settlement.status == DELIVERED:
        values["delivered_at"] = now

    def write(connection: Connection) -> bool:
        result = connection.execute(
            DELIVERIES.update()
            .where(
                DELIVERIES.c.id == delivery.id,
                DELIVERIES.c.status == PENDING,
                DELIVERIES.c.attempts == delivery.attempt,
            )
            .values(**values)
        )
        return result.rowcount == 1

    return db.run_write(write)


def list_deliveries(
    db: Database, *, status: str | None = None, job_id: str | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    """The newest deliveries, optionally only those in ``status`` or of ``job_id``."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    query = select(WebhookDelivery)
    if status is not None:
        if status not in STATUSES:
            names = ", ".join(STATUSES)
            raise UsageError(f"unknown delivery status {status!r} (use one of {names})")
        query = query.where(WebhookDelivery.status == status)
    if job_id is not None:
        query = query.where(WebhookDelivery.job_id == job_id)
    query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
    with db.read() as session:
        return list(session.exec(query.limit(limit)))


def retry_deliveries(db: Database, *, ids: Sequence[str], now: datetime) -> list[str]:
    """Make failed deliveries ``ids`` pending again, due now, with a fresh attempt count.

    Returns the ids that were failed and are pending now; the others are left as they are.
    """

    def write(connection: Connection) -> list[str]:
        retried = []
        for delivery_id in dict.fromkeys(ids):
            result = connection.execute(
                DELIVERIES.update()
                .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == FAILED)
                .values(status=PENDING, attempts=0, next_attempt_at=now)
            )
            if result.rowcount == 1:
                retried.append(delivery_id)
        return retried

    return db.run_write(write)


def failed_delivery_ids(db: Database, *, limit: int) -> list[str]:
    """The ids of up to ``limit`` failed deliveries, oldest first."""
    with db.read() as session:
        rows = session.execute(
            sa.select(DELIVERIES.c.id)
            .where(DELIVERIES.c.status == FAILED)
            .order_by(DELIVERIES.c.created_at)
            .limit(limit)
        )
        return [str(row.id) for row in rows]
