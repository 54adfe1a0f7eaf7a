"""``scanbox submit -``, ``--from-file`` and ``--dry-run`` without Redis: lines read in
batches, bad lines named by number, a dry run that writes nothing."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from tests.support import FakeDispatcher
from worker.cli import app
from worker.cli.submit_lines import MAX_LINE_CHARS, read_batches
from worker.store.database import Database
from worker.store.models import ScanJob, SubmitRequest
from worker.submit.batch import Request, submit_requests


def test_lines_are_read_in_batches_skipping_blanks_and_comments() -> None:
    text = "http://127.0.0.1/1\n\n  # a comment\n http://127.0.0.1/2 \nhttp://127.0.0.1/3"
    batches = list(read_batches(io.StringIO(text), size=2))
    assert batches == [
        [(1, "http://127.0.0.1/1"), (4, "http://127.0.0.1/2")],
        [(5, "http://127.0.0.1/3")],
    ]


def test_an_endless_line_is_read_a_bounded_piece_at_a_time() -> None:
    text = "http://127.0.0.1/" + "a" * (3 * MAX_LINE_CHARS) + "\nhttp://127.0.0.1/next\n"
    batches = list(read_batches(io.StringIO(text), size=10))
    [[(first, long), (second, after)]] = batches
    assert (first, second, after) == (1, 2, "http://127.0.0.1/next")
    assert len(long) == MAX_LINE_CHARS


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("FETCHER_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.chdir(tmp_path)
    db = Database(url=url)
    db.create_schema()
    return db


def _jobs(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(ScanJob)).all())


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_a_dry_run_says_what_would_be_made_and_needs_no_redis(cli_db: Database) -> None:
    [known] = submit_requests(
        [Request(url="http://127.0.0.1/known")], db=cli_db, dispatcher=FakeDispatcher()
    )
    status, out, err = _run(
        "submit", "--dry-run", "--json", "http://127.0.0.1/new", "http://127.0.0.1/known"
    )
    assert status == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"url": "http://127.0.0.1/new", "id": None, "state": None, "duplicate": False},
        {"url": "http://127.0.0.1/known", "id": known.job_id, "state": "QUEUED", "duplicate": True},
    ]
    assert "1 new jobs, 1 already known; nothing was written" in err
    assert _jobs(cli_db) == 1


def test_a_dry_run_of_a_stream_reads_it_all_and_writes_nothing(cli_db: Database) -> None:
    urls = "".join(f"http://127.0.0.1/{n}\n" for n in range(25))
    status, out, err = _run("submit", "-", "--dry-run", "--batch-size", "10", stdin=urls)
    assert status == 0, err
    assert len(out.splitlines()) == 25
    assert all(line.startswith("new job") for line in out.splitlines())
    assert "25 URLs: 25 would be new jobs, 0 already known" in err
    assert "nothing was written" in err
    assert _jobs(cli_db) == 0


def test_a_bad_line_stops_a_dry_run_with_its_number(cli_db: Database, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("http://127.0.0.1/a\n# note\nftp://127.0.0.1/b\nhttp://127.0.0.1/c\n")
    status, _, err = _run("submit", "--from-file", str(listing), "--dry-run")
    assert status == 2
    assert "line 3: invalid URL 'ftp://127.0.0.1/b': scheme must be http or https" in err
    assert "; nothing was written" in err
    status, out, err = _run("submit", "--from-file", str(listing), "--dry-run", "--skip-invalid")
    assert status == 0, err
    assert "line 3 skipped" in err
    assert "2 URLs: 2 would be new jobs, 0 already known, 1 invalid lines skipped" in err
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["submit"], "no URLs"),
        (["submit", "-", "http://127.0.0.1/"], "can't be mixed"),
        (["submit", "-", "--wait"], "--wait needs the URLs as arguments"),
        (["submit", "--callback-url", "http://10.0.0.1/hook", "http://127.0.0.1/"], "private"),
        (
            ["submit", "--dry-run", "--callback-url", "ftp://127.0.0.1/", "http://127.0.0.1/"],
            "scheme",
        ),
        (["status"], "give a job id or --request-id"),
        (["status", "x", "--request-id", "y"], "give a job id or --request-id"),
        (["status", "--request-id", "nope"], "no submission with request id 'nope'"),
        (["webhooks", "retry"], "give delivery ids or --failed"),
        (["webhooks", "list", "--status", "lost"], "unknown delivery status 'lost'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    cli_db: Database, args: list[str], message: str
) -> None:
    status, _, err = _run(*args, stdin="")
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert _jobs(cli_db) == 0
    with cli_db.read() as session:
        assert session.exec(select(SubmitRequest)).all() == []


def test_status_finds_a_job_by_its_request_id(cli_db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1/x", request_id="order-5")],
        db=cli_db,
        dispatcher=FakeDispatcher(),
    )
    status, out, err = _run("status", "--request-id", "order-5", "--json")
    assert status == 0, err
    data = json.loads(out)
    assert (data["id"], data["request_id"], data["state"]) == (made.job_id, "order-5", "QUEUED")
    status, out, _ = _run("status", "--request-id", "order-5")
    assert made.job_id in out


def test_a_terminal_gets_a_progress_display(cli_db: Database, tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: the progress display is drawn there, stdout stays ids."""
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"http://127.0.0.1/{n}\n" for n in range(30)))
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "worker", "submit", "--dry-run", "--json", "--batch-size",
             "10", "--from-file", str(listing)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=secondary,
            env={**os.environ, "COLUMNS": "100"},
            timeout=60,
            check=False,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if secondary != -1:
            os.close(secondary)
        os.close(primary)
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 30
    assert all(json.loads(line)["id"] is None for line in done.stdout.splitlines())
    assert b"URLs submitted" in drawn
    assert b"30 URLs: 30 would be new jobs" in drawn
