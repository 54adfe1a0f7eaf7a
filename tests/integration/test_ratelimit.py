"""The per-host token bucket and the deferral marker, against a real Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from tests.services import RedisServer
from worker.queue.deferral import EARLY_MARGIN_S, RedisDeferrals
from worker.queue.dispatch import RQDispatcher, scan_job_id
from worker.queue.ratelimit import HostRates, Rate, RedisRateLimiter

T0 = 1_800_000_000_000


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    client.close()


class Clock:
    """Milliseconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _limiter(redis: Redis, clock: Clock | None, **overrides: Rate) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis=redis,
        rates=HostRates(default=Rate(per_second=2, burst=3), overrides=overrides),
        namespace=f"test-{uuid.uuid4().hex[:8]}",
        clock_ms=clock,
    )


def test_a_burst_is_served_then_refused_with_waits_one_interval_apart(redis: Redis) -> None:
    clock = Clock()
    limiter = _limiter(redis, clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 0]
    assert [limiter.acquire("a") for _ in range(3)] == [0.5, 1.0, 1.5]
    clock.now += 500
    assert limiter.acquire("a") == 0, "one token came back after 1/rate"
    assert limiter.acquire("a") > 0


def test_the_bucket_refills_at_the_rate_up_to_the_burst(redis: Redis) -> None:
    clock = Clock()
    limiter = _limiter(redis, clock)
    for _ in range(3):
        limiter.acquire("a")
    clock.now += 60_000
    assert [limiter.acquire("a") for _ in range(4)] == [0, 0, 0, 0.5]


def test_hosts_have_buckets_of_their_own(redis: Redis) -> None:
    clock = Clock()
    limiter = _limiter(redis, clock, b=Rate(per_second=0.1, burst=1), c=Rate(per_second=0))
    for _ in range(10):
        limiter.acquire("a")
    assert limiter.acquire("b") == 0
    assert limiter.acquire("b") == 10.0
    assert [limiter.acquire("c") for _ in range(50)] == [0] * 50
    assert limiter.acquire("d") == 0


def test_a_hold_refuses_everything_until_it_ends_and_never_shrinks(redis: Redis) -> None:
    clock = Clock()
    limiter = _limiter(redis, clock, free=Rate(per_second=0))
    limiter.hold("a", seconds=30)
    limiter.hold("a", seconds=5)
    assert limiter.acquire("a") == 30.0
    assert limiter.acquire("a") == 30.5, "refusals queue up one interval apart"
    limiter.hold("free", seconds=2)
    assert limiter.acquire("free") == 2.0
    clock.now += 30_000
    assert limiter.acquire("a") == 0
    clock.now += 2_000
    assert limiter.acquire("free") == 0


def test_buckets_expire_once_idle(redis: Redis) -> None:
    limiter = _limiter(redis, Clock())
    limiter.acquire("a")
    limiter.hold("held", seconds=100)
    assert 0 < int(redis.pttl(limiter.key("a"))) <= 61_500
    assert 100_000 < int(redis.pttl(limiter.key("held"))) <= 160_000


def test_the_redis_clock_is_used_when_none_is_given(redis: Redis) -> None:
    # One token a second: however slow the machine, the second acquire comes well within it.
    limiter = _limiter(redis, None, a=Rate(per_second=1, burst=1))
    assert limiter.acquire("a") == 0
    assert 0.5 < limiter.acquire("a") <= 1.0


def test_replicas_racing_on_one_bucket_get_exactly_its_tokens(redis_server: RedisServer) -> None:
    clock = Clock()
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    rates = HostRates(default=Rate(per_second=1, burst=7))
    clients = [Redis.from_url(redis_server.url) for _ in range(8)]
    limiters = [
        RedisRateLimiter(redis=client, rates=rates, namespace=namespace, clock_ms=clock)
        for client in clients
    ]
    start = threading.Barrier(len(limiters))
    waits: list[float] = []
    lock = threading.Lock()

    def race(limiter: RedisRateLimiter) -> None:
        start.wait(timeout=10)
        mine = [limiter.acquire("a") for _ in range(5)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=race, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for client in clients:
        client.close()
    assert waits.count(0) == 7
    refused = sorted(wait for wait in waits if wait > 0)
    assert refused == [float(n) for n in range(1, 34)], "each refusal got a slot of its own"


def test_a_deferral_is_a_scheduled_rq_job_and_marks_early_wakes(redis: Redis) -> None:
    base = f"test-{uuid.uuid4().hex[:8]}"
    dispatcher = RQDispatcher(redis=redis, base_queue=base, job_timeout_s=60)
    deferrals = RedisDeferrals(dispatcher=dispatcher, redis=redis, namespace=f"{base}:deferred")
    job_id = "f" * 32
    assert deferrals.pending(job_id) is False
    deferrals.defer(job_id, priority="high", attempt=2, delay_s=30)
    assert deferrals.pending(job_id) is True
    assert 0 < int(redis.pttl(deferrals.key(job_id))) <= (30 - EARLY_MARGIN_S) * 1000
    queue = Queue(f"{base}:high", connection=redis, serializer=JSONSerializer)
    [scheduled] = queue.scheduled_job_registry.get_job_ids()
    assert (scan_job_id(scheduled), scheduled.split("-")[1]) == (job_id, "2")
    job = queue.fetch_job(scheduled)
    assert job is not None
    assert (job.func_name, job.args) == ("worker.task.run_scan", [job_id])
    deferrals.defer("e" * 32, priority="normal", attempt=1, delay_s=0.2)
    assert deferrals.pending("e" * 32) is False, "too short to mark: its wake comes at once"
