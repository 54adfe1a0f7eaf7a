"""Drain mode: the processes of one ``scanbox worker --max-jobs N`` take at most N jobs in all.

The budget lives in shared memory made before the worker processes fork. A process takes one
unit from it before it asks the queues for a job and gives it back if no job came (the queues
were empty), so at most N jobs are taken however many processes share the budget. A process
stops when the budget is spent; with ``--burst`` it also stops when the queues are empty.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from rq import Queue
from rq.job import Job

from worker.queue.vetting import VettingWorker


class JobBudget:
    """At most ``limit`` jobs, shared by every process forked after it was made."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a job budget needs a limit of at least 1")
        self.limit = limit
        self._left: Synchronized[int] = multiprocessing.get_context("fork").Value("q", limit)

    @property
    def left(self) -> int:
        """Jobs that may still be taken."""
        return int(self._left.value)

    @property
    def spent(self) -> bool:
        """Whether no job may be taken any more."""
        return self.left <= 0

    def take(self) -> bool:
        """Take one job's worth of the budget; ``False`` if it is spent."""
        with self._left.get_lock():
            if self._left.value <= 0:
                return False
            self._left.value -= 1
            return True

    def give_back(self) -> None:
        """Return a unit taken for a job that never came."""
        with self._left.get_lock():
            self._left.value += 1


class BudgetedWorker(VettingWorker):
    """An RQ worker that asks the queues for a job only while its budget allows one."""

    def __init__(self, *args: Any, budget: JobBudget | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        if self.budget is not None and not self.budget.take():
            return None  # RQ's loop ends on "no job", as when a burst finds the queues empty
        result: tuple[Job, Queue] | None = super().dequeue_job_and_maintain_ttl(
            timeout, max_idle_time
        )
        if result is None and self.budget is not None:
            self.budget.give_back()
        return result
