"""The API's pure parts: keys, cursors, search parameters, form tokens, problem documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from statemachine.states import State
from worker.api.cursors import CursorSigner
from worker.api.filters import SearchParams, parse_filters
from worker.api.forms import FormTokens, same_origin
from worker.api.keys import SCOPES, allows, hash_key, new_key, well_formed
from worker.api.problems import PROBLEM_TYPES, Problem, problem_for
from worker.api.ratelimit import Quota
from worker.errors import DatabaseBusy, InvalidURL, QueueFull, UnknownJob
from worker.store.search import Position, ScanFilter

POSITION = Position(created_at=datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC), job_id="f" * 32)


def test_keys_are_random_well_formed_and_only_their_hash_is_kept() -> None:
    one, two = new_key(), new_key()
    assert one.key != two.key
    assert well_formed(one.key)
    assert one.key.startswith(f"sbx_{one.key_id}_")
    assert one.key_hash == hash_key(one.key) != hash_key(two.key)
    assert len(one.key_hash) == 64
    assert one.key not in one.key_hash
    for bad in (
        "",
        "sbx_",
        one.key + "x",
        one.key[:-1],
        one.key.replace("sbx_", "SBX_"),
        " " + one.key,
    ):
        assert not well_formed(bad)


@pytest.mark.parametrize(
    ("scope", "needed", "allowed"),
    [
        ("read", "read", True),
        ("read", "submit", False),
        ("submit", "read", True),
        ("submit", "admin", False),
        ("admin", "submit", True),
        ("root", "read", False),
    ],
)
def test_scopes_are_ranked(scope: str, needed: str, allowed: bool) -> None:
    assert SCOPES == ("read", "submit", "admin")
    assert allows(scope, needed) is allowed


def test_a_cursor_round_trips_only_under_its_secret_and_filters() -> None:
    signer = CursorSigner(secret=b"one")
    filters = ScanFilter(state=State.COMPLETED, host="127.0.0.1")
    cursor = signer.encode(POSITION, filters=filters)
    assert signer.decode(cursor, filters=filters) == POSITION
    with pytest.raises(Problem, match="another search"):
        signer.decode(cursor, filters=ScanFilter(state=State.COMPLETED))
    with pytest.raises(Problem, match="not one this API made"):
        CursorSigner(secret=b"two").decode(cursor, filters=filters)
    payload, signature = cursor.split(".")
    with pytest.raises(Problem, match="changed"):
        signer.decode(payload[:-2] + "AA." + signature, filters=filters)
    for bad in ("", ".", "x" * 1000, "é.é", payload):
        with pytest.raises(Problem) as refused:
            signer.decode(bad, filters=filters)
        assert refused.value.status == 400


def test_search_parameters_are_spelled_as_the_columns_hold_them() -> None:
    filters = parse_filters(
        SearchParams(
            state="completed",
            verdict="Malicious",
            host="BÜCHER.example.",
            final_host="[::1]",
            peer="0:0:0:0:0:0:0:1",
            sha256="A" * 64,
            since="2026-12-01T12:00:00+02:00",
        )
    )
    assert filters == ScanFilter(
        state=State.COMPLETED,
        verdict="malicious",
        host="xn--bcher-kva.example",
        final_host="::1",
        peer="::1",
        sha256="a" * 64,
        since=datetime(2026, 12, 1, 10, tzinfo=UTC),
    )
    assert parse_filters(SearchParams(since="2026-12-01")).since == datetime(
        2026, 12, 1, tzinfo=UTC
    )
    assert parse_filters(SearchParams()) == ScanFilter()


def test_form_tokens_belong_to_one_key_and_one_secret() -> None:
    tokens = FormTokens(secret=b"s")
    assert tokens.valid("k1", tokens.token("k1"))
    assert not tokens.valid("k2", tokens.token("k1"))
    assert not FormTokens(secret=b"t").valid("k1", tokens.token("k1"))
    assert not tokens.valid("k1", "")


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({"sec-fetch-site": "same-origin"}, True),
        ({"sec-fetch-site": "same-site"}, False),
        ({"sec-fetch-site": "cross-site", "origin": "http://api.test:8080"}, False),
        ({"origin": "http://api.test:8080"}, True),
        ({"origin": "http://evil.test"}, False),
        ({"origin": "null"}, False),
        ({}, True),
    ],
)
def test_form_posts_must_come_from_this_origin(headers: dict[str, str], same: bool) -> None:
    assert same_origin(headers, host="api.test:8080") is same


def test_errors_become_problems_of_one_type_each() -> None:
    assert problem_for(UnknownJob("x")).status == 404
    assert (
        problem_for(InvalidURL("ftp://x", "scheme must be http or https")).slug
        == "invalid-submission"
    )
    full = problem_for(QueueFull(queued=5, submitted=1, limit=5))
    assert (full.status, full.headers["Retry-After"], full.extra) == (
        503,
        "30",
        {"queued": 5, "limit": 5},
    )
    assert problem_for(DatabaseBusy("locked")).slug == "unavailable"
    document = Problem("not-found", "nothing here").document(instance="/x")
    assert document == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "nothing here",
        "instance": "/x",
    }
    assert all(400 <= kind.status < 600 for kind in PROBLEM_TYPES.values())
    with pytest.raises(ValueError, match="unknown problem type"):
        Problem("teapot", "short and stout")


def test_a_refused_quota_says_when_to_come_back() -> None:
    quota = Quota(limit=10, remaining=0, reset_s=0, window_s=60, allowed=False)
    assert quota.headers() == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "0",
        "RateLimit-Policy": "10;w=60",
        "Retry-After": "1",
    }
    assert (
        "Retry-After"
        not in Quota(limit=10, remaining=3, reset_s=5, window_s=60, allowed=True).headers()
    )
