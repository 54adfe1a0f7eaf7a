"""The API's parts built from the settings: the only module of ``worker.api`` that reads them.

The API never opens the Docker engine: it reads and writes the database and puts job ids on
Redis, nothing more.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from worker.api.artifacts import ArtifactSources, ReportArtifacts, StoredArtifacts
from worker.api.cursors import CursorSigner
from worker.api.forms import FormTokens
from worker.api.parts import ApiParts, SubmitOptions
from worker.api.ratelimit import KeyRateLimiter
from worker.app.callbacks import callback_rules, default_callback
from worker.app.clients import dispatcher, open_redis
from worker.app.database import open_database
from worker.app.services import child_limits
from worker.queue.dispatch import queue_names
from worker.settings import Settings
from worker.store.artifacts import ArtifactStore
from worker.telemetry.metrics import Metrics, SystemCollector

#: Bytes of the secret made when ``API_SECRET`` is empty.
RANDOM_SECRET_BYTES = 32


def api_secret(settings: Settings) -> bytes:
    """``API_SECRET``, or a random secret of this process when it is empty."""
    if settings.api_secret is not None and settings.api_secret.get_secret_value():
        return settings.api_secret.get_secret_value().encode()
    return secrets.token_bytes(RANDOM_SECRET_BYTES)


def build_parts(settings: Settings) -> ApiParts:
    """Every part of the API, from the settings; ``ConfigurationError`` for a bad
    ``WEBHOOK_URL``, before anything is opened."""
    submit = SubmitOptions(
        max_attempts=settings.max_attempts,
        dedup_window=timedelta(milliseconds=settings.dedup_window_ms),
        max_queued=settings.max_queued_jobs,
        callback_url=default_callback(settings),
        callbacks=callback_rules(settings),
        child_limits=child_limits(settings),
    )
    db = open_database(settings)
    redis = open_redis(settings)
    secret = api_secret(settings)
    metrics = Metrics()
    metrics.registry.register(
        SystemCollector(db=db, redis=redis, queue_names=queue_names(settings.queue_name))
    )
    return ApiParts(
        db=db,
        redis=redis,
        dispatcher=dispatcher(settings, redis),
        limiter=KeyRateLimiter(
            redis=redis,
            limit=settings.api_rate_limit,
            window_ms=settings.api_rate_window_ms,
            namespace=f"scanbox:{settings.queue_name}:api-keys",
        ),
        cursors=CursorSigner(secret=secret),
        forms=FormTokens(secret=secret),
        artifacts=ArtifactSources(
            [
                ReportArtifacts(db=db),
                StoredArtifacts(db=db, store=ArtifactStore(Path(settings.artifact_dir))),
            ]
        ),
        metrics=metrics,
        submit=submit,
    )
