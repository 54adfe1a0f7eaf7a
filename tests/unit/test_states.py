from __future__ import annotations

import itertools

import pytest

from statemachine.states import ALLOWED, TERMINAL, State, is_allowed

EXPECTED = {
    (State.QUEUED, State.FETCHING),
    (State.FETCHING, State.ANALYZING),
    (State.ANALYZING, State.COMPLETED),
    (State.FETCHING, State.TIMED_OUT),
    (State.ANALYZING, State.TIMED_OUT),
    (State.QUEUED, State.FAILED),
    (State.FETCHING, State.FAILED),
    (State.ANALYZING, State.FAILED),
    (State.FETCHING, State.QUEUED),
    (State.ANALYZING, State.QUEUED),
    (State.FETCHING, State.DISCARDED),
    (State.ANALYZING, State.DISCARDED),
    (State.QUEUED, State.DISCARDED),
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(State, State)))
def test_table_matches_the_design(source: State, target: State) -> None:
    assert is_allowed(source, target) == ((source, target) in EXPECTED)


def test_terminal_states_have_no_exits() -> None:
    assert {State.COMPLETED, State.FAILED, State.TIMED_OUT, State.DISCARDED} == TERMINAL
    for state in TERMINAL:
        assert ALLOWED[state] == frozenset()
        assert state.terminal
    assert not any(state.terminal for state in State if state not in TERMINAL)


def test_every_state_has_a_table_entry() -> None:
    assert set(ALLOWED) == set(State)
