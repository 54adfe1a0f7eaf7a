"""The API's limits through a real server: the per-key rate limit in Redis, back-pressure,
and searches paged with signed cursors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apidata import finish
from tests.apiserver import Answer, ApiServer, api_server, make_key
from tests.services import RedisServer
from worker.store.database import Database

SHA_A = "a" * 64
SHA_B = "b" * 64


def _env(tmp_path: Path, redis: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "TURSO_CONNECTION_URL": f"file:{tmp_path / 'scanbox.db'}",
        "REDIS_URL": redis.url,
        "QUEUE_NAME": f"api-{uuid.uuid4().hex[:10]}",
        "API_SECRET": "limits-" + uuid.uuid4().hex,
        "LOG_LEVEL": "warning",
        **extra,
    }


def _slug(answer: Answer) -> str:
    assert answer.headers["content-type"] == "application/problem+json", answer.body
    return str(answer.json()["type"]).removeprefix("/problems/")


def test_each_key_has_its_own_window_and_429_says_when_to_come_back(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = _env(tmp_path, redis_server, API_RATE_LIMIT="3", API_RATE_WINDOW_MS="60000")
    Database(url=env["TURSO_CONNECTION_URL"]).create_schema()
    _, first = make_key(env["TURSO_CONNECTION_URL"], scope="read", name="first")
    _, second = make_key(env["TURSO_CONNECTION_URL"], scope="read", name="second")
    with api_server(env, tmp_path) as server:
        client = server.client(first)
        remaining = []
        for _ in range(3):
            answer = client.get("/v1/scans")
            assert answer.status == 200
            assert answer.headers["ratelimit-limit"] == "3"
            assert answer.headers["ratelimit-policy"] == "3;w=60"
            assert 0 < int(answer.headers["ratelimit-reset"]) <= 60
            remaining.append(answer.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        refused = client.get("/v1/scans")
        assert (refused.status, _slug(refused)) == (429, "rate-limited")
        assert refused.headers["ratelimit-remaining"] == "0"
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
        # Every request counts, a refused one too; other keys are not touched.
        assert client.get("/v1/scans/whatever").status == 429
        assert server.client(second).get("/v1/scans").headers["ratelimit-remaining"] == "2"
        # Health checks carry no key and are never limited.
        assert client.get("/healthz", key="").status == 200


def test_past_max_queued_jobs_a_submission_is_refused_whole_with_503(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = _env(tmp_path, redis_server, MAX_QUEUED_JOBS="3", DEDUP_WINDOW_MS="0")
    db = Database(url=env["TURSO_CONNECTION_URL"])
    db.create_schema()
    _, key = make_key(env["TURSO_CONNECTION_URL"], scope="submit")
    with api_server(env, tmp_path) as server:
        client = server.client(key)
        urls = [f"http://127.0.0.1:9/{index}" for index in range(4)]
        assert client.post("/v1/scans", json_body={"urls": urls[:2]}).status == 201
        refused = client.post("/v1/scans", json_body={"urls": urls[2:]})
        assert (refused.status, _slug(refused)) == (503, "queue-full")
        assert refused.headers["retry-after"] == "30"
        problem = refused.json()
        assert (problem["queued"], problem["limit"]) == (2, 3)
        assert problem["detail"] == (
            "the queue is full: 2 jobs are QUEUED and MAX_QUEUED_JOBS is 3, so 2 more can't be "
            "taken; nothing was submitted (try again later)"
        )
        assert len(client.get("/v1/scans").json()["items"]) == 2
        assert client.post("/v1/scans", json_body={"url": urls[2]}).status == 201
        assert client.post("/v1/scans", json_body={"url": urls[3]}).status == 503
        assert len(client.get("/v1/scans").json()["items"]) == 3
    db.dispose()


@pytest.fixture(scope="module")
def searchable(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[tuple[ApiServer, str, dict[str, str]]]:
    """A server over jobs of three hosts: some completed, with known final hosts, peers,
    hashes and verdicts. Yields the server, a read key and the job ids by name."""
    tmp_path = tmp_path_factory.mktemp("search")
    env = _env(tmp_path, redis_server, DEDUP_WINDOW_MS="0")
    db = Database(url=env["TURSO_CONNECTION_URL"])
    db.create_schema()
    _, submit_key = make_key(env["TURSO_CONNECTION_URL"], scope="submit")
    with api_server(env, tmp_path) as server:
        client = server.client(submit_key)
        urls = {
            "a1": "http://127.0.0.10:9/1",
            "a2": "http://127.0.0.10:9/2",
            "b1": "http://Host-B.test:9/1",
            "b2": "http://host-b.test./2",
            "c1": "http://[::1]:9/1",
            "q1": "http://127.0.0.10:9/queued",
        }
        ids = {}
        for name, url in urls.items():
            ids[name] = client.post("/v1/scans", json_body={"url": url}).json()["scans"][0]["id"]
        finish(
            db,
            ids["a1"],
            verdict="malicious",
            score=90,
            final_url="http://final.test/x",
            body={"size": 1, "truncated": False, "sha256": SHA_A, "encoding": None},
            peer={"address": "0:0:0:0:0:0:0:1", "port": 9},
        )
        finish(
            db,
            ids["a2"],
            verdict="benign",
            body={"size": 1, "truncated": False, "sha256": SHA_B, "encoding": None},
            peer={"address": "127.0.0.10", "port": 9},
            # Its session also reached a subresource's address, and was refused one.
            egress=(
                {"host": "127.0.0.10", "port": 9, "connected": "127.0.0.10", "decision": "allowed"},
                {"host": "cdn.test", "port": 443, "connected": "192.0.2.7", "decision": "allowed"},
                {"host": "lan.test", "port": 80, "connected": None, "decision": "refused"},
            ),
        )
        finish(
            db,
            ids["b1"],
            verdict="suspicious",
            score=40,
            final_url="http://FINAL.test./y",
            body={"size": 1, "truncated": False, "sha256": SHA_A, "encoding": None},
            # No final peer in its report; one connection of its session went to ::1.
            egress=({"host": "x.test", "port": 9, "connected": "0:0:0:0:0:0:0:1"},),
        )
        finish(db, ids["b2"], verdict="benign")
        finish(db, ids["c1"], verdict="benign", peer={"address": "::1", "port": 9})
        _, read_key = make_key(env["TURSO_CONNECTION_URL"], scope="read")
        yield server, read_key, ids
    db.dispose()


def _found(server: ApiServer, key: str, query: str) -> list[str]:
    answer = server.client(key).get(f"/v1/scans?{query}")
    assert answer.status == 200, answer.body
    return [item["id"] for item in answer.json()["items"]]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["q1", "c1", "b2", "b1", "a2", "a1"]),
        ("state=completed", ["c1", "b2", "b1", "a2", "a1"]),
        ("state=QUEUED", ["q1"]),
        ("verdict=benign", ["c1", "b2", "a2"]),
        ("verdict=malicious", ["a1"]),
        ("host=127.0.0.10", ["q1", "a2", "a1"]),
        ("host=HOST-B.test.", ["b2", "b1"]),
        ("host=[::1]", ["c1"]),
        ("final_host=final.test", ["b1", "a1"]),
        (f"sha256={SHA_A.upper()}", ["b1", "a1"]),
        ("peer=::1", ["c1", "b1", "a1"]),
        ("peer=127.0.0.10", ["a2"]),
        ("peer=192.0.2.7", ["a2"]),
        ("peer=0:0:0:0:0:0:0:1&verdict=suspicious", ["b1"]),
        ("verdict=benign&host=127.0.0.10", ["a2"]),
        (f"sha256={SHA_A}&final_host=final.test&verdict=suspicious", ["b1"]),
        ("since=2000-01-01T00:00:00Z&state=queued", ["q1"]),
        ("since=2999-01-01", []),
        ("host=nowhere.test", []),
    ],
)
def test_each_filter_finds_its_jobs_newest_first(
    searchable: tuple[ApiServer, str, dict[str, str]], query: str, names: list[str]
) -> None:
    server, key, ids = searchable
    assert _found(server, key, query) == [ids[name] for name in names]


def test_pages_follow_their_cursor_to_the_end_without_repeats(
    searchable: tuple[ApiServer, str, dict[str, str]],
) -> None:
    server, key, ids = searchable
    client = server.client(key)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=2" + ("" if cursor is None else f"&cursor={cursor}")
        page = client.get(f"/v1/scans?{query}").json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == _found(server, key, "limit=200")
    assert sorted(seen) == sorted(ids.values())
    # A cursor carries its filters: on another search, or changed by a byte, it is refused.
    first = client.get("/v1/scans?limit=1&state=completed").json()
    token = first["next_cursor"]
    assert client.get(f"/v1/scans?limit=1&state=completed&cursor={token}").status == 200
    for query in (
        f"limit=1&cursor={token}",
        f"limit=1&state=failed&cursor={token}",
        f"limit=1&state=completed&cursor={token[:-1]}{'A' if token[-1] != 'A' else 'B'}",
        f"limit=1&state=completed&cursor={'x' * 600}",
        "cursor=bm90LWEtY3Vyc29y.AAAAAAAAAAAAAAAAAAAAAA",
    ):
        answer = client.get(f"/v1/scans?{query}")
        assert (answer.status, _slug(answer)) == (400, "invalid-cursor"), query


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (
            "state=done",
            "unknown state 'done' (use one of QUEUED, FETCHING, ANALYZING, COMPLETED, FAILED, "
            "TIMED_OUT, DISCARDED)",
        ),
        ("verdict=evil", "unknown verdict 'evil' (use one of benign, suspicious, malicious)"),
        ("sha256=abc", "sha256 must be 64 hex digits"),
        ("peer=host.test", "peer must be an IP address, not 'host.test'"),
        (
            "since=yesterday",
            "since must be an ISO 8601 time such as 2026-12-01T10:00:00Z, not 'yesterday'",
        ),
        ("host=a/b", "host must be a host name or an IP address"),
        ("limit=0", "query.limit: Input should be greater than or equal to 1"),
        ("limit=201", "query.limit: Input should be less than or equal to 200"),
    ],
)
def test_bad_search_parameters_are_422_in_one_line(
    searchable: tuple[ApiServer, str, dict[str, str]], query: str, detail: str
) -> None:
    server, key, _ = searchable
    answer = server.client(key).get(f"/v1/scans?{query}")
    assert (answer.status, _slug(answer)) == (422, "invalid-request")
    assert answer.json()["detail"] == detail


def test_the_list_page_searches_and_pages_like_the_api(
    searchable: tuple[ApiServer, str, dict[str, str]],
) -> None:
    server, key, ids = searchable
    jar = {"Cookie": f"scanbox_key={key}"}
    page = server.client().get("/scans?verdict=benign", headers=jar).body.decode()
    shown = [part.split('"', 1)[0] for part in page.split('data-job="')[1:]]
    assert shown == [ids["c1"], ids["b2"], ids["a2"]]
    bad = server.client().get("/scans?state=done", headers=jar)
    assert bad.status == 422
    assert "unknown state &#39;done&#39;" in bad.body.decode()
