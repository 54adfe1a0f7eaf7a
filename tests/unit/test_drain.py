"""The drain budget: at most N jobs taken, however many processes share it."""

from __future__ import annotations

import multiprocessing

import pytest

from worker.app.drain import JobBudget

CONTEXT = multiprocessing.get_context("fork")


def _take_all(budget: JobBudget, taken: multiprocessing.Queue[int]) -> None:
    count = 0
    while budget.take():
        count += 1
    taken.put(count)


def test_forked_processes_take_no_more_than_the_budget_in_all() -> None:
    budget = JobBudget(25)
    taken: multiprocessing.Queue[int] = CONTEXT.Queue()
    processes = [CONTEXT.Process(target=_take_all, args=(budget, taken)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
    counts = [taken.get(timeout=10) for _ in processes]
    assert sum(counts) == 25
    assert budget.spent
    assert budget.left == 0


def test_a_unit_taken_for_a_job_that_never_came_is_given_back() -> None:
    budget = JobBudget(1)
    assert budget.take()
    assert budget.spent
    assert not budget.take()
    budget.give_back()
    assert (budget.left, budget.spent) == (1, False)


def test_a_budget_needs_at_least_one_job() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        JobBudget(0)
