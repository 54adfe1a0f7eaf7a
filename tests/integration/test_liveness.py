"""Heartbeats on a real Redis: alive while beating, dead once lapsed, never dead right after
Redis lost every key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis

from tests.services import RedisServer, poll
from worker.queue.liveness import Heartbeat, Liveness

TTL = timedelta(milliseconds=400)


@pytest.fixture
def liveness(redis_server: RedisServer) -> Iterator[Liveness]:
    client = Redis.from_url(redis_server.url.replace("/0", "/7"))
    client.flushdb()
    yield Liveness(redis=client, namespace=f"test-{uuid.uuid4().hex[:8]}:workers")
    client.flushdb()
    client.close()


def _dead_once_settled(liveness: Liveness, beating: Heartbeat, *, quiet: str) -> bool | None:
    dead = liveness.dead({beating.worker_id, quiet})
    assert beating.worker_id not in dead, "a worker that beats was taken for dead"
    return True if dead == {quiet} else None


def test_a_worker_that_beats_is_alive_and_one_that_stopped_is_dead(liveness: Liveness) -> None:
    beating = Heartbeat(liveness=liveness, worker_id="beating", ttl=TTL).start()
    try:
        # Heartbeats younger than the time to live: nobody is dead yet.
        assert liveness.dead({"beating", "never-beat"}) == set()
        poll(
            lambda: _dead_once_settled(liveness, beating, quiet="never-beat"),
            timeout_s=10,
            what="a worker that never beat to count as dead",
        )
        # A worker killed with SIGKILL: its key lapses within the time to live.
        liveness.beat("killed", ttl=TTL)
        assert liveness.dead({"killed"}) == set()
        poll(
            lambda: _dead_once_settled(liveness, beating, quiet="killed"),
            timeout_s=10,
            what="the killed worker's heartbeat to lapse",
        )
    finally:
        beating.stop()
    # A worker that stopped removed its heartbeat: dead at once.
    assert liveness.dead({"beating"}) == {"beating"}


def test_after_redis_lost_every_key_no_worker_is_dead_for_a_time_to_live(
    liveness: Liveness,
) -> None:
    beating = Heartbeat(liveness=liveness, worker_id="beating", ttl=TTL).start()
    try:
        poll(
            lambda: _dead_once_settled(liveness, beating, quiet="gone"),
            timeout_s=10,
            what="the heartbeats to settle",
        )
        liveness.redis.flushdb()
        # Every key is gone, the beating worker's too: still, nobody is dead.
        assert liveness.dead({"beating", "gone"}) == set()
        poll(
            lambda: True if liveness.redis.exists(liveness.key("beating")) else None,
            timeout_s=10,
            what="the next beat",
        )
        assert liveness.dead({"beating", "gone"}) == set()
        poll(
            lambda: _dead_once_settled(liveness, beating, quiet="gone"),
            timeout_s=10,
            what="the heartbeats to settle again",
        )
    finally:
        beating.stop()
