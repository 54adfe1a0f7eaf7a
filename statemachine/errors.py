"""What the state machine raises.

The tree::

    StateMachineError        catch this to catch everything the state machine raises
    └── IllegalTransition    a move the table forbids: a bug in the caller, never retried

These are deliberately not ``worker.errors.ScanboxError``: handlers of the expected,
operational errors (a periodic chore that logs a warning and tries again next round) must not
swallow a bug. Losing an optimistic-lock race is not an error at all: ``transition`` returns
``None``.
"""

from __future__ import annotations


class StateMachineError(Exception):
    """Base of every error the state machine raises."""


class IllegalTransition(StateMachineError):
    """A move between two states that the transition table forbids."""

    def __init__(self, job_id: str, source: str, target: str) -> None:
        super().__init__(f"job {job_id}: {source} -> {target} is not an allowed transition")
        self.job_id = job_id
        self.source = source
        self.target = target
