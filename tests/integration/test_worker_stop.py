"""A stopping worker process is not held up by RQ's command listener.

RQ listens for commands (``rq`` ``shutdown``, ``kill-horse``) on a pub/sub thread that polls
every 60 s. Once unsubscribed, the thread waits that long for a subscription instead, and
from redis-py 8.2 RQ's ``unsubscribe`` joins it without a deadline: a worker told to stop at
that moment hung for up to a minute, past its grace, and was killed with its standby
containers still there (the crash soak caught it). ``ScanWorker.unsubscribe`` bounds the wait.
"""

from __future__ import annotations

import threading

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from tests.services import RedisServer, poll
from worker.app.rq_worker import ScanWorker
from worker.queue.vetting import VettedJob
from worker.scan.shutdown import Shutdown

#: Far less than the listener's 60 s poll, far more than the bounded wait.
DEADLINE_S = 15


def test_unsubscribing_returns_while_the_listener_waits_for_a_subscription(
    redis_server: RedisServer,
) -> None:
    redis = Redis.from_url(redis_server.url)
    queue = Queue("stop-test", connection=redis, serializer=JSONSerializer, job_class=VettedJob)
    worker = ScanWorker(
        [queue],
        connection=redis,
        serializer=JSONSerializer,
        job_class=VettedJob,
        shutdown=Shutdown(grace_s=1),
    )
    worker.subscribe()  # type: ignore[no-untyped-call]
    listener = worker.pubsub_thread
    assert listener is not None
    assert listener.is_alive()
    assert worker.pubsub is not None
    poll(lambda: True if worker.pubsub.subscribed else None, timeout_s=10, what="subscribed")
    # Unsubscribed first, as RQ's teardown does: the listener's next poll waits for a
    # subscription that never comes.
    worker.pubsub.unsubscribe()
    poll(lambda: True if not worker.pubsub.subscribed else None, timeout_s=10, what="unsubscribed")
    returned = threading.Event()
    stopping = threading.Thread(target=lambda: (worker.unsubscribe(), returned.set()), daemon=True)
    stopping.start()
    try:
        assert returned.wait(timeout=DEADLINE_S), "unsubscribe waited for the listener's poll"
    finally:
        redis.close()
