"""Real processes against a database's schema revision, on every backend: ``scanbox worker``
and ``scanbox scheduler`` refuse one that is not theirs in one line and write nothing; two
processes starting at once on an empty database create it once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.databases import REPOSITORY
from tests.premigration import build_premigration, snapshot, table_names
from worker.store.database import Database
from worker.store.migrations import HEAD
from worker.store.migrations.state import VERSION_TABLE

pytestmark = pytest.mark.backends

#: Seconds a refusing process may take to start and exit.
REFUSAL_TIMEOUT_S = 60
#: Processes that start at once on an empty database.
RACERS = 2

_NEWER = "0fff"
_EXPECTED = {
    "pre-migration": (
        "scanbox: error: database schema has no revision (its tables were made before "
        f"migrations), this scanbox needs {HEAD}: run 'scanbox db upgrade'"
    ),
    "newer": (
        f"scanbox: error: database schema is at revision {_NEWER}, which this scanbox does not "
        f"know (it needs {HEAD}): a newer scanbox upgraded it; run that version"
    ),
}


def _prepare(db: Database, case: str) -> None:
    build_premigration(db)
    if case == "newer":
        with db.engine.connect() as connection, connection.begin():
            VERSION_TABLE.create(connection)
            connection.execute(sa.insert(VERSION_TABLE).values(version_num=_NEWER))


def _environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TURSO_CONNECTION_URL": database_url,
        # Nothing listens there: the refusal comes before Redis, Docker or any process.
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
    }


@pytest.mark.parametrize("case", ["pre-migration", "newer"])
@pytest.mark.parametrize(
    "command",
    [["worker", "--burst", "--concurrency", "2"], ["worker"], ["scheduler"]],
    ids=["worker-drain", "worker", "scheduler"],
)
def test_workers_and_schedulers_refuse_another_revision(
    database_url: str, tmp_path: Path, case: str, command: list[str]
) -> None:
    db = Database(url=database_url)
    _prepare(db, case)
    before = snapshot(db)
    tables = table_names(db)

    done = subprocess.run(
        [sys.executable, "-m", "worker", *command],
        env=_environment(database_url, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT_S,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.splitlines() == [_EXPECTED[case]]
    assert done.stdout == ""
    assert snapshot(db) == before
    assert table_names(db) == tables
    db.dispose()


_FIRST_START = """
import sys
from worker.store import queries
from worker.store.database import Database
db = Database(url=sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
db.create_schema()
print("started", len(queries.list_jobs(db)), flush=True)
"""


@pytest.mark.parametrize("attempt", range(3))
def test_processes_starting_together_on_an_empty_database_create_it_once(
    database_url: str, attempt: int
) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_START, database_url],
            cwd=REPOSITORY,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline() == "ready\n"
        # Released together: each now reads an empty database and tries to create it.
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outcomes = [racer.communicate(timeout=REFUSAL_TIMEOUT_S) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    assert [racer.returncode for racer in racers] == [0] * RACERS, outcomes
    assert [out for out, _ in outcomes] == ["started 0\n"] * RACERS
    db = Database(url=database_url)
    with db.engine.connect() as connection, connection.begin():
        assert connection.execute(sa.select(VERSION_TABLE.c.version_num)).all() == [(HEAD,)]
    assert "scan_jobs" in table_names(db)
    db.dispose()
