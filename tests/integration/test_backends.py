"""What the optimistic lock needs, checked on each database server, and whole scans on them.

Each test marked ``backends`` runs on SQLite, the in-project libSQL server (through
``libsql-client``'s DB-API module) and PostgreSQL (psycopg 3).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis
from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.transitions import create_job, transition
from tests.databases import LibsqlServer
from tests.integration.conftest import settings_from
from tests.services import poll, worker_processes
from tests.sites import serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.store import queries
from worker.store.database import Database
from worker.submit.batch import submit_urls

pytestmark = pytest.mark.backends

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: Seconds a blocked writer is given to show it is really waiting for the first one.
BLOCKED_FOR_S = 1.0


class _Abort(Exception):
    """Raised inside a write to make it roll back."""


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(url=database_url, busy_timeout_ms=20_000)
    database.create_schema()
    database.run_write(
        lambda c: create_job(
            c,
            job_id="job1",
            url="http://127.0.0.1/",
            priority="normal",
            max_attempts=3,
            actor="test",
            now=T0,
        )
    )
    return database


def _claim(connection: Connection) -> int | None:
    return transition(
        connection,
        job_id="job1",
        source=State.QUEUED,
        target=State.FETCHING,
        version=1,
        actor=f"writer-{threading.get_ident()}",
        now=T0,
    )


def test_a_write_that_fails_keeps_neither_the_update_nor_its_audit_row(db: Database) -> None:
    def claim_then_fail(connection: Connection) -> None:
        assert _claim(connection) == 2
        raise _Abort

    with pytest.raises(_Abort):
        db.run_write(claim_then_fail)
    job = queries.get_job(db, "job1")
    assert (job.state, job.version) == (State.QUEUED, 1)
    assert [row.to_state for row in queries.get_audit(db, "job1")] == ["QUEUED"]
    assert db.run_write(_claim) == 2
    db.dispose()


def test_a_second_writer_waits_for_the_first_then_loses_the_race(db: Database) -> None:
    """The UPDATE's affected-row count says who won, inside real transactions."""
    first_claimed = threading.Event()
    release_first = threading.Event()
    outcomes: dict[str, int | None] = {}

    def first(connection: Connection) -> int | None:
        version = _claim(connection)
        first_claimed.set()
        assert release_first.wait(timeout=60)
        return version

    def second() -> None:
        outcomes["second"] = db.run_write(_claim)

    holder = threading.Thread(target=lambda: outcomes.update(first=db.run_write(first)))
    holder.start()
    assert first_claimed.wait(timeout=60)
    racer = threading.Thread(target=second)
    racer.start()
    racer.join(timeout=BLOCKED_FOR_S)
    blocked = racer.is_alive()
    release_first.set()
    holder.join(timeout=60)
    racer.join(timeout=60)
    assert blocked, "the second writer did not wait for the first one's transaction"
    assert outcomes == {"first": 2, "second": None}
    assert queries.get_job(db, "job1").version == 2
    assert [row.to_state for row in queries.get_audit(db, "job1")] == ["QUEUED", "FETCHING"]
    db.dispose()


def test_scans_complete_on_this_backend(
    scan_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    env = scan_env | {"TURSO_CONNECTION_URL": database_url}
    settings = settings_from(env)
    db = open_database(settings)
    with serve() as site:
        site.page("/", b"<title>backend</title>")
        redis = Redis.from_url(settings.effective_redis_url)
        job_ids = submit_urls(
            [site.url(f"/?n={n}") for n in range(4)], db=db, dispatcher=dispatcher(settings, redis)
        )
        redis.close()
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "2") == 0
    for job_id in job_ids:
        job = queries.get_job(db, job_id)
        assert job.state == State.COMPLETED, job.error_message
        assert [row.to_state for row in queries.get_audit(db, job_id)] == [
            "QUEUED",
            "FETCHING",
            "ANALYZING",
            "COMPLETED",
        ]
        result = queries.get_result(db, job_id)
        assert result is not None
        assert result.title == "backend"
    db.dispose()


@pytest.fixture
def guarded_server(tmp_path: Path) -> LibsqlServer:
    server = LibsqlServer(directory=tmp_path / "guarded", auth_token="s3cret-token")
    server.start()
    return server


def test_libsql_sends_the_auth_token(guarded_server: LibsqlServer) -> None:
    url = guarded_server.new_database()
    try:
        with pytest.raises(sa.exc.DBAPIError):
            Database(url=url, auth_token="wrong").create_schema()
        db = Database(url=url, auth_token="s3cret-token")
        db.create_schema()
        assert sum(queries.count_by_state(db).values()) == 0
        db.dispose()
    finally:
        guarded_server.stop()


def test_libsql_connections_come_back_after_the_server_restarts(tmp_path: Path) -> None:
    server = LibsqlServer(directory=tmp_path / "restarting")
    server.start()
    try:
        db = Database(url=f"ws://127.0.0.1:{server.port}/restart")
        db.create_schema()
        assert sum(queries.count_by_state(db).values()) == 0
        server.stop()
        server.start()
        # The pooled connection's WebSocket is gone; the pool's ping notices and reconnects.
        assert poll(lambda: queries.count_by_state(db) or None, timeout_s=30, what="a read")
        db.dispose()
    finally:
        server.stop()
