"""Which worker processes are alive: the heartbeat each keeps in Redis, read by the reaper.

Each worker process writes its key ``<namespace>:alive:<worker id>`` with a time to live
``ttl`` before it makes any container, and again every ``ttl / 4`` from a thread
(:class:`Heartbeat`); it deletes the key when it stops. A process killed with SIGKILL stops
writing, and its key is gone at most ``ttl`` after its last beat: with ``ttl`` set to the
housekeeping interval, the reaper's second round after the kill finds it missing.

A missing key means "dead" only once Redis has held heartbeats for a whole ``ttl``
(:meth:`Liveness.dead`). A Redis that restarted empty, or was flushed, has lost every key;
live workers write theirs again within ``ttl / 4``, and until ``ttl`` has passed since the
first beat that found Redis empty (the ``fresh`` key, set by that beat with the same time to
live), every worker counts as alive. Redis keeps the time, so the clocks of the workers'
hosts never enter into it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import timedelta
from typing import Protocol

import redis.exceptions
from redis import Redis

from worker.logs import get_logger

#: Beats per time to live: a beat may be late three times over before the key lapses.
BEATS_PER_TTL = 4

#: One beat: the worker's key; the ``since`` marker (no expiry) and, when that marker was
#: missing (Redis empty), the ``fresh`` key that says heartbeats are younger than ``ttl``.
_BEAT = """
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
if redis.call('SET', KEYS[2], '1', 'NX') then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
end
return 1
"""


class DeadWorkers(Protocol):
    """What the reaper asks of the heartbeats."""

    def dead(self, worker_ids: Collection[str]) -> set[str]:
        """Those of ``worker_ids`` known to be dead."""


class Liveness:
    """Reads and writes the heartbeats of one deployment's worker processes."""

    def __init__(self, *, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self._beat = redis.register_script(_BEAT)

    def key(self, worker_id: str) -> str:
        """The heartbeat key of ``worker_id``."""
        return f"{self.namespace}:alive:{worker_id}"

    @property
    def _since(self) -> str:
        return f"{self.namespace}:since"

    @property
    def _fresh(self) -> str:
        return f"{self.namespace}:fresh"

    def beat(self, worker_id: str, *, ttl: timedelta) -> None:
        """Say ``worker_id`` is alive for ``ttl`` more (raises ``RedisError``)."""
        self._beat(
            keys=[self.key(worker_id), self._since, self._fresh],
            args=[max(int(ttl.total_seconds() * 1000), 1), "1"],
        )

    def forget(self, worker_id: str) -> None:
        """Remove ``worker_id``'s heartbeat: it is stopping (raises ``RedisError``)."""
        self.redis.delete(self.key(worker_id))

    def dead(self, worker_ids: Collection[str]) -> set[str]:
        """Those of ``worker_ids`` known to be dead: no heartbeat, in a Redis that has kept
        heartbeats for a whole time to live (else none is). Raises ``RedisError``."""
        ids = sorted(set(worker_ids))
        if not ids:
            return set()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._since)
            pipe.exists(self._fresh)
            for worker_id in ids:
                pipe.exists(self.key(worker_id))
            since, fresh, *alive = pipe.execute()
        if not since or fresh:
            return set()
        return {worker_id for worker_id, found in zip(ids, alive, strict=True) if not found}


class Heartbeat:
    """Keeps one worker process's heartbeat, in a daemon thread, until ``stop``."""

    def __init__(self, *, liveness: Liveness, worker_id: str, ttl: timedelta) -> None:
        self.liveness = liveness
        self.worker_id = worker_id
        self.ttl = ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._failing = False

    def beat(self) -> bool:
        """Beat once now; ``False`` (and one warning per outage) if Redis did not take it."""
        try:
            self.liveness.beat(self.worker_id, ttl=self.ttl)
        except redis.exceptions.RedisError as error:
            if not self._failing:
                get_logger(worker=self.worker_id).warning("heartbeat_failed", error=str(error))
            self._failing = True
            return False
        self._failing = False
        return True

    def start(self) -> Heartbeat:
        """Beat now, then every ``ttl / 4`` in the background."""
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and remove the heartbeat (this process is stopping)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.liveness.forget(self.worker_id)
        except redis.exceptions.RedisError as error:
            get_logger(worker=self.worker_id).info("heartbeat_not_removed", error=str(error))

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / BEATS_PER_TTL):
            self.beat()
