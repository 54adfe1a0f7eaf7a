"""scanbox's job state machine: the states, the allowed moves, and the one write path.

``statemachine.states`` holds the state enum and the transition table; the write path
(``statemachine.transitions.transition``) lives in its own module so that importing the
states stays free of any database code.
"""

from statemachine.states import ALLOWED, TERMINAL, State, is_allowed

__all__ = ["ALLOWED", "TERMINAL", "State", "is_allowed"]
