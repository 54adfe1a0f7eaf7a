"""The submit stream with ``redis-cli`` as the producer and real ``scanbox intake`` processes:
each entry becomes one job, refused entries go to the rejected stream with their reason, a
consumer killed between commit and acknowledgement loses and duplicates nothing, and
10,000 entries from 4 producers make 10,000 jobs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from statemachine.states import State
from statemachine.transitions import transition
from tests.databases import REPOSITORY
from tests.producers import redis_cli
from tests.services import RedisServer, poll, unavailable, worker_processes
from worker.clock import utcnow
from worker.store.database import Database
from worker.store.models import JOBS, REQUESTS


@pytest.fixture
def stream_env(tmp_path: Path, redis_server: RedisServer) -> dict[str, str]:
    """Settings of one test's intake processes: its own database, queues and stream."""
    tag = uuid.uuid4().hex[:12]
    return {
        "TURSO_CONNECTION_URL": f"file:{tmp_path / 'scanbox.db'}",
        "REDIS_URL": redis_server.url,
        "QUEUE_NAME": f"test-{tag}",
        "SUBMIT_STREAM": f"test-{tag}:submit",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }


def _db(env: dict[str, str]) -> Database:
    db = Database(url=env["TURSO_CONNECTION_URL"])
    db.create_schema()
    return db


def _count(db: Database, table: sa.Table) -> int:
    with db.transaction(write=False) as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _xadd(server: RedisServer, stream: str, *fields: str) -> str:
    return redis_cli(server, "XADD", stream, "*", *fields).strip()


def _pending(server: RedisServer, stream: str) -> int:
    """Entries pending in scanbox's group; -1 while the group does not exist yet."""
    reply = redis_cli(server, "XPENDING", stream, "scanbox").split()
    return int(reply[0]) if reply and reply[0].isdigit() else -1


def _xlen(server: RedisServer, stream: str) -> int:
    return int(redis_cli(server, "XLEN", stream))


def _status(env: dict[str, str], request_id: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "worker", "status", "--request-id", request_id, "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def test_entries_from_redis_cli_become_one_job_each(
    stream_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    stream = stream_env["SUBMIT_STREAM"]
    plain = _xadd(redis_server, stream, "url", "http://127.0.0.1:9/plain")
    _xadd(redis_server, stream, "url", "http://127.0.0.1:9/ordered", "request_id", "order-17")
    _xadd(redis_server, stream, "url", "http://127.0.0.1:9/again", "request_id", "order-17")
    _xadd(
        redis_server, stream,
        "url", "http://127.0.0.1:9/urgent", "priority", "high", "mode", "browser", "force", "1",
        "callback_url", "http://127.0.0.1:8080/hook",
    )  # fmt: skip
    db = _db(stream_env)
    with worker_processes(stream_env, tmp_path, command="intake") as intake:
        intake.start()
        poll(
            lambda: True
            if _count(db, JOBS) == 3 and _pending(redis_server, stream) == 0
            and _xlen(redis_server, stream) == 0
            else None,
            timeout_s=60,
            what="three jobs, nothing pending, the stream trimmed",
        )  # fmt: skip
    # Four entries, three jobs: the repeated request id folded into its first job.
    assert _count(db, JOBS) == 3
    assert _count(db, REQUESTS) == 3
    ordered = _status(stream_env, "order-17")
    assert ordered["url"] == "http://127.0.0.1:9/ordered"
    assert ordered["request_id"] == "order-17"
    assert ordered["state"] == "QUEUED"
    assert _status(stream_env, plain)["url"] == "http://127.0.0.1:9/plain"
    with db.transaction(write=False) as connection:
        urgent = connection.execute(
            sa.select(JOBS.c.priority, JOBS.c.mode, REQUESTS.c.callback_url)
            .join(REQUESTS, REQUESTS.c.job_id == JOBS.c.id)
            .where(JOBS.c.url == "http://127.0.0.1:9/urgent")
        ).one()
    assert tuple(urgent) == ("high", "browser", "http://127.0.0.1:8080/hook")
    # The workers were woken: one RQ job per new job, on the queue of its priority.
    queue = stream_env["QUEUE_NAME"]
    assert int(redis_cli(redis_server, "LLEN", f"rq:queue:{queue}")) == 2
    assert int(redis_cli(redis_server, "LLEN", f"rq:queue:{queue}:high")) == 1
    assert _xlen(redis_server, stream + ":rejected") == 0
    db.dispose()


#: Entries a producer might write by mistake or malice, with the reason each is refused for.
BAD_ENTRIES: list[tuple[list[str], str]] = [
    (["priority", "high"], "the entry has no url"),
    (["url", "javascript:alert(1)"], "scheme must be http or https"),
    (["url", "http://127.0.0.1/", "url", "http://127.0.0.2/"], "given more than once"),
    (["url", "http://127.0.0.1/", "callback", "http://127.0.0.1/"], "unknown field 'callback'"),
    (["url", "http://127.0.0.1/", "mode", "chromium"], "unknown mode 'chromium'"),
    (["url", "http://127.0.0.1/", "priority", "urgent"], "unknown priority 'urgent'"),
    (["url", "http://127.0.0.1/", "callback_url", "http://10.0.0.1/"], "private address"),
    (["url", "http://127.0.0.1/", "request_id", "1-1"], "stream entry id"),
]


def test_refused_entries_go_to_the_rejected_stream_and_nothing_is_stored(
    stream_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    stream = stream_env["SUBMIT_STREAM"]
    env = {**stream_env, "SUBMIT_REJECTED_MAX_LENGTH": "6"}
    ids = [_xadd(redis_server, stream, *fields) for fields in (f for f, _ in BAD_ENTRIES)]
    # A byte that is not UTF-8, written with redis-cli's own escape in a quoted argument.
    binary = redis_cli(
        redis_server, stdin=f'XADD {stream} * url "http://127.0.0.1/\\xff"\n'.encode()
    ).strip()
    assert binary.partition("-")[0].isdigit()
    db = _db(env)
    with worker_processes(env, tmp_path, command="intake") as intake:
        intake.start()
        poll(
            lambda: (
                True
                if _pending(redis_server, stream) == 0 and _xlen(redis_server, stream) == 0
                else None
            ),
            timeout_s=60,
            what="every entry settled",
        )
    assert _count(db, JOBS) == 0
    assert _count(db, REQUESTS) == 0
    # Capped at six, the newest kept, each with its entry's id and the reason.
    raw = redis_cli(redis_server, "--json", "XRANGE", stream + ":rejected", "-", "+")
    kept = [dict(zip(item[1][::2], item[1][1::2], strict=True)) for item in json.loads(raw)]
    assert len(kept) == 6
    expected = dict(zip(ids, (reason for _, reason in BAD_ENTRIES), strict=True))
    for record in kept[:-1]:
        assert expected[record["entry"]] in record["reason"]
        assert json.loads(record["fields"])
    assert "not UTF-8" in kept[-1]["reason"]
    assert [record["entry"] for record in kept[:-1]] == ids[-5:]
    db.dispose()


def test_a_consumer_killed_between_commit_and_ack_loses_and_duplicates_nothing(
    stream_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    stream = stream_env["SUBMIT_STREAM"]
    entry = _xadd(redis_server, stream, "url", "http://127.0.0.1:9/once")
    marker = tmp_path / "committed"
    with (tmp_path / "holder.log").open("w") as log:
        holder = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.intake_holder", str(marker)],
            cwd=REPOSITORY,
            env={**os.environ, **stream_env},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    db = _db(stream_env)
    try:
        poll(lambda: marker.exists() or None, timeout_s=60, what="the holder's commit")
        # Committed, not acknowledged: the job exists and the entry is pending with the holder.
        assert marker.read_text() == entry
        assert _count(db, JOBS) == 1
        assert _pending(redis_server, stream) == 1
        os.killpg(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=30) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=30)
    env = {**stream_env, "SUBMIT_STREAM_CLAIM_IDLE_MS": "300"}
    with worker_processes(env, tmp_path, command="intake") as intake:
        intake.start()
        poll(
            lambda: True if _pending(redis_server, stream) == 0 else None,
            timeout_s=60,
            what="the dead consumer's entry claimed and acknowledged",
        )
    assert _count(db, JOBS) == 1
    assert _count(db, REQUESTS) == 1
    assert _status(stream_env, entry)["url"] == "http://127.0.0.1:9/once"
    # The job was dispatched once, by the consumer that made it.
    assert int(redis_cli(redis_server, "LLEN", f"rq:queue:{stream_env['QUEUE_NAME']}")) == 1
    assert _xlen(redis_server, stream) == 0
    db.dispose()


def test_a_full_queue_leaves_entries_pending_until_there_is_room(
    stream_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    stream = stream_env["SUBMIT_STREAM"]
    env = {**stream_env, "MAX_QUEUED_JOBS": "2"}
    db = _db(env)
    for n in range(2):
        _xadd(redis_server, stream, "url", f"http://127.0.0.1:9/room/{n}")
    with worker_processes(env, tmp_path, command="intake") as intake:
        intake.start()
        poll(lambda: True if _count(db, JOBS) == 2 else None, timeout_s=60, what="two jobs")
        late = _xadd(redis_server, stream, "url", "http://127.0.0.1:9/late")
        poll(
            lambda: True if _pending(redis_server, stream) == 1 else None,
            timeout_s=60,
            what="the third entry read and left pending",
        )
        assert _count(db, JOBS) == 2
        # A worker takes the queued jobs on: there is room again.
        with db.transaction(write=True) as connection:
            for job_id, version in connection.execute(sa.select(JOBS.c.id, JOBS.c.version)):
                assert transition(
                    connection, job_id=job_id, source=State.QUEUED, target=State.FETCHING,
                    version=version, actor="test", now=utcnow(),
                )  # fmt: skip
        poll(
            lambda: True if _count(db, JOBS) == 3 and _pending(redis_server, stream) == 0 else None,
            timeout_s=60,
            what="the third entry stored once there was room",
        )
    assert _status(env, late)["url"] == "http://127.0.0.1:9/late"
    assert _xlen(redis_server, stream + ":rejected") == 0
    db.dispose()


#: Producers and entries of the load test.
PRODUCERS = 4
PER_PRODUCER = 2500


def test_ten_thousand_entries_from_four_producers_make_ten_thousand_jobs(
    stream_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    """Two consumers take the entries of four redis-cli producers at once; one is killed -9
    halfway and a third takes over its pending entries. Deduplication is off, so an entry
    made into a job twice would be two jobs."""
    if shutil.which("redis-cli") is None:
        unavailable("redis-cli")
    stream = stream_env["SUBMIT_STREAM"]
    env = {
        **stream_env,
        "DEDUP_WINDOW_MS": "0",
        "SUBMIT_STREAM_BATCH": "200",
        "SUBMIT_STREAM_CLAIM_IDLE_MS": "500",
        "LOG_LEVEL": "warning",
    }
    scripts = []
    for producer in range(PRODUCERS):
        lines = []
        for n in range(PER_PRODUCER):
            url = f"http://127.0.0.1:9/p{producer}/{n}"
            # Half name a request id; the others are keyed by their entry id.
            extra = f" request_id p{producer}-r{n}" if n % 2 else ""
            lines.append(f"XADD {stream} * url {url}{extra}")
        path = tmp_path / f"producer-{producer}.redis"
        path.write_text("\n".join(lines) + "\n")
        scripts.append(path)
    db = _db(env)
    with worker_processes(env, tmp_path, command="intake") as intake, ExitStack() as files:
        first = intake.start()
        intake.start()
        started = time.monotonic()
        producers = [
            subprocess.Popen(
                ["redis-cli", "-p", str(redis_server.port)],
                stdin=files.enter_context(script.open("rb")),
                stdout=subprocess.DEVNULL,
            )
            for script in scripts
        ]
        poll(lambda: True if _count(db, JOBS) >= 2000 else None, timeout_s=120, what="2000 jobs")
        os.killpg(first.pid, signal.SIGKILL)
        intake.start()
        assert all(producer.wait(timeout=120) == 0 for producer in producers)
        produced = time.monotonic() - started
        total = PRODUCERS * PER_PRODUCER
        poll(
            lambda: True
            if _count(db, JOBS) >= total and _pending(redis_server, stream) == 0
            and _xlen(redis_server, stream) == 0
            else None,
            timeout_s=180,
            what=f"{total} jobs and nothing pending",
        )  # fmt: skip
        elapsed = time.monotonic() - started
    with db.transaction(write=False) as connection:
        jobs, urls = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(JOBS.c.url)))
        ).one()
        requests = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(REQUESTS.c.request_id)))
        ).one()
    assert (jobs, urls) == (total, total)
    assert tuple(requests) == (total, total)
    assert _xlen(redis_server, stream + ":rejected") == 0
    # Jobs the killed consumer committed and had not dispatched yet are the reconciler's:
    # after it, every job has exactly one RQ job.
    queue = stream_env["QUEUE_NAME"]
    reconciled = subprocess.run(
        [sys.executable, "-m", "worker", "reconcile", "--older-than", "0"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    redispatched = re.findall(r"^[0-9a-f]{32}$", reconciled.stdout, re.MULTILINE)
    assert len(redispatched) <= int(env["SUBMIT_STREAM_BATCH"])
    assert int(redis_cli(redis_server, "LLEN", f"rq:queue:{queue}")) == total
    print(
        f"\n{total} entries from {PRODUCERS} redis-cli producers, 2 consumers (one killed -9 "
        f"after 2000 jobs, a third took over): producers done in {produced:.1f} s, every job "
        f"stored in {elapsed:.1f} s ({total / elapsed:.0f} entries/s), none twice"
    )
    db.dispose()
