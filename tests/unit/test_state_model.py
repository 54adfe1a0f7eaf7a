"""A Hypothesis stateful model of the state machine against the real write path."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlmodel import func, select

from statemachine.states import TERMINAL, State, is_allowed
from statemachine.transitions import create_job, transition
from worker.errors import IllegalTransition
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class StateMachineModel(RuleBasedStateMachine):
    """Random moves, fresh and stale, legal and illegal, checked against a model."""

    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.db = Database(url=":memory:")
        self.db.create_schema()
        self.model: dict[str, tuple[State, int]] = {}
        self.history: dict[str, list[int]] = {}
        self.counter = itertools.count()
        self.tick = itertools.count(1)

    def teardown(self) -> None:
        self.db.dispose()

    @rule(target=jobs)
    def create(self) -> str:
        job_id = f"job{next(self.counter)}"
        with self.db.write() as connection:
            create_job(
                connection,
                job_id=job_id,
                url="http://127.0.0.1/",
                priority="normal",
                max_attempts=3,
                actor="model",
                now=T0,
            )
        self.model[job_id] = (State.QUEUED, 1)
        self.history[job_id] = [1]
        return job_id

    @rule(
        job_id=jobs,
        source=st.sampled_from(State),
        destination=st.sampled_from(State),
        stale=st.sampled_from([0, 0, 0, -1, 1]),
        use_model_source=st.booleans(),
    )
    def move(
        self, job_id: str, source: State, destination: State, stale: int, use_model_source: bool
    ) -> None:
        target = destination
        state, version = self.model[job_id]
        if use_model_source:
            source = state
        now = T0 + timedelta(seconds=next(self.tick))
        try:
            with self.db.write() as connection:
                result = transition(
                    connection,
                    job_id=job_id,
                    source=source,
                    target=target,
                    version=version + stale,
                    actor="model",
                    now=now,
                )
        except IllegalTransition:
            assert not is_allowed(source, target)
            return
        assert is_allowed(source, target)
        if source == state and stale == 0:
            assert result == version + 1
            assert state not in TERMINAL
            self.model[job_id] = (target, version + 1)
            self.history[job_id].append(version + 1)
        else:
            assert result is None

    @invariant()
    def database_matches_model(self) -> None:
        with self.db.read() as session:
            jobs = {job.id: job for job in session.exec(select(ScanJob))}
            audits = dict(
                session.exec(select(AuditLog.job_id, func.count()).group_by(AuditLog.job_id)).all()
            )
        assert set(jobs) == set(self.model)
        for job_id, (state, version) in self.model.items():
            job = jobs[job_id]
            assert (job.state, job.version) == (state, version)
            assert audits[job_id] == version
            assert (job.finished_at is not None) == (state in TERMINAL)

    @invariant()
    def versions_strictly_increase(self) -> None:
        for versions in self.history.values():
            assert all(a < b for a, b in itertools.pairwise(versions))


StateMachineModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None
)
test_state_machine_model = StateMachineModel.TestCase
