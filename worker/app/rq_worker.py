"""RQ's in-process worker as scanbox runs it: vetted jobs, a shared budget, signals routed to
scanbox's graceful shutdown, a stop that RQ's command listener can't hold up."""

from __future__ import annotations

import inspect
from types import FrameType
from typing import Any

from rq import Queue
from rq.job import Job

from worker.app.drain import BudgetedWorker
from worker.logs import get_logger, log_soon
from worker.scan.shutdown import Shutdown

#: Longest RQ waits between attempts to reach a lost Redis.
MAX_REDIS_WAIT_S = 5.0
#: RQ blocks on a dequeue for ``worker_ttl`` less this many seconds.
RQ_DEQUEUE_MARGIN_S = 15
#: Longest a stopping worker waits for RQ's command listener (a pub/sub thread) to end.
LISTENER_STOP_S = 1.0


class ScanWorker(BudgetedWorker):
    """RQ's in-process worker, with signals routed to scanbox's graceful shutdown.

    The first SIGTERM/SIGINT lets the running scan go on for the grace period and claims
    nothing new; a second one interrupts the scan at once. Either way the scan's own code
    puts the job back in QUEUED, instead of RQ raising ``SystemExit`` through it.
    """

    #: Longest pause between attempts to reach a lost Redis (RQ's default is a minute).
    max_connection_wait_time = MAX_REDIS_WAIT_S

    def __init__(self, *args: Any, shutdown: Shutdown, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdown = shutdown
        self.jobs_done = 0

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.shutdown.request()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        self.shutdown.force()
        log_soon(get_logger(worker=self.name).warning, "shutdown_forced")

    def unsubscribe(self) -> None:
        """RQ's unsubscribe, with a bounded wait for its command listener thread.

        The listener polls for a message every 60 s; once unsubscribed, it waits that long for
        a subscription instead. RQ expects the listener's ``stop()`` only to flag it, but from
        redis-py 8.2 ``stop()`` joins the thread, without a deadline unless given one: a
        worker stopping at that moment would hang for up to a minute, past its grace, and be
        killed before it removed its standby containers. The listener is a daemon thread; one
        left waiting ends with the process.
        """
        listener = self.pubsub_thread
        if listener is None:
            return
        self.pubsub.unsubscribe()
        if "timeout" in inspect.signature(listener.stop).parameters:
            listener.stop(timeout=LISTENER_STOP_S)
        else:
            listener.stop()
            listener.join(timeout=LISTENER_STOP_S)
        self.pubsub.close()

    def execute_job(self, job: Job, queue: Queue) -> None:
        super().execute_job(job, queue)
        self.jobs_done += 1
