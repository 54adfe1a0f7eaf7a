"""Conditional re-scans on fakes: validators kept, sent back, and a 304 that points back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, report_bytes
from tests.unit.scanners import make_scanner
from worker.cli import app
from worker.store.database import Database
from worker.store.models import RESULTS, ScanResult, UrlValidators
from worker.submit.batch import submit_urls

URL = "http://127.0.0.1:9/page"
LAST_MODIFIED = "Sun, 01 Mar 2026 10:00:00 GMT"
EXECUTABLE = {"attachment": True, "filename": "x.exe", "executable": True}


def _full(etag: str | None = '"v1"', last_modified: str | None = LAST_MODIFIED) -> bytes:
    headers = {"content-type": "text/html"}
    if etag is not None:
        headers["etag"] = etag
    if last_modified is not None:
        headers["last-modified"] = last_modified
    return report_bytes(headers=headers, title="Page", observations__download=EXECUTABLE)


def _not_modified(**headers: str) -> bytes:
    return report_bytes(
        status_code=304,
        reason="Not Modified",
        not_modified=True,
        headers=headers,
        body=None,
        title=None,
        content_type=None,
        charset=None,
    )


def _scan(db: Database, outcome: bytes, url: str = URL, **kw: bool) -> tuple[str, list[str]]:
    [job_id] = submit_urls([url], db=db, dispatcher=FakeDispatcher())
    runner = FakeRunner([outcome])
    assert make_scanner(db, runner, conditional=kw.get("conditional", True)).scan(job_id) is (
        State.COMPLETED
    )
    [request] = runner.requests
    return job_id, request.command


def _result(db: Database, job_id: str) -> ScanResult:
    with db.read() as session:
        return session.exec(select(ScanResult).where(ScanResult.job_id == job_id)).one()


def _validators(db: Database) -> list[UrlValidators]:
    with db.read() as session:
        return list(session.exec(select(UrlValidators)))


def _conditions(args: list[str]) -> list[str]:
    return [arg for arg in args[: args.index("--")] if arg.startswith("--if-")]


def test_a_full_answer_keeps_its_validators(db: Database) -> None:
    job_id, args = _scan(db, _full())
    assert _conditions(args) == []
    first = _result(db, job_id)
    [kept] = _validators(db)
    assert (kept.url_key, kept.etag, kept.last_modified) == (URL, '"v1"', LAST_MODIFIED)
    assert (kept.result_id, kept.job_id) == (first.id, job_id)
    assert first.not_modified is False
    assert first.previous_result_id is None


def test_a_rescan_sends_them_and_a_304_points_to_the_previous_result(db: Database) -> None:
    first_job, _ = _scan(db, _full())
    first = _result(db, first_job)
    assert first.verdict == "malicious"
    second_job, args = _scan(db, _not_modified(), url="HTTP://127.0.0.1:9/./page#x")
    assert _conditions(args) == [
        '--if-none-match="v1"',
        f"--if-modified-since={LAST_MODIFIED}",
    ]
    second = _result(db, second_job)
    assert (second.not_modified, second.previous_result_id) == (True, first.id)
    assert (second.status_code, second.verdict, second.score) == (304, "malicious", first.score)
    assert (second.reasons, second.title, second.size, second.sha256) == ([], None, None, None)
    [kept] = _validators(db)
    assert (kept.result_id, kept.job_id, kept.etag) == (first.id, first_job, '"v1"')


def test_a_304_with_a_new_etag_updates_only_the_etag(db: Database) -> None:
    first_job, _ = _scan(db, _full())
    before = _validators(db)[0]
    _scan(db, _not_modified(etag='"v2"'))
    [kept] = _validators(db)
    assert (kept.etag, kept.last_modified, kept.job_id) == ('"v2"', LAST_MODIFIED, first_job)
    assert kept.result_id == before.result_id
    _, args = _scan(db, _not_modified())
    assert '--if-none-match="v2"' in _conditions(args)


def test_a_changed_page_is_a_full_result_and_moves_the_validators(db: Database) -> None:
    _scan(db, _full())
    job_id, args = _scan(db, _full(etag='"v2"', last_modified=None))
    assert _conditions(args) != []
    result = _result(db, job_id)
    assert (result.not_modified, result.status_code, result.title) == (False, 200, "Page")
    [kept] = _validators(db)
    assert (kept.etag, kept.last_modified, kept.result_id) == ('"v2"', None, result.id)


def test_an_answer_without_validators_drops_them(db: Database) -> None:
    _scan(db, _full())
    _scan(db, _full(etag=None, last_modified=None))
    assert _validators(db) == []
    _, args = _scan(db, _full())
    assert _conditions(args) == []


def test_an_error_answer_keeps_them(db: Database) -> None:
    _scan(db, _full())
    _scan(db, report_bytes(status_code=404, reason="Not Found"))
    _, args = _scan(db, _full())
    assert len(_conditions(args)) == 2


@pytest.mark.parametrize(
    ("etag", "last_modified", "kept"),
    [
        ('"caf\u00e9"', "yesterday", []),
        ('"' + "x" * 600 + '"', LAST_MODIFIED, [(None, LAST_MODIFIED)]),
    ],
)
def test_validators_the_fetcher_would_refuse_are_not_kept(
    db: Database, etag: str, last_modified: str, kept: list[tuple[str | None, str | None]]
) -> None:
    _scan(db, _full(etag=etag, last_modified=last_modified))
    assert [(row.etag, row.last_modified) for row in _validators(db)] == kept
    _, args = _scan(db, _full())
    assert all(" " <= char <= "~" for arg in _conditions(args) for char in arg)
    assert not any(arg.startswith("--if-none-match") for arg in _conditions(args))


def test_without_conditional_rescans_nothing_is_kept_or_sent(db: Database) -> None:
    _scan(db, _full(), conditional=False)
    assert _validators(db) == []
    _scan(db, _full())
    _, args = _scan(db, _full(), conditional=False)
    assert _conditions(args) == []


def test_validators_whose_result_is_gone_are_not_sent(db: Database) -> None:
    job_id, _ = _scan(db, _full())
    with db.write() as connection:
        connection.execute(RESULTS.delete().where(RESULTS.c.job_id == job_id))
    _, args = _scan(db, _full())
    assert _conditions(args) == []


def test_status_and_show_say_not_modified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.chdir(tmp_path)
    db = Database(url=url)
    db.create_schema()
    first_job, _ = _scan(db, _full())
    second_job, _ = _scan(db, _not_modified())
    first = _result(db, first_job)
    runner = CliRunner()
    status = json.loads(runner.invoke(app, ["status", second_job, "--json"]).stdout)
    assert status["result"]["not_modified"] is True
    assert status["result"]["previous_result_id"] == first.id
    assert status["result"]["verdict"] == "malicious"
    shown = json.loads(runner.invoke(app, ["show", second_job, "--json"]).stdout)
    assert shown["previous_result"]["job_id"] == first_job
    assert shown["previous_result"]["title"] == "Page"
    text = runner.invoke(app, ["show", second_job]).stdout
    assert "not modified" in text
    assert first_job in text
    full = json.loads(runner.invoke(app, ["show", first_job, "--json"]).stdout)
    assert (full["result"]["not_modified"], full["previous_result"]) == (False, None)
    db.dispose()
