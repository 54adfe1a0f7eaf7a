"""What ``POST /v1/scans`` takes: its body's shape, and a submission through
``worker.api.submitting`` with the callbacks, request ids and child scans of
``submit_requests``, refused whole with the CLI's words."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from redis import Redis
from sqlmodel import select

from tests.support import FakeDispatcher
from worker.api.artifacts import ArtifactSources, ReportArtifacts
from worker.api.cursors import CursorSigner
from worker.api.forms import FormTokens
from worker.api.parts import ApiParts, SubmitOptions
from worker.api.problems import Problem, problem_for
from worker.api.ratelimit import KeyRateLimiter
from worker.api.schemas import ScanItem, ScanRequest
from worker.api.submitting import requests_of, submit
from worker.api.wiring import build_parts
from worker.errors import ConfigurationError, InvalidURL, UsageError
from worker.settings import Settings
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob, ScanLineage, SubmitRequest
from worker.submit.batch import Request
from worker.submit.children import ChildLimits
from worker.telemetry.metrics import Metrics

WEBHOOK = "http://hooks.example/scanbox"


def _parts(db: Database, dispatcher: FakeDispatcher, **options: Any) -> ApiParts:
    """The API's parts over ``db``: a Redis client that is never asked anything (the rate
    limit is off), and submit options as ``build_parts`` makes them."""
    redis = Redis()
    return ApiParts(
        db=db,
        redis=redis,
        dispatcher=dispatcher,
        limiter=KeyRateLimiter(redis=redis, limit=0, window_ms=1000, namespace="test"),
        cursors=CursorSigner(secret=b"test"),
        forms=FormTokens(secret=b"test"),
        artifacts=ArtifactSources([ReportArtifacts(db=db)]),
        metrics=Metrics(),
        submit=SubmitOptions(dedup_window=timedelta(minutes=10), **options),
    )


def _body(**fields: Any) -> ScanRequest:
    """A body as the API parses it: from JSON."""
    return ScanRequest.model_validate_json(json.dumps(fields))


def _stored(db: Database) -> tuple[int, int, int, int]:
    with db.read() as session:
        return (
            len(session.exec(select(ScanJob)).all()),
            len(session.exec(select(AuditLog)).all()),
            len(session.exec(select(SubmitRequest)).all()),
            len(session.exec(select(ScanLineage)).all()),
        )


def _callbacks(db: Database) -> dict[str | None, str | None]:
    with db.read() as session:
        return {row.request_id: row.callback_url for row in session.exec(select(SubmitRequest))}


def test_a_batch_item_may_be_a_url_or_an_object_with_its_own_callback_and_request_id() -> None:
    body = _body(
        urls=["http://127.0.0.1/a", {"url": "http://127.0.0.1/b", "request_id": "b-1"}],
        callback_url="http://batch.example/hook",
    )
    assert requests_of(body, default_callback=WEBHOOK) == [
        Request(url="http://127.0.0.1/a", callback_url="http://batch.example/hook"),
        Request(
            url="http://127.0.0.1/b", callback_url="http://batch.example/hook", request_id="b-1"
        ),
    ]
    own = _body(urls=[{"url": "http://127.0.0.1/c", "callback_url": "http://own.example/"}])
    assert requests_of(own, default_callback=WEBHOOK) == [
        Request(url="http://127.0.0.1/c", callback_url="http://own.example/")
    ]
    # No callback anywhere: WEBHOOK_URL, as scanbox submit does; an empty one too.
    for plain in (
        _body(url="http://127.0.0.1/d"),
        _body(url="http://127.0.0.1/d", callback_url=""),
    ):
        assert requests_of(plain, default_callback=WEBHOOK) == [
            Request(url="http://127.0.0.1/d", callback_url=WEBHOOK)
        ]
    assert requests_of(_body(url="http://127.0.0.1/e"), default_callback=None) == [
        Request(url="http://127.0.0.1/e")
    ]


@pytest.mark.parametrize(
    ("fields", "location", "message"),
    [
        ({"urls": [5]}, ("urls", 0), "Input should be a URL or an object with url"),
        (
            {"urls": [{"url": "http://127.0.0.1/", "force": True}]},
            ("urls", 0, "item", "force"),
            "Extra inputs are not permitted",
        ),
        ({"urls": [{"request_id": "r"}]}, ("urls", 0, "item", "url"), "Field required"),
        (
            {"url": "http://127.0.0.1/", "depth": True},
            ("depth",),
            "Input should be a valid integer",
        ),
        ({"url": "http://127.0.0.1/", "depth": "2"}, ("depth",), "Input should be a valid integer"),
        (
            {"url": "http://127.0.0.1/", "max_children": 1.5},
            ("max_children",),
            "Input should be a valid integer",
        ),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_by_its_model(
    fields: dict[str, Any], location: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _body(**fields)
    [error] = refused.value.errors()
    assert (error["loc"], error["msg"]) == (location, message)


def test_a_request_id_names_one_url_only() -> None:
    with pytest.raises(Problem) as refused:
        requests_of(_body(urls=["http://127.0.0.1/"], request_id="r"), default_callback=None)
    assert refused.value.status == 422
    assert refused.value.detail == (
        "request_id names one URL: give it with url, or one in each item of urls"
    )
    assert isinstance(ScanItem(url="http://127.0.0.1/", request_id="r"), ScanItem)


def test_callbacks_are_stored_with_the_jobs_the_default_one_too(db: Database) -> None:
    dispatcher = FakeDispatcher()
    parts = _parts(db, dispatcher, callback_url=WEBHOOK)
    [own] = submit(
        parts,
        _body(url="http://127.0.0.1/a", callback_url="http://own.example/", request_id="a-1"),
    )
    [plain] = submit(parts, _body(url="http://127.0.0.1/b"))
    assert dispatcher.dispatched == [own.job_id, plain.job_id]
    assert _callbacks(db) == {"a-1": "http://own.example/", None: WEBHOOK}
    assert _stored(db) == (2, 2, 2, 0)


def test_a_repeated_request_id_returns_its_first_job_and_stores_nothing(db: Database) -> None:
    dispatcher = FakeDispatcher()
    parts = _parts(db, dispatcher)
    [first] = submit(parts, _body(url="http://127.0.0.1/order", request_id="order-17"))
    assert (first.duplicate, first.repeated, first.request_id) == (False, False, "order-17")
    # Another URL, and force: the request id still folds it into its first job.
    [again] = submit(parts, _body(url="http://127.0.0.1/other", request_id="order-17", force=True))
    assert (again.job_id, again.duplicate, again.repeated) == (first.job_id, True, True)
    assert dispatcher.dispatched == [first.job_id]
    assert _stored(db) == (1, 1, 1, 0)


def test_depth_makes_each_new_job_the_root_of_a_tree(db: Database) -> None:
    parts = _parts(db, FakeDispatcher(), child_limits=ChildLimits(max_depth=2, default_children=4))
    [root] = submit(parts, _body(url="http://127.0.0.1/tree", depth=2))
    [narrow] = submit(parts, _body(url="http://127.0.0.1/narrow", depth=1, max_children=1))
    with db.read() as session:
        rows = {
            row.job_id: (row.parent_id, row.depth, row.max_depth, row.max_children)
            for row in session.exec(select(ScanLineage))
        }
    assert rows == {root.job_id: (None, 0, 2, 4), narrow.job_id: (None, 0, 1, 1)}


@pytest.mark.parametrize(
    ("fields", "error", "detail"),
    [
        (
            {"callback_url": "http://10.1.2.3/hook"},
            InvalidURL,
            "invalid URL 'http://10.1.2.3/hook': callback URL refused: 10.1.2.3 is a private "
            "address, which FETCHER_ALLOW_NETWORKS does not allow",
        ),
        (
            {
                "url": None,
                "urls": ["http://127.0.0.1/ok", {"url": "http://127.0.0.1/x", "request_id": ""}],
            },
            UsageError,
            "invalid request id '': 1 to 200 printable ASCII characters without spaces",
        ),
        ({"depth": 4}, UsageError, "--depth must be from 0 to 3 (MAX_SCAN_DEPTH)"),
        ({"depth": -1}, UsageError, "--depth must be from 0 to 3 (MAX_SCAN_DEPTH)"),
        (
            {"depth": 1, "max_children": 51},
            UsageError,
            "--max-children must be from 0 to 50 (CHILD_SCANS_MAX)",
        ),
    ],
)
def test_a_bad_callback_request_id_or_depth_stores_nothing(
    db: Database, fields: dict[str, Any], error: type[UsageError], detail: str
) -> None:
    dispatcher = FakeDispatcher()
    body = _body(**({"url": "http://127.0.0.1/fine"} | fields))
    with pytest.raises(error) as refused:
        submit(_parts(db, dispatcher), body)
    problem = problem_for(refused.value)
    assert (problem.status, problem.slug, problem.detail) == (422, "invalid-submission", detail)
    assert _stored(db) == (0, 0, 0, 0)
    assert dispatcher.dispatched == []


def test_the_api_refuses_to_start_with_a_webhook_url_callbacks_may_not_use() -> None:
    settings = Settings(_env_file=None, webhook_url="http://10.1.2.3/hook")
    with pytest.raises(ConfigurationError) as refused:
        build_parts(settings)
    assert str(refused.value).startswith("WEBHOOK_URL: callback URL refused: 10.1.2.3 is a private")


def test_a_browser_submission_makes_a_browser_job_and_is_not_folded_into_a_fetch(
    db: Database,
) -> None:
    dispatcher = FakeDispatcher()
    parts = _parts(db, dispatcher)
    [fetch] = submit(parts, _body(url="http://127.0.0.1/page"))
    [browser] = submit(parts, _body(url="http://127.0.0.1/page", mode="browser"))
    [again] = submit(parts, _body(url="http://127.0.0.1/page", mode="browser"))
    assert browser.job_id != fetch.job_id
    assert (again.job_id, again.duplicate) == (browser.job_id, True)
    with db.read() as session:
        modes = {job.id: job.mode for job in session.exec(select(ScanJob))}
    assert modes == {fetch.job_id: "http", browser.job_id: "browser"}
