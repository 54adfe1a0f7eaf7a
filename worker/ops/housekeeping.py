"""The periodic chores of a worker process: reap expired leases and orphans, reconcile Redis.

Every worker process runs a housekeeping thread; a short Redis lock lets one of them do the
chores each interval. When Redis is unreachable the lease reaper still runs (it only needs the
database), so jobs of dead workers are taken back even then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import redis.exceptions
import sqlalchemy as sa
from redis import Redis

from worker.clock import Clock
from worker.errors import IllegalTransition, ScanboxError
from worker.logs import get_logger
from worker.ops.reaper import Reaper
from worker.ops.reconcile import reconcile
from worker.queue.dispatch import RQDispatcher
from worker.store.database import Database


class Housekeeper:
    """Runs ``run_once`` every ``interval`` in a daemon thread until stopped."""

    def __init__(
        self,
        *,
        db: Database,
        redis: Redis,
        dispatcher: RQDispatcher,
        reaper: Reaper,
        interval: timedelta,
        reconcile_after: timedelta,
        lock_name: str,
        clock: Clock,
    ) -> None:
        self.db = db
        self.redis = redis
        self.dispatcher = dispatcher
        self.reaper = reaper
        self.interval = interval
        self.reconcile_after = reconcile_after
        self.lock_name = lock_name
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """Do the chores now if no other process of this deployment did them this interval."""
        log = get_logger()
        try:
            mine = bool(
                self.redis.set(
                    self.lock_name,
                    "1",
                    nx=True,
                    px=max(int(self.interval.total_seconds() * 900), 1),
                )
            )
        except redis.exceptions.RedisError as error:
            log.warning("housekeeping_without_redis", error=str(error))
            self._guarded("reap_leases", lambda: self.reaper.reap_leases(now=self.clock()))
            return
        if not mine:
            return
        log.debug("housekeeping_round")
        self._guarded("reap", lambda: self.reaper.reap(now=self.clock()))
        self._guarded(
            "reconcile",
            lambda: reconcile(
                db=self.db,
                dispatcher=self.dispatcher,
                now=self.clock(),
                older_than=self.reconcile_after,
            ),
        )

    def _guarded(self, chore: str, work: Callable[[], object]) -> None:
        # A chore that meets an outage is tried again next interval; it must not end the
        # worker. A move the state machine forbids is a bug, not an outage: it is said loudly,
        # with its traceback, and never passed off as a warning.
        try:
            work()
        except IllegalTransition:
            get_logger().exception("housekeeping_bug", chore=chore)
        except (ScanboxError, redis.exceptions.RedisError, sa.exc.SQLAlchemyError) as error:
            get_logger().warning("housekeeping_failed", chore=chore, error=str(error))

    def start(self) -> None:
        """Start the housekeeping thread."""
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval.total_seconds()):
            self.run_once()
