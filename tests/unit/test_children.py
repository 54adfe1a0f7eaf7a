"""Child scans on SQLite with fake containers: leads, limits, links, cycles, the transaction."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, make_report, report_bytes
from worker.analysis.report import FetchReport
from worker.containers.spec import Limits
from worker.errors import UsageError
from worker.scan.backoff import Backoff
from worker.scan.leads import leads_of
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import FetcherArgs, Scanner
from worker.store.database import Database
from worker.store.lineage import lineage_of
from worker.store.models import JOBS, AuditLog, ScanChild, ScanJob, ScanLineage
from worker.submit.batch import submit_batch, submit_urls
from worker.submit.children import ChildLimits, ChildScans, Lead, lower_priority

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
A = "http://127.0.0.1:8001/"
B = "http://127.0.0.2:8002/b"
C = "http://127.0.0.3:8003/c"


def _links(*urls: str) -> dict[str, Any]:
    return {"count": len(urls), "external_hosts": [], "targets": list(urls)}


def _form(action: str | None) -> dict[str, Any]:
    return {
        "action": action,
        "action_host": None,
        "method": "post",
        "has_password": True,
        "cross_origin": True,
        "insecure_action": True,
    }


def _page(url: str, *links: str, **changes: Any) -> bytes:
    return report_bytes(
        requested_url=url, final_url=url, observations__links=_links(*links), **changes
    )


def _report(**changes: Any) -> FetchReport:
    return FetchReport.model_validate(make_report(**changes))


def _scanner(
    db: Database,
    runner: FakeRunner,
    dispatcher: FakeDispatcher,
    *,
    window: timedelta = timedelta(0),
    limits: ChildLimits | None = None,
    children: ChildScans | None = None,
) -> Scanner:
    return Scanner(
        db=db,
        runner=runner,
        dispatcher=dispatcher,
        worker_id="w1",
        limits=Limits(timeout_ms=5000, memory_limit_mb=256, cpu_limit=0.5, pids_limit=64),
        fetch=FetcherArgs(timeout_ms=4000, max_body_bytes=1 << 20, allowed_ports="any"),
        outcomes=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=10, rng=random.Random(1))),
        children=children
        or ChildScans(dispatcher=dispatcher, limits=limits or ChildLimits(), dedup_window=window),
        clock=lambda: NOW,
    )


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


def _lineage(db: Database, job_id: str) -> ScanLineage | None:
    with db.read() as session:
        return session.get(ScanLineage, job_id)


# Leads


def test_leads_are_a_redirect_to_another_host_then_forms_then_links_one_per_host() -> None:
    report = _report(
        requested_url=A,
        final_url=B,
        redirects=[{"url": A, "status_code": 302, "location": B}],
        observations__forms=[_form(C + "/login"), _form(None), _form(B + "/same-host")],
        observations__links=_links(
            "http://127.0.0.3:8003/other-page", "http://127.0.0.1:8001/home", "http://h.test/x"
        ),
    )

    assert leads_of(report) == [
        Lead(url=B, via="redirect"),
        Lead(url=C + "/login", via="form"),
        Lead(url="http://h.test/x", via="link"),
    ]


def test_no_redirect_no_redirect_lead_and_the_pages_own_hosts_lead_nowhere() -> None:
    report = _report(
        requested_url=A,
        final_url=A,
        observations__links=_links("HTTP://127.0.0.1:8001/other", "http://127.0.0.1:8009/"),
    )

    assert leads_of(report) == [Lead(url="http://127.0.0.1:8009/", via="link")]


def test_a_redirect_on_the_same_host_is_no_lead() -> None:
    report = _report(
        requested_url=A,
        final_url=A + "next",
        redirects=[{"url": A, "status_code": 301, "location": "/next"}],
    )

    assert leads_of(report) == []


def test_a_report_of_an_older_fetcher_without_link_targets_has_no_link_leads() -> None:
    report = _report(
        requested_url=A, final_url=A, observations__links={"count": 3, "external_hosts": ["x"]}
    )

    assert report.observations.links.targets == []
    assert leads_of(report) == []


def test_lower_priority_goes_one_step_down_and_stays_low() -> None:
    assert [lower_priority(p) for p in ("high", "normal", "low", "odd")] == [
        "normal",
        "low",
        "low",
        "low",
    ]


# Submitting trees


def test_depth_and_children_past_their_limits_store_nothing(db: Database) -> None:
    dispatcher = FakeDispatcher()
    limits = ChildLimits(max_depth=2, default_children=3, max_children=5)
    for depth, children in ((3, None), (-1, None), (1, 6), (1, -1)):
        with pytest.raises(UsageError):
            submit_urls(
                [A],
                db=db,
                dispatcher=dispatcher,
                depth=depth,
                max_children=children,
                child_limits=limits,
            )
    assert _jobs(db) == {}
    assert dispatcher.calls == []


def test_a_submission_with_depth_is_the_root_of_a_tree(db: Database) -> None:
    limits = ChildLimits(max_depth=3, default_children=4, max_children=5)
    [root] = submit_urls([A], db=db, dispatcher=FakeDispatcher(), depth=2, child_limits=limits)
    [plain] = submit_urls([B], db=db, dispatcher=FakeDispatcher())

    lineage = _lineage(db, root)
    assert lineage is not None
    assert (lineage.parent_id, lineage.depth, lineage.max_depth, lineage.max_children) == (
        None,
        0,
        2,
        4,
    )
    assert _lineage(db, plain) is None


def test_a_deeper_submission_is_not_folded_into_a_shallower_job(db: Database) -> None:
    window = timedelta(minutes=10)
    first = submit_batch(
        [A], db=db, dispatcher=FakeDispatcher(), dedup_window=window, clock=lambda: NOW
    )
    again = submit_batch(
        [A], db=db, dispatcher=FakeDispatcher(), dedup_window=window, depth=1, clock=lambda: NOW
    )
    third = submit_batch(
        [A], db=db, dispatcher=FakeDispatcher(), dedup_window=window, depth=1, clock=lambda: NOW
    )
    shallower = submit_batch(
        [A], db=db, dispatcher=FakeDispatcher(), dedup_window=window, clock=lambda: NOW
    )

    assert not again[0].duplicate
    assert again[0].job_id != first[0].job_id
    assert third[0].duplicate
    assert third[0].job_id == again[0].job_id
    assert shallower[0].duplicate


# Children of a completed scan


def test_depth_zero_makes_no_children(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher)
    runner = FakeRunner([_page(A, B, C)])

    assert _scanner(db, runner, dispatcher).scan(root) is State.COMPLETED

    assert set(_jobs(db)) == {A}
    assert _children(db, root) == []
    assert dispatcher.dispatched == [root]


def test_a_completed_root_makes_its_children_in_order_one_priority_lower(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls(
        [A], db=db, dispatcher=dispatcher, priority="high", depth=1, max_attempts=5
    )
    runner = FakeRunner([_page(A, B, C, "http://127.0.0.2:8002/b-again")])

    assert _scanner(db, runner, dispatcher).scan(root) is State.COMPLETED

    jobs = _jobs(db)
    assert set(jobs) == {A, B, C}
    children = _children(db, root)
    assert [(row.url, row.via, row.created, row.position) for row in children] == [
        (B, "link", True, 0),
        (C, "link", True, 1),
    ]
    assert (jobs[B].host, jobs[C].host) == ("127.0.0.2", "127.0.0.3")
    for url in (B, C):
        job = jobs[url]
        assert (job.state, job.priority, job.max_attempts, job.version) == (
            State.QUEUED,
            "normal",
            5,
            1,
        )
        lineage = _lineage(db, job.id)
        assert lineage is not None
        assert (lineage.parent_id, lineage.depth, lineage.max_depth) == (root, 1, 1)
    # Dispatched after the commit, in one call, one step lower.
    assert dispatcher.calls[-1] == ((jobs[B].id, jobs[C].id), "normal", 0)
    # Created at the instant the parent completed, by the worker that completed it.
    with db.read() as session:
        created = session.exec(
            select(AuditLog).where(AuditLog.job_id == jobs[B].id, AuditLog.from_state == None)  # noqa: E711
        ).one()
    assert (created.actor, created.at) == ("w1", NOW)
    assert jobs[A].finished_at == NOW


def test_children_at_the_deepest_level_make_none(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1)
    runner = FakeRunner([_page(A, B), _page(B, C)])
    scanner = _scanner(db, runner, dispatcher)
    scanner.scan(root)
    child = _jobs(db)[B].id

    assert scanner.scan(child) is State.COMPLETED

    assert set(_jobs(db)) == {A, B}
    assert _children(db, child) == []


def test_max_children_bounds_new_and_linked_children(db: Database) -> None:
    dispatcher = FakeDispatcher()
    links = [f"http://127.0.1.{number}/" for number in range(1, 9)]
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1, max_children=3)

    _scanner(db, FakeRunner([_page(A, *links)]), dispatcher).scan(root)

    assert [row.url for row in _children(db, root)] == links[:3]
    assert len(_jobs(db)) == 4


def test_the_settings_limits_apply_to_trees_submitted_before_they_changed(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=2, max_children=5)
    tighter = ChildLimits(max_depth=0, default_children=0, max_children=0)

    _scanner(db, FakeRunner([_page(A, B, C)]), dispatcher, limits=tighter).scan(root)

    assert set(_jobs(db)) == {A}


def test_a_recently_scanned_url_is_linked_not_scanned_again(db: Database) -> None:
    dispatcher = FakeDispatcher()
    window = timedelta(minutes=10)
    [earlier] = submit_urls([B], db=db, dispatcher=dispatcher, clock=lambda: NOW)
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1, clock=lambda: NOW)
    runner = FakeRunner([_page(A, "http://127.0.0.2:8002/./b#top", C)])

    _scanner(db, runner, dispatcher, window=window).scan(root)

    children = _children(db, root)
    assert [(row.job_id == earlier, row.created) for row in children] == [
        (True, False),
        (False, True),
    ]
    assert len(_jobs(db)) == 3
    assert dispatcher.calls[-1] == ((_jobs(db)[C].id,), "low", 0)


def test_a_failed_recent_scan_is_scanned_again(db: Database) -> None:
    dispatcher = FakeDispatcher()
    window = timedelta(minutes=10)
    [earlier] = submit_urls([B], db=db, dispatcher=dispatcher, clock=lambda: NOW)
    db.run_write(
        lambda connection: connection.execute(
            sa.update(JOBS).where(JOBS.c.id == earlier).values(state=State.FAILED.value)
        )
    )
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1, clock=lambda: NOW)

    _scanner(db, FakeRunner([_page(A, B)]), dispatcher, window=window).scan(root)

    [child] = _children(db, root)
    assert child.created
    assert child.job_id != earlier


def test_a_cycle_links_back_to_the_ancestor_and_stops(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=3)
    # A -> B -> A: no deduplication window, so only the ancestry stops the loop.
    runner = FakeRunner([_page(A, B), _page(B, A, C), _page(C, A, B)])
    scanner = _scanner(db, runner, dispatcher)
    scanner.scan(root)
    b = _jobs(db)[B].id
    scanner.scan(b)
    c = _jobs(db)[C].id
    scanner.scan(c)

    assert set(_jobs(db)) == {A, B, C}
    assert [(row.job_id, row.created) for row in _children(db, b)] == [(root, False), (c, True)]
    assert [(row.job_id, row.created) for row in _children(db, c)] == [(root, False), (b, False)]
    assert runner.behaviours == []


def test_a_lead_back_to_the_scan_itself_is_dropped(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1)
    # The page redirected elsewhere and links back to the URL the scan asked for.
    redirected = report_bytes(
        requested_url=A,
        final_url=B,
        redirects=[{"url": A, "status_code": 302, "location": B}],
        observations__links=_links(A),
    )

    _scanner(db, FakeRunner([redirected]), dispatcher).scan(root)

    assert [(row.url, row.via) for row in _children(db, root)] == [(B, "redirect")]


@pytest.mark.parametrize(
    "hostile",
    [
        "http://user:secret@127.0.0.9/",
        "http://127.0.0.9/\x1b[2J",
        "http://127.0.0.9/\u202eevil",
        "javascript:alert(1)//127.0.0.9/",
        "http://" + "a" * 2100 + ".test/",
        "http://bad_label-.test/",
    ],
)
def test_hostile_lead_urls_are_not_followed(db: Database, hostile: str) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1)

    assert (
        _scanner(db, FakeRunner([_page(A, hostile, C)]), dispatcher).scan(root) is State.COMPLETED
    )

    assert [row.url for row in _children(db, root)] == [C]


def test_children_are_written_with_the_completion_or_not_at_all(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1)

    def lose_the_race(request: object) -> Any:
        # Another writer moves the job while its container runs: the lease was taken back.
        db.run_write(
            lambda connection: connection.execute(
                sa.update(JOBS).where(JOBS.c.id == root).values(version=JOBS.c.version + 5)
            )
        )
        from worker.containers.runner import ContainerRun  # noqa: PLC0415

        return ContainerRun(container_id="c" * 64, stdout=_page(A, B), duration_ms=1.0)

    assert _scanner(db, FakeRunner([lose_the_race]), dispatcher).scan(root) is None

    assert set(_jobs(db)) == {A}
    assert _children(db, root) == []
    assert dispatcher.dispatched == [root]


def test_a_lost_dispatch_leaves_the_children_queued(db: Database) -> None:
    import redis.exceptions  # noqa: PLC0415

    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1)
    dispatcher.fail_with = redis.exceptions.ConnectionError("redis went away")

    assert _scanner(db, FakeRunner([_page(A, B)]), dispatcher).scan(root) is State.COMPLETED

    job = _jobs(db)[B]
    assert job.state == State.QUEUED
    with db.read() as session:
        assert lineage_of(session.connection(), job.id) is not None


class _RefusedAfterSpawning(ChildScans):
    """Writes the children, then the database refuses the rest of the transaction."""

    def spawn(self, connection: Any, **kwargs: Any) -> Any:
        super().spawn(connection, **kwargs)
        raise sa.exc.IntegrityError("INSERT …", {}, Exception("refused"))


def test_a_completion_that_rolls_back_takes_its_children_with_it(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [root] = submit_urls([A], db=db, dispatcher=dispatcher, depth=1)
    refused = _RefusedAfterSpawning(
        dispatcher=dispatcher, limits=ChildLimits(), dedup_window=timedelta(0)
    )
    scanner = _scanner(db, FakeRunner([_page(A, B, C)]), dispatcher, children=refused)

    assert scanner.scan(root) is State.FAILED

    assert set(_jobs(db)) == {A}
    assert _jobs(db)[A].error_code == "result_rejected"
    assert _children(db, root) == []
    assert dispatcher.dispatched == [root]
