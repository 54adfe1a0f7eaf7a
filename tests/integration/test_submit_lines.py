"""``scanbox submit -`` as a process with a real Redis: every line a job, dispatched, a batch at
a time; a bad line stops it with the batches before it stored and nothing of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.producers import redis_cli
from tests.services import RedisServer
from worker.store.database import Database
from worker.store.models import JOBS


@pytest.fixture
def env(tmp_path: Path, redis_server: RedisServer) -> dict[str, str]:
    return {
        "TURSO_CONNECTION_URL": f"file:{tmp_path / 'scanbox.db'}",
        "REDIS_URL": redis_server.url,
        "QUEUE_NAME": f"test-{uuid.uuid4().hex[:12]}",
        "DEDUP_WINDOW_MS": "0",
    }


def _submit(env: dict[str, str], stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "submit", "-", "--batch-size", "1000", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _jobs(env: dict[str, str]) -> int:
    db = Database(url=env["TURSO_CONNECTION_URL"])
    with db.transaction(write=False) as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar_one()
    db.dispose()
    return int(count)


def test_every_line_becomes_a_dispatched_job(
    env: dict[str, str], redis_server: RedisServer
) -> None:
    lines = "".join(f"http://127.0.0.1:9/item/{n}\n" for n in range(2500))
    done = _submit(env, lines)
    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == len(set(ids)) == 2500
    assert all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in ids)
    assert re.search(r"2500 URLs: 2500 new jobs, 0 already known in [\d.]+ s", done.stderr)
    assert _jobs(env) == 2500
    assert int(redis_cli(redis_server, "LLEN", f"rq:queue:{env['QUEUE_NAME']}")) == 2500


def test_a_bad_line_stores_the_batches_before_it_and_nothing_of_its_own(
    env: dict[str, str],
) -> None:
    lines = [f"http://127.0.0.1:9/item/{n}" for n in range(2500)]
    lines[2344] = "http://127.0.0.1:9/\x1b[2Jcleared"
    done = _submit(env, "\n".join(lines) + "\n")
    assert done.returncode == 2
    assert "line 2345: invalid URL" in done.stderr
    assert "; lines before 2001 were submitted; nothing from line 2001 on was" in done.stderr
    assert "\x1b" not in done.stderr
    assert len(done.stdout.split()) == 2000
    assert _jobs(env) == 2000
    skipped = _submit(env, "\n".join(lines) + "\n", "--skip-invalid")
    assert skipped.returncode == 0, skipped.stderr
    assert "line 2345 skipped" in skipped.stderr
    assert "2499 URLs: 2499 new jobs, 0 already known, 1 invalid lines skipped" in skipped.stderr
    assert _jobs(env) == 2000 + 2499


def test_a_full_queue_stops_it_with_the_lines_already_stored_named(env: dict[str, str]) -> None:
    lines = "".join(f"http://127.0.0.1:9/item/{n}\n" for n in range(2500))
    done = _submit({**env, "MAX_QUEUED_JOBS": "1500"}, lines)
    assert done.returncode == 1
    assert "the queue is full" in done.stderr
    assert "lines before 1001 were submitted, nothing from line 1001 on" in done.stderr
    assert len(done.stdout.split()) == 1000
    assert _jobs(env) == 1000
