"""Waiting out a Docker engine that stopped answering, instead of failing jobs through it.

An attempt that fails because the engine went away (its socket is gone while it restarts, or
it killed the fetcher as it stopped) is settled as usual: one attempt spent, backoff, QUEUED.
Then the worker's ``EngineWatch`` trips. Until the engine answers a ping again the worker claims
nothing: the next job it takes waits here, and if the engine is still away after ``patience_s``
that job is put back to sleep unclaimed, its attempts untouched. An outage so costs each worker
at most the attempt it had in hand, instead of burning through the retries of every queued job.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import docker
import requests

from worker.logs import get_logger

#: How long one ping may take before the engine counts as not answering.
PING_TIMEOUT_S = 3.0


def engine_answers(client: docker.DockerClient) -> bool:
    """Whether the engine behind ``client`` answers ``/_ping`` within ``PING_TIMEOUT_S``."""
    try:
        response = client.api.get(f"{client.api.base_url}/_ping", timeout=PING_TIMEOUT_S)
    except requests.exceptions.RequestException:
        return False
    return bool(response.ok)


def plain_pause(seconds: float) -> bool:
    """Sleep ``seconds``; never asks the wait to end early."""
    time.sleep(seconds)
    return False


class EngineWatch:
    """Tracks whether the engine went away, and waits for it to answer again.

    ``pause(seconds)`` sleeps between pings and returns ``True`` when the wait must end early
    (the worker is shutting down).
    """

    def __init__(
        self,
        *,
        ping: Callable[[], bool],
        patience_s: float = 60.0,
        first_pause_s: float = 0.25,
        max_pause_s: float = 5.0,
        pause: Callable[[float], bool] = plain_pause,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ping = ping
        self.patience_s = patience_s
        self.first_pause_s = first_pause_s
        self.max_pause_s = max_pause_s
        self.pause = pause
        self.monotonic = monotonic
        self.tripped = False

    def trip(self) -> None:
        """The engine failed an attempt: check it answers before the next claim."""
        if not self.tripped:
            get_logger().warning("engine_lost", action="claims paused until the engine answers")
        self.tripped = True

    def ready(self) -> bool:
        """Whether a job may be claimed now; waits up to ``patience_s`` for a tripped engine."""
        if not self.tripped:
            return True
        started = self.monotonic()
        wait = self.first_pause_s
        while True:
            if self.ping():
                self.tripped = False
                get_logger().info("engine_back", waited_s=round(self.monotonic() - started, 2))
                return True
            if self.monotonic() + wait - started > self.patience_s or self.pause(wait):
                return False
            wait = min(wait * 2, self.max_pause_s)
