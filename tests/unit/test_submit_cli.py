from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from statemachine.states import State
from tests.support import FakeDispatcher
from worker.cli import app
from worker.errors import InvalidURL, UsageError
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob
from worker.submit.batch import submit_urls


def _count(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return len(session.exec(select(ScanJob)).all()), len(session.exec(select(AuditLog)).all())


def test_submit_stores_rows_then_dispatches(db: Database) -> None:
    dispatcher = FakeDispatcher()
    ids = submit_urls(
        ["http://127.0.0.1/a", "http://127.0.0.1/b"], db=db, dispatcher=dispatcher, priority="high"
    )
    assert len(set(ids)) == 2
    assert dispatcher.calls == [(tuple(ids), "high", 0)]
    assert _count(db) == (2, 2)
    with db.read() as session:
        job = session.get(ScanJob, ids[0])
    assert job is not None
    assert (job.state, job.version, job.priority, job.url) == (
        State.QUEUED,
        1,
        "high",
        "http://127.0.0.1/a",
    )


def test_one_bad_url_stores_nothing(db: Database) -> None:
    dispatcher = FakeDispatcher()
    with pytest.raises(InvalidURL):
        submit_urls(["http://127.0.0.1/", "ftp://x/"], db=db, dispatcher=dispatcher)
    with pytest.raises(UsageError, match="priority"):
        submit_urls(["http://127.0.0.1/"], db=db, dispatcher=dispatcher, priority="urgent")
    assert _count(db) == (0, 0)
    assert dispatcher.calls == []


def test_rows_survive_a_failed_dispatch(db: Database) -> None:
    dispatcher = FakeDispatcher(fail_with=ConnectionError("redis down"))
    with pytest.raises(ConnectionError):
        submit_urls(["http://127.0.0.1/"], db=db, dispatcher=dispatcher)
    assert _count(db) == (1, 1)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.chdir(tmp_path)
    return Database(url=url)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "not-a-url"],
        ["submit", "http://127.0.0.1/", "javascript:alert(1)"],
        ["submit", "--priority", "urgent", "http://127.0.0.1/"],
        ["status", "nope"],
        ["show", "0" * 32],
        ["wait", "nope"],
        ["list", "--state", "BOGUS"],
        ["list", "--limit", "0"],
    ],
)
def test_bad_input_is_one_line_and_status_2(cli_env: Database, args: list[str]) -> None:
    status, out, err = _run(*args)
    assert status == 2
    assert out == ""
    assert err.startswith("scanbox: error: ")
    assert err.count("\n") == 1
    assert _count(cli_env) == (0, 0)


def test_bad_setting_is_status_2(cli_env: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINER_TIMEOUT_MS", "soon")
    status, _out, err = _run("list")
    assert status == 2
    assert "CONTAINER_TIMEOUT_MS" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("REDIS_URL", "garbage"), ("REDIS_URL", "redis://127.0.0.1/abc"), ("HOST_RATE_LIMIT", "inf")],
)
def test_a_bad_redis_url_or_rate_is_one_line_at_start(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    status, out, err = _run("submit", "http://127.0.0.1/")
    assert status == 2
    assert out == ""
    assert err.startswith(f"scanbox: error: bad setting {name}: ")
    assert err.count("\n") == 1
    assert _count(cli_env) == (0, 0)


def test_unreachable_redis_keeps_the_row_and_says_so(cli_env: Database) -> None:
    status, _out, err = _run("submit", "http://127.0.0.1/")
    assert status == 1
    assert "cannot reach Redis" in err
    assert _count(cli_env) == (1, 1)


def test_status_list_show_json(cli_env: Database) -> None:
    [job_id] = submit_urls(["http://127.0.0.1/x"], db=cli_env, dispatcher=FakeDispatcher())
    status, out, _ = _run("status", job_id, "--json")
    assert status == 0
    data = json.loads(out)
    assert {
        "id",
        "url",
        "state",
        "version",
        "attempts",
        "created_at",
        "updated_at",
        "result",
    } <= set(data)
    assert (data["id"], data["state"], data["version"], data["result"]) == (
        job_id,
        "QUEUED",
        1,
        None,
    )
    status, out, _ = _run("list", "--json", "--state", "queued")
    assert [item["id"] for item in json.loads(out)] == [job_id]
    status, out, _ = _run("show", job_id, "--json")
    assert [(row["from"], row["to"]) for row in json.loads(out)["audit"]] == [(None, "QUEUED")]
    status, out, _ = _run("show", job_id)
    assert status == 0
    assert "audit trail" in out
    assert job_id in out
