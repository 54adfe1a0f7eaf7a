"""Wiring the submit stream's consumer: built from the settings, run beside scans or alone.

Every worker process reads the stream on a thread of its own (its consumer name is the
process's id); ``scanbox intake`` runs the same consumer with no scans and no Docker socket,
for a host that only turns producers' entries into jobs.
"""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from types import FrameType

from redis import Redis

from worker.app.callbacks import callback_rules, default_callback
from worker.app.clients import check_redis, dispatcher, new_process_id, open_redis
from worker.app.database import open_database
from worker.errors import ConfigurationError
from worker.logs import configure_logging, get_logger
from worker.queue.stream import SubmitStream
from worker.settings import Settings
from worker.store.database import Database
from worker.submit.intake import AfterCommit, StreamIntake


def build_intake(
    settings: Settings,
    *,
    db: Database,
    redis: Redis,
    consumer: str,
    after_commit: AfterCommit | None = None,
) -> StreamIntake:
    """The consumer ``consumer`` of ``SUBMIT_STREAM``."""
    return StreamIntake(
        db=db,
        stream=SubmitStream(
            redis=redis,
            name=settings.submit_stream,
            consumer=consumer,
            rejected_max=settings.submit_rejected_max_length,
        ),
        dispatcher=dispatcher(settings, redis),
        callbacks=callback_rules(settings),
        default_callback=default_callback(settings),
        max_attempts=settings.max_attempts,
        dedup_window=timedelta(milliseconds=settings.dedup_window_ms),
        max_queued=settings.max_queued_jobs,
        batch=settings.submit_stream_batch,
        claim_idle_ms=settings.submit_stream_claim_idle_ms,
        after_commit=after_commit,
    )


class IntakeThread:
    """A stream consumer running in a daemon thread of a worker process."""

    def __init__(self, intake: StreamIntake) -> None:
        self.intake = intake
        self._thread = threading.Thread(target=intake.run, name="intake", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.intake.stop()
        self._thread.join()


def run_intake(settings: Settings, *, after_commit: AfterCommit | None = None) -> int:
    """``scanbox intake``: consume ``SUBMIT_STREAM`` until SIGTERM or SIGINT; exit status."""
    if not settings.submit_stream:
        raise ConfigurationError("SUBMIT_STREAM is empty: there is no stream to read")
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    check_redis(settings)
    db = open_database(settings)
    db.create_schema()
    redis = open_redis(settings)
    consumer = new_process_id()
    intake = build_intake(
        settings, db=db, redis=redis, consumer=consumer, after_commit=after_commit
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        intake.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log = get_logger(consumer=consumer)
    log.info("intake_started", stream=settings.submit_stream)
    try:
        intake.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.dispose()
        redis.close()
        log.info("intake_stopped")
    return 0
