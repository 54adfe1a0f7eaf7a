"""``scanbox db upgrade|current|history``, ``--version``, and every command on a database at
another schema revision: one line on stderr, nothing written."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.premigration import build_premigration, snapshot, table_names
from worker.cli import app
from worker.store.database import Database
from worker.store.migrations import BASELINE, HEAD, REVISIONS
from worker.store.migrations.state import VERSION_TABLE

#: What every command prints for a database made before migrations.
PREMIGRATION_LINE = (
    "scanbox: error: database schema has no revision (its tables were made before "
    f"migrations), this scanbox needs {HEAD}: run 'scanbox db upgrade'"
)


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database_url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", database_url)
    # Nothing listens there: a command that reached Redis would fail another way.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    monkeypatch.chdir(tmp_path)
    return database_url


@pytest.fixture
def premigration(url: str) -> Database:
    db = Database(url=url)
    build_premigration(db)
    return db


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version_comes_from_the_package_metadata() -> None:
    assert _run("--version") == (0, f"scanbox {version('scanbox')}\n", "")


def test_history_lists_every_revision_newest_first() -> None:
    status, out, _ = _run("db", "history", "--json")
    assert status == 0
    listed = json.loads(out)
    assert [item["revision"] for item in listed] == list(reversed(REVISIONS))
    assert [item["head"] for item in listed] == [True] + [False] * (len(REVISIONS) - 1)
    assert listed[-1] == {
        "revision": "0001",
        "down_revision": None,
        "message": "baseline: the schema scanbox made with create_all before it had migrations",
        "head": len(REVISIONS) == 1,
    }
    lines = _run("db", "history")[1].splitlines()
    assert len(lines) == len(REVISIONS)
    assert lines[-1].startswith("base -> 0001")
    assert lines[-1].endswith(
        "baseline: the schema scanbox made with create_all before it had migrations"
    )
    assert f"-> {HEAD} (head)" in lines[0]


def test_current_reads_an_empty_database_without_creating_it(url: str) -> None:
    status, out, _ = _run("db", "current", "--json")
    assert (status, json.loads(out)) == (0, {"head": HEAD, "revision": None, "status": "empty"})
    status, out, _ = _run("db", "current")
    assert (status, out) == (
        0,
        f"none: empty database (head is {HEAD}; created at first use or by 'scanbox db upgrade')\n",
    )
    assert table_names(Database(url=url)) == set()


def test_an_empty_database_is_upgraded_from_nothing(url: str) -> None:
    assert _run("db", "upgrade") == (0, f"upgraded from an empty database to {HEAD}\n", "")
    status, out, _ = _run("db", "upgrade", "--json")
    assert (status, json.loads(out)) == (0, {"from": HEAD, "stamped_baseline": False, "to": HEAD})
    assert _run("db", "upgrade")[:2] == (0, f"already at {HEAD}\n")
    assert _run("db", "current")[:2] == (0, f"{HEAD} (head)\n")


def test_a_premigration_database_is_stamped_then_current(premigration: Database) -> None:
    before = snapshot(premigration)
    assert json.loads(_run("db", "current", "--json")[1]) == {
        "head": HEAD,
        "revision": None,
        "status": "pre-migration",
    }
    status, out, err = _run("db", "upgrade", "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == {"from": None, "to": HEAD, "stamped_baseline": True}
    assert snapshot(premigration) == before
    assert json.loads(_run("db", "current", "--json")[1]) == {
        "head": HEAD,
        "revision": HEAD,
        "status": "current",
    }
    status, out, _ = _run("status", "0000000000000000000000000000c004", "--json")
    assert status == 0
    assert json.loads(out)["result"]["verdict"] == "suspicious"


def test_upgrade_says_it_stamped_the_baseline(premigration: Database) -> None:
    upgraded = "" if HEAD == BASELINE else f"upgraded from {BASELINE} to {HEAD}\n"
    assert _run("db", "upgrade") == (
        0,
        f"tables made before migrations: stamped with the baseline {BASELINE}\n{upgraded}",
        "",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["status", "0000000000000000000000000000c004"],
        ["status", "0000000000000000000000000000c004", "--json"],
        ["list"],
        ["list", "--json"],
        ["show", "0000000000000000000000000000c004"],
        ["submit", "http://127.0.0.1:9/"],
        ["submit", "--force", "http://127.0.0.1:8001/queued"],
        ["schedule", "add", "http://127.0.0.1:9/", "--cron", "* * * * *"],
        ["schedule", "disable", "000000000000000000000000sched001"],
        ["schedule", "list"],
        ["schedule", "remove", "000000000000000000000000sched001"],
        ["stats"],
        ["wait", "0000000000000000000000000000c004", "--timeout", "0"],
        ["reconcile"],
        ["worker", "--burst"],
    ],
)
def test_every_command_refuses_a_premigration_database_in_one_line(
    premigration: Database, args: list[str]
) -> None:
    before = snapshot(premigration)
    assert _run(*args) == (1, "", PREMIGRATION_LINE + "\n")
    assert snapshot(premigration) == before
    assert "alembic_version" not in table_names(premigration)


def test_a_newer_revision_is_named_and_not_upgraded(url: str) -> None:
    db = Database(url=url)
    db.create_schema()
    with db.engine.connect() as connection, connection.begin():
        connection.execute(sa.update(VERSION_TABLE).values(version_num="0042\x1b[2J"))
    line = (
        "scanbox: error: database schema is at revision '0042\\x1b[2J', which this scanbox "
        f"does not know (it needs {HEAD}): a newer scanbox upgraded it; run that version\n"
    )
    assert _run("list") == (1, "", line)
    assert _run("db", "upgrade") == (1, "", line)
    status, out, _ = _run("db", "current")
    assert (status, out) == (0, f"'0042\\x1b[2J' (unknown to this scanbox, whose head is {HEAD})\n")
    assert json.loads(_run("db", "current", "--json")[1]) == {
        "revision": "0042\x1b[2J",
        "head": HEAD,
        "status": "unknown",
    }


def test_an_unknown_target_is_a_usage_error(url: str) -> None:
    assert _run("db", "upgrade", "0099") == (
        2,
        "",
        "scanbox: error: unknown revision '0099' (see 'scanbox db history')\n",
    )
    assert table_names(Database(url=url)) == set()
