"""Child scans on real workers, fetchers and Redis: a loopback site on three hosts.

The hosts are three loopback addresses (127.0.0.1, .2 and .3), each serving pages of its own;
fetchers run on the host network and may reach 127.0.0.0/8 only. The pages::

    A /      links to B /b and C /c (and to A /other, its own host: no child)
    B /b     links back to A / (the root: a cycle) and to C /c2
    C /c     has a form posting to B /b (scanned already in this tree)
    C /c2    links to A /deeper (past the deepest level)
    A /go    redirects to B /landing, which links to C /c
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from redis import Redis
from sqlmodel import col, select

from statemachine.states import State
from tests.integration.conftest import scanbox_containers, settings_from
from tests.services import poll, worker_processes
from tests.sites import Site, serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.app.services import child_limits
from worker.store import queries
from worker.store.database import Database
from worker.store.models import AuditLog, ScanChild, ScanJob, ScanResult
from worker.submit.batch import submit_urls

REPOSITORY = Path(__file__).resolve().parents[2]

#: Quick recovery (the reconciler looks for lost dispatches every 300 ms) and no per-host
#: rate limit: the three hosts share 127.0.0.0/8 and a test's scans come back to back.
CHILD_ENV = {
    "HOUSEKEEPING_INTERVAL_MS": "300",
    "RECONCILE_AFTER_MS": "500",
    "LEASE_TTL_MS": "3000",
    "HOST_RATE_LIMIT": "0",
}


def _html(*parts: str) -> bytes:
    return ("<!doctype html><title>tree</title>" + "".join(parts)).encode()


@dataclass
class Hosts:
    """The three loopback hosts of the site."""

    a: Site
    b: Site
    c: Site

    def hits(self) -> Counter[str]:
        return Counter(
            f"{site.host}{path}" for site in (self.a, self.b, self.c) for path in site.hits
        )


@contextmanager
def three_hosts() -> Iterator[Hosts]:
    with ExitStack() as stack:
        a, b, c = (stack.enter_context(serve(f"127.0.0.{n}")) for n in (1, 2, 3))
        a.page(
            "/",
            _html(
                f'<a href="{b.url("/b")}">b</a><a href="{c.url("/c")}">c</a>',
                '<a href="/other">mine</a>',
            ),
        )
        b.page("/b", _html(f'<a href="{a.url("/")}">home</a><a href="{c.url("/c2")}">c2</a>'))
        c.page("/c", _html(f'<form method="post" action="{b.url("/b")}"></form>'))
        c.page("/c2", _html(f'<a href="{a.url("/deeper")}">deeper</a>'))
        a.page("/other", _html())
        a.page("/deeper", _html())
        a.routes["/go"] = _redirect(b.url("/landing"))
        b.page("/landing", _html(f'<a href="{c.url("/c")}">c</a>'))
        yield Hosts(a=a, b=b, c=c)


def _redirect(location: str) -> Any:
    def handler(request: Any) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handler


@pytest.fixture
def child_env(scan_env: dict[str, str]) -> dict[str, str]:
    return scan_env | CHILD_ENV


def _submit(env: dict[str, str], url: str, *, depth: int) -> tuple[Database, str]:
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    try:
        [job_id] = submit_urls(
            [url],
            db=db,
            dispatcher=dispatcher(settings, redis),
            depth=depth,
            child_limits=child_limits(settings),
        )
    finally:
        redis.close()
    return db, job_id


def _jobs(db: Database) -> dict[str, ScanJob]:
    with db.read() as session:
        return {job.url: job for job in session.exec(select(ScanJob))}


def _children(db: Database, parent_id: str) -> list[ScanChild]:
    with db.read() as session:
        return list(
            session.exec(
                select(ScanChild)
                .where(ScanChild.parent_id == parent_id)
                .order_by(col(ScanChild.position))
            )
        )


def _claims(db: Database) -> Counter[str]:
    with db.read() as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.from_state == "QUEUED", AuditLog.to_state == "FETCHING")
        )
        return Counter(row.job_id for row in rows)


def _results(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(result.job_id for result in session.exec(select(ScanResult)))


@pytest.mark.parametrize(
    ("depth", "scanned"),
    [
        (0, {"127.0.0.1/"}),
        (1, {"127.0.0.1/", "127.0.0.2/b", "127.0.0.3/c"}),
        (2, {"127.0.0.1/", "127.0.0.2/b", "127.0.0.3/c", "127.0.0.3/c2"}),
    ],
)
def test_a_tree_goes_as_deep_as_asked_and_a_cycle_does_not_loop(
    child_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    depth: int,
    scanned: set[str],
) -> None:
    with three_hosts() as hosts:
        db, root = _submit(child_env, hosts.a.url("/"), depth=depth)
        with worker_processes(child_env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1", timeout_s=180) == 0
        hits = hosts.hits()
        jobs = _jobs(db)

    # Every page of the tree was fetched once: the root is not fetched again through B's link
    # back to it, nor B through C's form, nor anything past the deepest level.
    assert hits == Counter(scanned)
    assert len(jobs) == len(scanned)
    assert all(job.state == State.COMPLETED for job in jobs.values()), {
        url: (job.state, job.error_message) for url, job in jobs.items()
    }
    assert set(_claims(db).values()) == {1}
    assert set(_results(db).values()) == {1}
    root_children = [(row.via, row.created) for row in _children(db, root)]
    assert root_children == ([] if depth == 0 else [("link", True), ("link", True)])
    if depth == 2:
        b = jobs[hosts.b.url("/b")]
        c = jobs[hosts.c.url("/c")]
        assert [(row.job_id, row.created) for row in _children(db, b.id)] == [
            (root, False),
            (jobs[hosts.c.url("/c2")].id, True),
        ]
        assert [(row.job_id, row.via, row.created) for row in _children(db, c.id)] == [
            (b.id, "form", False)
        ]
        assert _children(db, jobs[hosts.c.url("/c2")].id) == []
        assert {job.priority for job in (b, c)} == {"low"}
    assert scanbox_containers(docker_client, [job.id for job in jobs.values()]) == []


def test_a_redirect_to_another_host_is_a_child(child_env: dict[str, str], tmp_path: Path) -> None:
    with three_hosts() as hosts:
        db, root = _submit(child_env, hosts.a.url("/go"), depth=1)
        with worker_processes(child_env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1", timeout_s=120) == 0
        hits = hosts.hits()

    # The root's fetch followed the redirect; a child scanned the landing page on its own, and
    # another the host that page links to.
    assert hits == Counter({"127.0.0.1/go": 1, "127.0.0.2/landing": 2, "127.0.0.3/c": 1})
    children = _children(db, root)
    assert [(row.url, row.via, row.created) for row in children] == [
        (hosts.b.url("/landing"), "redirect", True),
        (hosts.c.url("/c"), "link", True),
    ]
    assert {queries.get_job(db, row.job_id).state for row in children} == {State.COMPLETED}


def test_a_kill_between_completion_and_dispatch_loses_and_doubles_nothing(
    child_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    figures: list[dict[str, Any]],
) -> None:
    with three_hosts() as hosts:
        db, root = _submit(child_env, hosts.a.url("/"), depth=1)
        crashed = subprocess.run(
            [sys.executable, "-m", "tests.integration.crash_after_commit", root],
            cwd=REPOSITORY,
            env={**os.environ, **child_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert crashed.returncode == -9, crashed.stderr
        # Completed with its children in one transaction; none of them dispatched.
        assert queries.get_job(db, root).state == State.COMPLETED
        children = _children(db, root)
        assert [row.created for row in children] == [True, True]
        settings = settings_from(child_env)
        redis = Redis.from_url(settings.effective_redis_url)
        try:
            pending = dispatcher(settings, redis).pending_job_ids()
        finally:
            redis.close()
        assert not {row.job_id for row in children} & pending
        assert {queries.get_job(db, row.job_id).state for row in children} == {State.QUEUED}

        with worker_processes(child_env, tmp_path) as workers:
            workers.start("--concurrency", "1")
            poll(
                lambda: (
                    True
                    if all(
                        queries.get_job(db, row.job_id).state == State.COMPLETED for row in children
                    )
                    else None
                ),
                timeout_s=120,
                what="the reconciler to dispatch the children and a worker to scan them",
            )
        hits = hosts.hits()

    jobs = _jobs(db)
    assert len(jobs) == 3
    assert hits == Counter({"127.0.0.1/": 1, "127.0.0.2/b": 1, "127.0.0.3/c": 1})
    assert _claims(db) == Counter({job.id: 1 for job in jobs.values()})
    assert _results(db) == Counter({job.id: 1 for job in jobs.values()})
    assert scanbox_containers(docker_client, [job.id for job in jobs.values()]) == []
    figures.append(
        {
            "scenario": "kill -9 between a parent's COMPLETED and its children's dispatch",
            "jobs": len(jobs),
            "children_created": len(children),
            "duplicates": 0,
        }
    )
