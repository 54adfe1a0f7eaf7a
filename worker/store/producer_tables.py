"""The tables of producers: API keys, the requests they made, the webhook outbox."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from statemachine.tables import table_of, timestamp


class ApiKey(SQLModel, table=True):
    """A key the HTTP API accepts: its name, its scope, and a hash of it (never the key)."""

    __tablename__ = "api_keys"

    #: A short public id, also the key's visible prefix (``sbx_<id>_…``).
    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=200)
    #: ``read``, ``submit`` (and read) or ``admin`` (everything).
    scope: str = Field(max_length=16)
    #: SHA-256 of the whole key, hex; what a request's key is looked up by.
    key_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = timestamp(nullable=False)
    #: When ``scanbox apikey revoke`` revoked it; a revoked key is refused.
    revoked_at: datetime | None = timestamp()


class SubmitRequest(SQLModel, table=True):
    """What a producer asked for with one submission: its request id, where to call back.

    A row is written, with the job it made or was folded into, for a submission that names a
    request id (a stream entry always does: its own id, if not the producer's) or a callback
    URL; a plain submission writes none. Several requests may share one job (deduplication).
    """

    __tablename__ = "submit_requests"

    id: int | None = Field(default=None, primary_key=True)
    #: The idempotency key: a request id seen before returns its job and stores nothing new.
    request_id: str | None = Field(default=None, unique=True, max_length=200)
    job_id: str = Field(foreign_key="scan_jobs.id", index=True, max_length=32)
    #: Where the job's terminal state is POSTed (the submission's own, or ``WEBHOOK_URL``).
    callback_url: str | None = None
    #: The stream entry this request came from (``scanbox:submit``), if it did.
    entry_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = timestamp(nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """One webhook to deliver: written with the job's terminal move, then sent until done.

    ``id`` is the Standard Webhooks message id (``webhook-id``): the same on every attempt, so
    a receiver can drop repeats. ``body`` is fixed when the row is written.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=40)
    job_id: str = Field(foreign_key="scan_jobs.id", index=True, max_length=32)
    #: The request this delivery answers (``submit_requests.request_id``), if it had one.
    request_id: str | None = Field(default=None, max_length=200)
    url: str
    #: The event type, ``scan.completed``, ``scan.failed``, ...
    event: str = Field(max_length=32)
    #: The JSON body, exactly as it is signed and sent.
    body: str = Field(sa_column=Column(sa.Text(), nullable=False))
    #: ``pending`` (to be sent at ``next_attempt_at``), ``delivered`` or ``failed``.
    status: str = Field(default="pending", max_length=16)
    #: Attempts started so far; a claim counts one.
    attempts: int = 0
    #: When it may be tried next; a claimed delivery's is its lease (it is tried again then
    #: if the deliverer died).
    next_attempt_at: datetime = timestamp(nullable=False)
    created_at: datetime = timestamp(nullable=False)
    last_attempt_at: datetime | None = timestamp()
    delivered_at: datetime | None = timestamp()
    #: The receiver's HTTP status on the last attempt (``None``: no answer).
    last_status: int | None = None
    #: Why the last attempt did not deliver, in scanbox's words.
    last_error: str | None = None
    #: The start of the receiver's last answer, made printable and cut short.
    last_response: str | None = None
    #: The address the egress proxy connected the last attempt to.
    last_peer: str | None = Field(default=None, max_length=64)


#: Typed tables, for statements built by hand.
API_KEYS = table_of(ApiKey)
REQUESTS = table_of(SubmitRequest)
DELIVERIES = table_of(WebhookDelivery)
