from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from statemachine.states import ALLOWED, TERMINAL, State
from statemachine.transitions import create_job, transition
from worker.errors import IllegalTransition
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob

pytestmark = pytest.mark.backends

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _create(db: Database, job_id: str = "job1") -> None:
    db.run_write(
        lambda c: create_job(
            c,
            job_id=job_id,
            url="http://127.0.0.1/",
            priority="normal",
            max_attempts=3,
            actor="test",
            now=T0,
        )
    )


def _move(db: Database, source: State, target: State, version: int, **kw: object) -> int | None:
    def write(connection: Connection) -> int | None:
        return transition(
            connection,
            job_id="job1",
            source=source,
            target=target,
            version=version,
            actor="tester",
            now=T0 + timedelta(seconds=version),
            **kw,  # type: ignore[arg-type]
        )

    return db.run_write(write)


def _path_to(state: State) -> list[State]:
    return {
        State.QUEUED: [],
        State.FETCHING: [State.FETCHING],
        State.ANALYZING: [State.FETCHING, State.ANALYZING],
    }[state]


def _job(db: Database) -> ScanJob:
    with db.read() as session:
        job = session.get(ScanJob, "job1")
    assert job is not None
    return job


def _audit(db: Database) -> list[AuditLog]:
    with db.read() as session:
        return list(session.exec(select(AuditLog).order_by(col(AuditLog.id))))


def test_create_writes_queued_version_one_and_an_audit_row(db: Database) -> None:
    _create(db)
    job = _job(db)
    assert (job.state, job.version, job.attempts) == (State.QUEUED, 1, 0)
    assert job.created_at == T0 == job.updated_at
    [row] = _audit(db)
    assert (row.from_state, row.to_state, row.version, row.actor) == (None, "QUEUED", 1, "test")


ALLOWED_MOVES = [
    (source, target)
    for source in (State.QUEUED, State.FETCHING, State.ANALYZING)
    for target in ALLOWED[source]
]


@pytest.mark.parametrize(("source", "target"), ALLOWED_MOVES)
def test_every_allowed_move_bumps_version_and_audits(
    db: Database, source: State, target: State
) -> None:
    _create(db)
    version = 1
    state = State.QUEUED
    for step in _path_to(source):
        new = _move(db, state, step, version)
        assert new == version + 1
        state, version = step, new
    assert _move(db, source, target, version, detail={"why": "test"}) == version + 1
    job = _job(db)
    assert job.state == target
    assert job.version == version + 1
    assert job.updated_at == T0 + timedelta(seconds=version)
    assert (job.finished_at is not None) == (target in TERMINAL)
    last = _audit(db)[-1]
    assert (last.from_state, last.to_state, last.version) == (source, target, version + 1)
    assert last.detail == {"why": "test"}
    assert len(_audit(db)) == version + 1


FORBIDDEN = [
    (source, target)
    for source, target in itertools.product(State, State)
    if target not in ALLOWED[source]
]


@pytest.mark.parametrize(("source", "target"), FORBIDDEN)
def test_every_forbidden_move_raises_and_writes_nothing(
    db: Database, source: State, target: State
) -> None:
    _create(db)
    with pytest.raises(IllegalTransition) as raised:
        _move(db, source, target, 1)
    assert (raised.value.source, raised.value.target) == (source.value, target.value)
    assert _job(db).version == 1
    assert len(_audit(db)) == 1


def test_stale_version_is_not_mine(db: Database) -> None:
    _create(db)
    assert _move(db, State.QUEUED, State.FETCHING, 1) == 2
    assert _move(db, State.QUEUED, State.FETCHING, 1) is None
    assert _move(db, State.FETCHING, State.ANALYZING, 1) is None
    assert _job(db).version == 2
    assert len(_audit(db)) == 2


def test_wrong_source_state_is_not_mine(db: Database) -> None:
    _create(db)
    assert _move(db, State.FETCHING, State.ANALYZING, 1) is None
    assert _job(db).state == State.QUEUED


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_are_never_left(db: Database, terminal: State) -> None:
    _create(db)
    version = 1
    state = State.QUEUED
    source = State.FETCHING if terminal is State.TIMED_OUT else State.QUEUED
    if terminal is State.COMPLETED:
        source = State.ANALYZING
    for step in _path_to(source):
        version = _move(db, state, step, version) or 0
        state = step
    version = _move(db, source, terminal, version) or 0
    for target in State:
        with pytest.raises(IllegalTransition):
            _move(db, terminal, target, version)
    assert _job(db).state == terminal


def test_only_known_columns_can_change(db: Database) -> None:
    _create(db)
    with pytest.raises(ValueError, match="url"):
        _move(db, State.QUEUED, State.FETCHING, 1, changes={"url": "http://x/"})
    assert _job(db).state == State.QUEUED
