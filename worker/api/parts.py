"""What the API is made of, built once from the settings (``worker.api.wiring``) and handed to
``create_app``: a test or a benchmark can hand in parts of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from redis import Redis

from worker.api.artifacts import ArtifactSource
from worker.api.cursors import CursorSigner
from worker.api.forms import FormTokens
from worker.api.ratelimit import KeyRateLimiter
from worker.clock import Clock, utcnow
from worker.queue.dispatch import Dispatcher
from worker.store.database import Database
from worker.submit.callbacks import CallbackRules
from worker.submit.children import DEFAULT_LIMITS, ChildLimits
from worker.telemetry.metrics import Metrics


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """How the API submits, from the settings the CLI's ``submit`` reads too."""

    max_attempts: int = 3
    dedup_window: timedelta = timedelta(0)
    #: ``MAX_QUEUED_JOBS`` (0: no limit).
    max_queued: int = 0
    #: ``WEBHOOK_URL``, checked: the callback of a submission that names none (``None``: none).
    callback_url: str | None = None
    #: The address rules a callback obeys (``FETCHER_ALLOW_NETWORKS``, ``FETCHER_ALLOWED_PORTS``).
    callbacks: CallbackRules = field(default_factory=CallbackRules)
    #: ``MAX_SCAN_DEPTH``, ``CHILD_SCANS_DEFAULT``, ``CHILD_SCANS_MAX``.
    child_limits: ChildLimits = DEFAULT_LIMITS


@dataclass(frozen=True, kw_only=True)
class ApiParts:
    """The API's services: database, Redis, dispatcher, and the pieces made from secrets."""

    db: Database
    redis: Redis
    dispatcher: Dispatcher
    limiter: KeyRateLimiter
    cursors: CursorSigner
    forms: FormTokens
    artifacts: ArtifactSource
    metrics: Metrics
    submit: SubmitOptions
    clock: Clock = utcnow
