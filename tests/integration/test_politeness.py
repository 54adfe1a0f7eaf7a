"""Politeness and order end to end: real Redis, real Docker, real worker processes.

Per-host rate limits (a burst to one host is spread out, other hosts are unaffected),
priorities (a backlog is reordered), and a conditional re-scan (an ETag, then a 304).
Spacing is asserted from recorded times, as a property of the limiter: no two requests to a
host closer than its interval, less a tolerance for the jitter of starting a container.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from redis import Redis

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.services import worker_processes
from tests.sites import Site, serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.store import queries
from worker.store.database import Database
from worker.submit.batch import submit_urls

PAGE = b"<!doctype html><html><head><title>polite</title></head><body>hi</body></html>"
#: The per-host rate the spacing test runs with: one request every two seconds.
RATE_PER_S = 0.5
INTERVAL_S = 1 / RATE_PER_S
#: Requests reach the target a container start after their claim; starts vary this much.
CONTAINER_JITTER_S = 1.0
#: A claim follows its admission by one database write.
CLAIM_JITTER_S = 0.25
#: How long a test waits for its scans.
SCANS_TIMEOUT_S = 120


@dataclass
class Visits:
    """What a site saw: the monotonic time, path and headers of each request, in order."""

    seen: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), request.path, dict(request.headers.items())))

    def times(self) -> list[float]:
        return sorted(at for at, _, _ in self.seen)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]


def _recorded_page(site: Site, path: str, visits: Visits) -> None:
    site.page(path, PAGE)
    serve_page = site.routes[path]

    def handler(request: BaseHTTPRequestHandler) -> None:
        visits.add(request)
        serve_page(request)

    site.routes[path] = handler


def _submit(env: dict[str, str], urls: list[str], priority: str = "normal") -> list[str]:
    settings = settings_from(env)
    redis = Redis.from_url(settings.effective_redis_url)
    try:
        return submit_urls(
            urls,
            db=open_database(settings),
            dispatcher=dispatcher(settings, redis),
            priority=priority,
        )
    finally:
        redis.close()


def _claimed_at(db: Database, job_id: str) -> datetime:
    [at] = [row.at for row in queries.get_audit(db, job_id) if row.to_state == "FETCHING"]
    return at


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def _log_events(logs: Path) -> list[dict[str, object]]:
    """The JSON log events of the workers (processes of a pool share a file, and print()
    writes an event and its newline separately, so events may share a line)."""
    decoder = json.JSONDecoder()
    events = []
    for log in logs.glob("worker-*.log"):
        text = log.read_text()
        start = text.find("{")
        while start != -1:
            event, end = decoder.raw_decode(text, start)
            events.append(event)
            start = text.find("{", end)
    return events


def _deferred_jobs(logs: Path) -> list[str]:
    return [str(e["job_id"]) for e in _log_events(logs) if e.get("event") == "job_deferred"]


def test_a_burst_to_one_host_is_spread_out_and_other_hosts_are_unaffected(
    scan_env: dict[str, str], tmp_path: Path
) -> None:
    env = scan_env | {"HOST_RATE_LIMIT": str(RATE_PER_S), "HOST_RATE_BURST": "1"}
    busy, quiet = Visits(), Visits()
    with serve("127.0.0.1") as busy_site, serve("127.0.0.2") as quiet_site:
        for n in range(4):
            _recorded_page(busy_site, f"/{n}", busy)
        for n in range(2):
            _recorded_page(quiet_site, f"/{n}", quiet)
        busy_ids = _submit(env, [busy_site.url(f"/{n}") for n in range(4)])
        quiet_ids = _submit(env, [quiet_site.url(f"/{n}") for n in range(2)])
        db = open_database(settings_from(env))
        with worker_processes(env, tmp_path) as workers:
            workers.start("--concurrency", "2")
            jobs = queries.wait_for_terminal(db, busy_ids + quiet_ids, timeout_s=SCANS_TIMEOUT_S)
    assert {job.state for job in jobs.values()} == {State.COMPLETED}
    # Deferring wrote nothing: each job went QUEUED, FETCHING, ANALYZING, COMPLETED once.
    assert {job.version for job in jobs.values()} == {4}
    assert (len(busy.seen), len(quiet.seen)) == (4, 2)

    # The burst to 127.0.0.1 was spread out: claims (taken right after admission) at least
    # one interval apart, and so were the requests, give or take a container start.
    busy_claims = sorted(_claimed_at(db, job_id).timestamp() for job_id in busy_ids)
    assert min(_gaps(busy_claims)) >= INTERVAL_S - CLAIM_JITTER_S, _gaps(busy_claims)
    assert min(_gaps(busy.times())) >= INTERVAL_S - CONTAINER_JITTER_S, _gaps(busy.times())
    assert busy_claims[-1] - busy_claims[0] >= 3 * INTERVAL_S - CLAIM_JITTER_S
    # Jobs over the limit were deferred rather than run (which ones varies: two workers take
    # the first two jobs at once).
    deferred = set(_deferred_jobs(tmp_path))
    assert len(set(busy_ids) & deferred) >= 2

    # 127.0.0.2 has a bucket of its own: its first scan went at once, not behind the
    # backlog of 127.0.0.1, and its second only waited for its own interval.
    quiet_claims = sorted(_claimed_at(db, job_id).timestamp() for job_id in quiet_ids)
    assert set(quiet_ids) - deferred, "the first scan of 127.0.0.2 waited for nothing"
    assert quiet_claims[0] < busy_claims[1]
    assert quiet_claims[-1] < busy_claims[-1]
    assert quiet_claims[1] - quiet_claims[0] >= INTERVAL_S - CLAIM_JITTER_S


def test_priorities_reorder_a_backlog(scan_env: dict[str, str], tmp_path: Path) -> None:
    env = scan_env | {"HOST_RATE_LIMIT": "0"}
    visits = Visits()
    order = ("low", "normal", "high")
    with serve() as site:
        for priority in order:
            for n in range(3):
                _recorded_page(site, f"/{priority}-{n}", visits)
        ids: dict[str, list[str]] = {}
        for priority in order:
            ids[priority] = _submit(
                env, [site.url(f"/{priority}-{n}") for n in range(3)], priority=priority
            )
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    db = open_database(settings_from(env))
    submitted = [job_id for priority in order for job_id in ids[priority]]
    claimed = sorted(submitted, key=lambda job_id: _claimed_at(db, job_id))
    expected = ids["high"] + ids["normal"] + ids["low"]
    assert claimed == expected
    assert visits.paths() == [f"/{p}-{n}" for p in ("high", "normal", "low") for n in range(3)]


@dataclass
class EtagPage:
    """A page with an ETag and a Last-Modified that answers 304 when its ETag is sent back."""

    etag: str = '"v1"'
    last_modified: str = "Sun, 01 Mar 2026 10:00:00 GMT"
    body: bytes = PAGE
    requests: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        self.requests.append(dict(request.headers.items()))
        unchanged = request.headers.get("If-None-Match") == self.etag
        request.send_response(304 if unchanged else 200)
        request.send_header("ETag", self.etag)
        request.send_header("Last-Modified", self.last_modified)
        if unchanged:
            request.end_headers()
            return
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(self.body)))
        request.end_headers()
        request.wfile.write(self.body)


def test_a_page_with_an_etag_then_a_304(scan_env: dict[str, str], tmp_path: Path) -> None:
    page = EtagPage()
    db = open_database(settings_from(scan_env))

    def scan(url: str) -> str:
        [job_id] = _submit(scan_env, [url])
        with worker_processes(scan_env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
        assert queries.get_job(db, job_id).state == State.COMPLETED
        return job_id

    with serve() as site:
        site.routes["/page"] = page
        first_job = scan(site.url("/page"))
        second_job = scan(site.url("/page#again"))
        page.etag, page.body = '"v2"', PAGE.replace(b"hi", b"changed")
        third_job = scan(site.url("/page"))

    first, second, third = (
        queries.get_result(db, job) for job in (first_job, second_job, third_job)
    )
    assert first is not None
    assert second is not None
    assert third is not None
    assert [headers.get("If-None-Match") for headers in page.requests] == [None, '"v1"', '"v1"']
    assert page.requests[1]["If-Modified-Since"] == page.last_modified

    assert (first.status_code, first.not_modified, first.title) == (200, False, "polite")
    assert (second.status_code, second.not_modified) == (304, True)
    assert second.previous_result_id == first.id
    assert (second.verdict, second.score) == (first.verdict, first.score)
    # Only the 304's own facts are written: no title, an empty body, nothing of the page's.
    assert (second.title, second.size, second.reasons) == (None, 0, [])
    assert second.sha256 != first.sha256
    assert (third.status_code, third.not_modified, third.previous_result_id) == (200, False, None)
    assert third.sha256 != first.sha256

    shown = subprocess.run(
        [sys.executable, "-m", "worker", "status", second_job, "--json"],
        env={**os.environ, **scan_env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(shown.stdout)["result"]
    assert (result["not_modified"], result["previous_result_id"]) == (True, first.id)
