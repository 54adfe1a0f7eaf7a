"""Submissions with request ids and callback URLs: idempotent, checked before anything is
stored, and a webhook delivery written with every terminal move of a job that asked for one."""

from __future__ import annotations

import ipaddress
import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, report_bytes
from tests.unit.scanners import NOW, make_scanner
from worker.errors import ContainerCrashed, InvalidURL, UsageError
from worker.ops.maintenance import MaintenanceReport, apply_retention
from worker.store import outbox
from worker.store.database import Database
from worker.store.models import (
    DELIVERIES,
    JOBS,
    REQUESTS,
    AuditLog,
    ScanJob,
    SubmitRequest,
    WebhookDelivery,
)
from worker.store.requests import job_of_request, job_request_ids, request_ids_of
from worker.submit.batch import Request, submit_requests
from worker.submit.callbacks import CallbackRules
from worker.submit.preview import preview_requests

LOOPBACK = CallbackRules(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
HOOK = "http://127.0.0.1:8080/hook"


def _counts(db: Database) -> tuple[int, int, int, int]:
    with db.read() as session:
        return (
            len(session.exec(select(ScanJob)).all()),
            len(session.exec(select(AuditLog)).all()),
            len(session.exec(select(SubmitRequest)).all()),
            len(session.exec(select(WebhookDelivery)).all()),
        )


def _deliveries(db: Database) -> list[WebhookDelivery]:
    with db.read() as session:
        return list(session.exec(select(WebhookDelivery)))


def test_a_request_id_seen_before_returns_its_job_and_stores_nothing(db: Database) -> None:
    dispatcher = FakeDispatcher()
    [first] = submit_requests(
        [Request(url="http://127.0.0.1/a", request_id="order-17")], db=db, dispatcher=dispatcher
    )
    assert (first.duplicate, first.repeated, first.request_id) == (False, False, "order-17")
    assert _counts(db) == (1, 1, 1, 0)
    # A retry, with another URL even, and a force (no deduplication window): the same job.
    [again] = submit_requests(
        [Request(url="http://127.0.0.1/b", request_id="order-17")], db=db, dispatcher=dispatcher
    )
    assert (again.job_id, again.duplicate, again.repeated) == (first.job_id, True, True)
    assert _counts(db) == (1, 1, 1, 0)
    assert dispatcher.dispatched == [first.job_id]
    assert job_of_request(db, "order-17") == first.job_id


def test_a_request_id_repeated_within_a_batch_makes_one_job(db: Database) -> None:
    submissions = submit_requests(
        [
            Request(url="http://127.0.0.1/a", request_id="r1"),
            Request(url="http://127.0.0.1/a", request_id="r1"),
            Request(url="http://127.0.0.1/a", request_id="r2"),
        ],
        db=db,
        dispatcher=FakeDispatcher(),
    )
    first, repeat, other = submissions
    assert repeat.job_id == first.job_id
    assert repeat.repeated
    assert other.job_id != first.job_id
    assert _counts(db) == (2, 2, 2, 0)


@pytest.mark.parametrize(
    ("request_id", "entry_id", "message"),
    [
        ("", None, "invalid request id"),
        ("has space", None, "invalid request id"),
        ("x" * 201, None, "invalid request id"),
        ("é", None, "invalid request id"),
        ("1700000000000-0", None, "stream entry id"),
        ("1700000000000-0", "1700000000000-1", "stream entry id"),
    ],
)
def test_a_bad_request_id_stores_nothing(
    db: Database, request_id: str, entry_id: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        submit_requests(
            [
                Request(url="http://127.0.0.1/ok"),
                Request(url="http://127.0.0.1/", request_id=request_id, entry_id=entry_id),
            ],
            db=db,
            dispatcher=FakeDispatcher(),
        )
    assert _counts(db) == (0, 0, 0, 0)


def test_a_stream_entry_may_use_its_own_id_as_request_id(db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1/", request_id="17-3", entry_id="17-3")],
        db=db,
        dispatcher=FakeDispatcher(),
    )
    assert job_of_request(db, "17-3") == made.job_id


@pytest.mark.parametrize(
    ("callback", "rules", "reason"),
    [
        ("http://10.1.2.3/hook", CallbackRules(), "10.1.2.3 is a private address"),
        ("http://127.0.0.1/hook", CallbackRules(), "loopback"),
        ("http://[::1]:8080/hook", LOOPBACK, "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", LOOPBACK, "FETCHER_ALLOW_NETWORKS"),
        ("http://169.254.169.254/latest", LOOPBACK, "link-local"),
        ("http://127.0.0.1:22/hook", CallbackRules(), "port 22 is not in the allowed ports"),
        ("ftp://127.0.0.1/hook", LOOPBACK, "scheme must be http or https"),
        ("http://user:pw@127.0.0.1/hook", LOOPBACK, "credentials"),
    ],
)
def test_a_callback_the_address_rules_refuse_is_refused_at_submit(
    db: Database, callback: str, rules: CallbackRules, reason: str
) -> None:
    with pytest.raises(InvalidURL, match=reason):
        submit_requests(
            [Request(url="http://127.0.0.1/", callback_url=callback)],
            db=db,
            dispatcher=FakeDispatcher(),
            callbacks=rules,
        )
    assert _counts(db) == (0, 0, 0, 0)


def test_a_callback_by_name_is_left_to_the_egress_proxy(db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1/", callback_url="https://hooks.example.test/scan")],
        db=db,
        dispatcher=FakeDispatcher(),
    )
    with db.read() as session:
        row = session.exec(select(SubmitRequest)).one()
    assert (row.job_id, row.callback_url, row.request_id) == (
        made.job_id,
        "https://hooks.example.test/scan",
        None,
    )


def test_completing_a_job_writes_its_delivery_in_the_same_transaction(db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1:8080/", callback_url=HOOK, request_id="req-1")],
        db=db,
        dispatcher=FakeDispatcher(),
        callbacks=LOOPBACK,
    )
    runner = FakeRunner([report_bytes(title="<b>Hi</b>\x1b[31m")])
    assert make_scanner(db, runner).scan(made.job_id) is State.COMPLETED

    [delivery] = _deliveries(db)
    assert (delivery.job_id, delivery.url, delivery.request_id) == (made.job_id, HOOK, "req-1")
    assert (delivery.status, delivery.attempts, delivery.event) == (
        "pending",
        0,
        "scan.completed",
    )
    assert delivery.next_attempt_at == NOW
    assert delivery.id.startswith("msg_")
    body = json.loads(delivery.body)
    assert body["type"] == "scan.completed"
    assert body["timestamp"] == "2026-03-01T12:00:00Z"
    data = body["data"]
    assert (data["job_id"], data["request_id"], data["state"]) == (
        made.job_id,
        "req-1",
        "COMPLETED",
    )
    assert data["result"]["verdict"] == "benign"
    assert data["result"]["status_code"] == 200
    # The page's title is data: carried exactly, never interpreted.
    assert data["result"]["title"] == "<b>Hi</b>\x1b[31m"
    assert data["error"] is None
    # The delivery and the COMPLETED audit row were written by one transaction: same time.
    with db.read() as session:
        completed = session.exec(
            select(AuditLog).where(AuditLog.to_state == State.COMPLETED.value)
        ).one()
    assert completed.at == delivery.created_at


def test_a_failed_job_reports_its_error(db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1/", callback_url=HOOK)],
        db=db,
        dispatcher=FakeDispatcher(),
        callbacks=LOOPBACK,
    )
    runner = FakeRunner([ContainerCrashed(exit_code=3, oom_killed=False, stderr_tail="boom")])
    assert make_scanner(db, runner).scan(made.job_id) is State.FAILED
    [delivery] = _deliveries(db)
    data = json.loads(delivery.body)["data"]
    assert delivery.event == "scan.failed"
    assert (data["state"], data["result"], data["error"]["code"]) == (
        "FAILED",
        None,
        "container_crashed",
    )
    assert data["request_id"] is None


def test_a_job_without_callbacks_writes_no_delivery(db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1/", request_id="quiet")], db=db, dispatcher=FakeDispatcher()
    )
    assert make_scanner(db, FakeRunner()).scan(made.job_id) is State.COMPLETED
    assert _deliveries(db) == []


def test_each_request_folded_into_a_job_gets_its_own_delivery(db: Database) -> None:
    window = timedelta(minutes=10)
    first, second = (
        submit_requests(
            [Request(url="http://127.0.0.1/same", callback_url=f"{HOOK}/{n}", request_id=f"r{n}")],
            db=db,
            dispatcher=FakeDispatcher(),
            dedup_window=window,
            callbacks=LOOPBACK,
        )[0]
        for n in (1, 2)
    )
    assert second.job_id == first.job_id
    assert second.duplicate
    assert not second.repeated
    assert make_scanner(db, FakeRunner()).scan(first.job_id) is State.COMPLETED
    got = sorted((d.url, d.request_id) for d in _deliveries(db))
    assert got == [(f"{HOOK}/1", "r1"), (f"{HOOK}/2", "r2")]


def test_a_request_folded_into_a_terminal_job_is_called_back_at_once(db: Database) -> None:
    window = timedelta(minutes=10)
    [done] = submit_requests(
        [Request(url="http://127.0.0.1/x")],
        db=db,
        dispatcher=FakeDispatcher(),
        dedup_window=window,
    )
    assert make_scanner(db, FakeRunner()).scan(done.job_id) is State.COMPLETED
    assert _deliveries(db) == []
    [late] = submit_requests(
        [Request(url="http://127.0.0.1/x", callback_url=HOOK, request_id="late")],
        db=db,
        dispatcher=FakeDispatcher(),
        dedup_window=window,
        callbacks=LOOPBACK,
    )
    assert (late.job_id, late.state, late.duplicate) == (done.job_id, State.COMPLETED, True)
    [delivery] = _deliveries(db)
    assert (delivery.url, delivery.request_id, delivery.event) == (HOOK, "late", "scan.completed")
    # Submitted again under the same request id: nothing more.
    submit_requests(
        [Request(url="http://127.0.0.1/x", callback_url=HOOK, request_id="late")],
        db=db,
        dispatcher=FakeDispatcher(),
        dedup_window=window,
        callbacks=LOOPBACK,
    )
    assert len(_deliveries(db)) == 1


def test_a_dry_run_says_what_would_happen_and_writes_nothing(db: Database) -> None:
    window = timedelta(minutes=10)
    [existing] = submit_requests(
        [Request(url="http://127.0.0.1/old", request_id="known")],
        db=db,
        dispatcher=FakeDispatcher(),
        dedup_window=window,
    )
    before = _counts(db)
    previews = preview_requests(
        [
            Request(url="http://127.0.0.1/new"),
            Request(url="http://127.0.0.1/./old"),
            Request(url="http://127.0.0.1/other", request_id="known"),
            Request(url="http://127.0.0.1/new"),
        ],
        db=db,
        dedup_window=window,
    )
    assert [(p.job_id, p.duplicate, p.repeated) for p in previews] == [
        (None, False, False),
        (existing.job_id, True, False),
        (existing.job_id, True, True),
        (None, True, False),
    ]
    assert _counts(db) == before
    with pytest.raises(InvalidURL):
        preview_requests([Request(url="javascript:alert(1)")], db=db)


def test_retention_deletes_requests_and_deliveries_with_their_job(db: Database) -> None:
    [made] = submit_requests(
        [Request(url="http://127.0.0.1/", callback_url=HOOK, request_id="gone")],
        db=db,
        dispatcher=FakeDispatcher(),
        callbacks=LOOPBACK,
    )
    assert make_scanner(db, FakeRunner()).scan(made.job_id) is State.COMPLETED
    report = MaintenanceReport()
    apply_retention(db, cutoff=NOW + timedelta(days=1), report=report)
    assert report.jobs_deleted == 1
    assert _counts(db) == (0, 0, 0, 0)


@pytest.mark.backends
def test_concurrent_submissions_of_one_request_id_make_one_job(database_url: str) -> None:
    """Writers that each find a request id new: the unique constraint lets one store it, and
    the others fold into its job."""
    writers = [Database(url=database_url) for _ in range(4)]
    writers[0].create_schema()
    start = threading.Barrier(len(writers))
    found: list[list[str]] = []
    errors: list[BaseException] = []

    def submit(db: Database) -> None:
        try:
            start.wait()
            made = submit_requests(
                [Request(url=f"http://127.0.0.1/{n}", request_id=f"race-{n}") for n in range(20)],
                db=db,
                dispatcher=FakeDispatcher(),
            )
            found.append([item.job_id for item in made])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submit, args=(db,)) for db in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(ids == found[0] for ids in found)
    with writers[0].transaction(write=False) as connection:
        jobs = connection.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar_one()
        requests = connection.execute(sa.select(sa.func.count()).select_from(REQUESTS)).scalar_one()
        deliveries = connection.execute(
            sa.select(sa.func.count()).select_from(DELIVERIES)
        ).scalar_one()
    assert (jobs, requests, deliveries) == (20, 20, 0)
    for db in writers:
        db.dispose()


def test_outbox_statuses_are_checked() -> None:
    assert outbox.STATUSES == ("pending", "delivered", "failed")


def test_a_jobs_request_ids_are_those_of_its_submissions_oldest_first(db: Database) -> None:
    dispatcher = FakeDispatcher()
    made = submit_requests(
        [
            Request(url="http://127.0.0.1/a", request_id="first"),
            Request(url="http://127.0.0.1/b", callback_url=HOOK),
            Request(url="http://127.0.0.1/c"),
        ],
        db=db,
        dispatcher=dispatcher,
        callbacks=LOOPBACK,
        dedup_window=timedelta(minutes=5),
    )
    submit_requests(
        [Request(url="http://127.0.0.1/a", request_id="second")],
        db=db,
        dispatcher=dispatcher,
        dedup_window=timedelta(minutes=5),
    )
    a, b, c = (item.job_id for item in made)
    # A callback without a request id stores a row, but no request id.
    assert request_ids_of(db, [a, b, c, "unknown"]) == {a: ["first", "second"]}
    assert job_request_ids(db, a) == ["first", "second"]
    assert job_request_ids(db, c) == []
