"""The states a scan job moves through and the table of moves allowed between them."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a scan job is in its life."""

    #: Stored and waiting for a worker to claim it.
    QUEUED = "QUEUED"
    #: Claimed by a worker; its fetcher container is running.
    FETCHING = "FETCHING"
    #: The container printed valid output; the verdict is being worked out.
    ANALYZING = "ANALYZING"
    #: Result and verdict stored.
    COMPLETED = "COMPLETED"
    #: A permanent error: bad output, crash, out of memory, policy.
    FAILED = "FAILED"
    #: The container (or the fetch inside it) outlived its deadline.
    TIMED_OUT = "TIMED_OUT"
    #: Transient errors used up every attempt.
    DISCARDED = "DISCARDED"

    @property
    def terminal(self) -> bool:
        """Whether nothing may leave this state."""
        return self in TERMINAL


#: States nothing leaves.
TERMINAL: frozenset[State] = frozenset(
    {State.COMPLETED, State.FAILED, State.TIMED_OUT, State.DISCARDED}
)

#: Every allowed move, ``from -> {to, ...}``. Anything not listed is illegal.
ALLOWED: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.FETCHING, State.FAILED, State.DISCARDED}),
    State.FETCHING: frozenset(
        {State.ANALYZING, State.TIMED_OUT, State.FAILED, State.QUEUED, State.DISCARDED}
    ),
    State.ANALYZING: frozenset(
        {State.COMPLETED, State.TIMED_OUT, State.FAILED, State.QUEUED, State.DISCARDED}
    ),
    State.COMPLETED: frozenset(),
    State.FAILED: frozenset(),
    State.TIMED_OUT: frozenset(),
    State.DISCARDED: frozenset(),
}


def is_allowed(source: State, target: State) -> bool:
    """Whether the table allows moving a job from ``source`` to ``target``."""
    return target in ALLOWED[source]
