"""The HTTP API through a real ``scanbox api`` process on loopback, with a real Redis.

Jobs are made through the API and walked to COMPLETED with scanbox's own write path
(``tests/apidata.py``); ``test_api_scans.py`` has a real worker scan them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import func, select

from tests.apidata import finish
from tests.apiserver import ApiServer, api_server, make_key
from tests.databases import REPOSITORY
from tests.premigration import build_premigration
from tests.services import RedisServer, free_port
from worker.analysis.rules import Reason
from worker.api.openapi import document, text
from worker.store.database import Database
from worker.store.migrations import HEAD
from worker.store.models import ScanJob

HOSTILE_TITLE = '</title><script>alert("x")</script><img src=x onerror=alert(1)>\u202e\x1b[2J'


def _env(tmp_path: Path, redis: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "TURSO_CONNECTION_URL": f"file:{tmp_path / 'scanbox.db'}",
        "REDIS_URL": redis.url,
        "QUEUE_NAME": f"api-{uuid.uuid4().hex[:10]}",
        "API_SECRET": "test-secret-" + uuid.uuid4().hex,
        "DEDUP_WINDOW_MS": "600000",
        "LOG_LEVEL": "warning",
        **extra,
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> dict[str, str]:
    return _env(tmp_path_factory.mktemp("api"), redis_server)


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    Database(url=env["TURSO_CONNECTION_URL"]).create_schema()
    with api_server(env, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def keys(env: dict[str, str], server: ApiServer) -> dict[str, str]:
    url = env["TURSO_CONNECTION_URL"]
    return {scope: make_key(url, scope=scope)[1] for scope in ("read", "submit", "admin")}


@pytest.fixture(scope="module")
def db(env: dict[str, str]) -> Iterator[Database]:
    database = Database(url=env["TURSO_CONNECTION_URL"])
    yield database
    database.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPOSITORY,
    )


def _jobs(db: Database) -> int:
    with db.read() as session:
        return int(session.exec(select(func.count()).select_from(ScanJob)).one())


def _problem(answer: object, status: int, slug: str) -> dict[str, object]:
    from tests.apiserver import Answer  # noqa: PLC0415

    assert isinstance(answer, Answer)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    document = answer.json()
    assert document["type"] == f"/problems/{slug}"
    assert document["status"] == status
    assert isinstance(document["title"], str)
    assert isinstance(document["detail"], str)
    assert isinstance(document["instance"], str)
    return dict(document)


def test_health_checks_need_no_key(server: ApiServer) -> None:
    client = server.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status, ready.json()) == (
        200,
        {"status": "ready", "database": "ok", "redis": "ok"},
    )


@pytest.mark.parametrize(
    "path", ["/v1/scans", "/v1/scans/abc", "/v1/scans/abc/audit", "/v1/stats", "/metrics"]
)
def test_every_other_request_needs_a_known_key(server: ApiServer, path: str) -> None:
    client = server.client()
    missing = client.get(path)
    assert _problem(missing, 401, "unauthenticated")["instance"] == path
    assert missing.headers["www-authenticate"] == 'Bearer realm="scanbox"'
    _problem(client.get(path, key="not-a-key"), 401, "unauthenticated")
    unknown = "sbx_00000000_" + "A" * 43
    assert "unknown or revoked" in str(
        _problem(client.get(path, key=unknown), 401, "unauthenticated")["detail"]
    )
    _problem(
        client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "unauthenticated"
    )


def test_scopes_are_ranked_read_submit_admin(server: ApiServer, keys: dict[str, str]) -> None:
    client = server.client()
    body = {"url": "http://127.0.0.1:9/scopes"}
    assert client.get("/v1/scans", key=keys["read"]).status == 200
    refused = _problem(client.post("/v1/scans", json_body=body, key=keys["read"]), 403, "forbidden")
    assert "scope 'read'" in str(refused["detail"])
    _problem(client.get("/metrics", key=keys["read"]), 403, "forbidden")
    _problem(client.get("/metrics", key=keys["submit"]), 403, "forbidden")
    assert client.post("/v1/scans", json_body=body, key=keys["submit"]).status == 201
    assert (
        client.post("/v1/scans", json_body={**body, "force": True}, key=keys["admin"]).status == 201
    )
    metrics = client.get("/metrics", key=keys["admin"])
    assert metrics.status == 200
    families = {
        line.split()[2].removesuffix("_total")
        for line in metrics.body.decode().splitlines()
        if line.startswith("# TYPE")
    }
    # The workers' families; scanbox_containers_running needs the Docker engine, which the
    # API never opens.
    assert {
        "scanbox_transitions",
        "scanbox_scan_duration_seconds",
        "scanbox_schedule_ticks",
        "scanbox_jobs",
        "scanbox_queue_depth",
    } <= families
    assert 'scanbox_transitions_total{from_state="none",to_state="QUEUED"}' in metrics.body.decode()


def test_a_revoked_key_is_refused_at_once(env: dict[str, str], server: ApiServer) -> None:
    key_id, key = make_key(env["TURSO_CONNECTION_URL"], scope="read", name="short-lived")
    client = server.client(key)
    assert client.get("/v1/scans").status == 200
    listed = json.loads(_cli(env, "apikey", "list", "--json").stdout)
    [mine] = [item for item in listed if item["id"] == key_id]
    assert mine["revoked_at"] is None
    assert key not in json.dumps(listed)
    done = _cli(env, "apikey", "revoke", key_id)
    assert done.returncode == 0, done.stderr
    _problem(client.get("/v1/scans"), 401, "unauthenticated")
    assert _cli(env, "apikey", "revoke", "nope").returncode == 2


def test_apikey_create_prints_the_key_once_and_stores_its_hash(
    env: dict[str, str], server: ApiServer, db: Database
) -> None:
    done = _cli(env, "apikey", "create", "--name", "made by the CLI", "--scope", "submit")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("sbx_")
    assert "shown this once" in done.stderr
    import sqlalchemy as sa  # noqa: PLC0415

    with db.read() as session:
        stored = session.connection().execute(sa.text("SELECT * FROM api_keys")).all()
    assert key not in repr(stored)
    assert (
        server.client(key).post("/v1/scans", json_body={"url": "http://127.0.0.1:9/cli"}).status
        == 201
    )
    bad = _cli(env, "apikey", "create", "--name", "x", "--scope", "root")
    assert (bad.returncode, bad.stderr) == (
        2,
        "scanbox: error: unknown scope 'root' (use one of read, submit, admin)\n",
    )


def test_submit_one_a_batch_and_duplicates(server: ApiServer, keys: dict[str, str]) -> None:
    client = server.client(keys["submit"])
    url = f"http://127.0.0.1:9/one-{uuid.uuid4().hex}"
    first = client.post("/v1/scans", json_body={"url": url, "priority": "high"})
    assert first.status == 201
    [made] = first.json()["scans"]
    assert made == {
        "id": made["id"],
        "url": url,
        "state": "QUEUED",
        "duplicate": False,
        "repeated": False,
        "request_id": None,
    }
    assert first.headers["location"] == f"/v1/scans/{made['id']}"
    again = client.post("/v1/scans", json_body={"url": url.upper().replace("HTTP://", "http://")})
    # The path's case matters: that is another URL.
    assert again.status == 201
    repeat = client.post("/v1/scans", json_body={"url": url + "#fragment"})
    assert repeat.status == 200
    assert repeat.json()["scans"] == [
        {
            "id": made["id"],
            "url": url + "#fragment",
            "state": "QUEUED",
            "duplicate": True,
            "repeated": False,
            "request_id": None,
        }
    ]
    assert "location" not in repeat.headers
    other = f"http://127.0.0.1:9/two-{uuid.uuid4().hex}"
    batch = client.post("/v1/scans", json_body={"urls": [url, other, other]})
    assert batch.status == 201
    scans = batch.json()["scans"]
    assert [item["duplicate"] for item in scans] == [True, False, True]
    assert scans[1]["id"] == scans[2]["id"] != made["id"]
    forced = client.post("/v1/scans", json_body={"url": url, "force": True})
    assert forced.status == 201
    assert forced.json()["scans"][0]["id"] != made["id"]


def test_bad_submissions_are_422_with_the_clis_message_and_store_nothing(
    env: dict[str, str], server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    before = _jobs(db)
    cli = _cli(env, "submit", "http://127.0.0.1:9/fine", "ftp://127.0.0.1/file")
    assert cli.returncode == 2
    answer = client.post(
        "/v1/scans", json_body={"urls": ["http://127.0.0.1:9/fine", "ftp://127.0.0.1/file"]}
    )
    problem = _problem(answer, 422, "invalid-submission")
    assert cli.stderr == f"scanbox: error: {problem['detail']}\n"
    for body, slug, detail in [
        (
            {"url": "http://127.0.0.1:9/x", "priority": "urgent"},
            "invalid-submission",
            "unknown priority 'urgent' (use one of high, normal, low)",
        ),
        (
            {"url": "http://127.0.0.1:9/x", "mode": "chromium"},
            "invalid-submission",
            "unknown mode 'chromium' (use one of http, browser)",
        ),
        (
            {"url": "http://user:pw@127.0.0.1/"},
            "invalid-submission",
            "invalid URL 'http://user:pw@127.0.0.1/': credentials in URLs are not accepted",
        ),
        (
            {"url": "http://127.0.0.1/", "urls": ["http://127.0.0.1/"]},
            "invalid-request",
            "give either url (one URL) or urls (a batch), not both",
        ),
        ({}, "invalid-request", "give either url (one URL) or urls (a batch), not both"),
        (
            {"url": "http://127.0.0.1/", "callback": "x"},
            "invalid-request",
            "body.callback: Extra inputs are not permitted",
        ),
        (
            {"urls": []},
            "invalid-request",
            "body.urls: List should have at least 1 item after validation, not 0",
        ),
        ({"url": 5}, "invalid-request", "body.url: Input should be a valid string"),
    ]:
        assert _problem(client.post("/v1/scans", json_body=body), 422, slug)["detail"] == detail, (
            body
        )
    _problem(
        client.post("/v1/scans", body=b"{not json", headers={"Content-Type": "application/json"}),
        422,
        "invalid-request",
    )
    _problem(
        client.post("/v1/scans", json_body={"urls": ["http://127.0.0.1/"] * 1001}),
        422,
        "invalid-request",
    )
    huge = json.dumps({"url": "http://127.0.0.1/" + "a" * (1 << 20)}).encode()
    _problem(
        client.post("/v1/scans", body=huge, headers={"Content-Type": "application/json"}),
        413,
        "too-large",
    )
    assert _jobs(db) == before


def _rows(db: Database, table: str, job_id: str) -> list[dict[str, object]]:
    import sqlalchemy as sa  # noqa: PLC0415

    with db.read() as session:
        rows = session.connection().execute(
            sa.text(f"SELECT * FROM {table} WHERE job_id = :job_id"), {"job_id": job_id}
        )
        return [dict(row._mapping) for row in rows]


def test_a_callback_is_stored_and_called_back_when_the_job_is_terminal(
    server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    request_id = f"order-{uuid.uuid4().hex}"
    hook = "https://hooks.example/scanbox?order=17"
    answer = client.post(
        "/v1/scans",
        json_body={
            "url": f"http://127.0.0.1:9/{uuid.uuid4().hex}",
            "callback_url": hook,
            "request_id": request_id,
        },
    )
    assert answer.status == 201, answer.body
    [made] = answer.json()["scans"]
    assert (made["request_id"], made["repeated"], made["duplicate"]) == (request_id, False, False)
    [stored] = _rows(db, "submit_requests", made["id"])
    assert (stored["request_id"], stored["callback_url"]) == (request_id, hook)
    assert _rows(db, "webhook_deliveries", made["id"]) == []
    finish(db, made["id"])
    [delivery] = _rows(db, "webhook_deliveries", made["id"])
    assert (delivery["url"], delivery["request_id"], delivery["event"]) == (
        hook,
        request_id,
        "scan.completed",
    )
    # Each item of a batch may name its own callback; the others take the batch's.
    batch = client.post(
        "/v1/scans",
        json_body={
            "urls": [
                f"http://127.0.0.1:9/{uuid.uuid4().hex}",
                {"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}", "callback_url": hook},
            ],
            "callback_url": "https://batch.example/scanbox",
        },
    )
    assert batch.status == 201, batch.body
    first, second = batch.json()["scans"]
    assert [row["callback_url"] for row in _rows(db, "submit_requests", first["id"])] == [
        "https://batch.example/scanbox"
    ]
    assert [row["callback_url"] for row in _rows(db, "submit_requests", second["id"])] == [hook]


def test_a_request_id_submitted_again_returns_its_first_job(
    env: dict[str, str], server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    request_id = f"retry-{uuid.uuid4().hex}"
    body = {"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}", "request_id": request_id}
    first = client.post("/v1/scans", json_body=body)
    assert first.status == 201, first.body
    [made] = first.json()["scans"]
    before = _jobs(db)
    # A producer's retry, even with force and another URL: the first job, nothing stored.
    for again in (body, {**body, "force": True, "url": f"http://127.0.0.1:9/{uuid.uuid4().hex}"}):
        repeat = client.post("/v1/scans", json_body=again)
        assert repeat.status == 200, repeat.body
        assert "location" not in repeat.headers
        [same] = repeat.json()["scans"]
        assert (same["id"], same["duplicate"], same["repeated"], same["request_id"]) == (
            made["id"],
            True,
            True,
            request_id,
        )
    assert _jobs(db) == before
    assert len(_rows(db, "submit_requests", made["id"])) == 1
    # In a batch, the item that names it is folded; the other URL is a new job.
    batch = client.post(
        "/v1/scans",
        json_body={
            "urls": [
                {"url": body["url"], "request_id": request_id},
                f"http://127.0.0.1:9/{uuid.uuid4().hex}",
            ]
        },
    )
    assert batch.status == 201
    folded, new = batch.json()["scans"]
    assert (folded["id"], folded["repeated"], new["repeated"]) == (made["id"], True, False)
    # The job's document names its request ids, in the API as in status --json.
    served = client.get(f"/v1/scans/{made['id']}").json()
    assert served["request_ids"] == [request_id]
    printed = _cli(env, "status", "--request-id", request_id, "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {**served, "request_id": request_id}
    page = client.get("/v1/scans?limit=5").json()["items"]
    assert {item["id"]: item["request_ids"] for item in page}[new["id"]] == []


def test_depth_makes_the_job_the_root_of_a_tree_of_child_scans(
    server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    answer = client.post(
        "/v1/scans",
        json_body={"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}", "depth": 2, "max_children": 4},
    )
    assert answer.status == 201, answer.body
    [made] = answer.json()["scans"]
    [lineage] = _rows(db, "scan_lineage", made["id"])
    assert (
        lineage["parent_id"],
        lineage["depth"],
        lineage["max_depth"],
        lineage["max_children"],
    ) == (None, 0, 2, 4)
    [plain] = client.post(
        "/v1/scans", json_body={"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}"}
    ).json()["scans"]
    assert _rows(db, "scan_lineage", plain["id"]) == []


def test_a_bad_callback_request_id_or_depth_is_422_with_the_clis_words_and_stores_nothing(
    env: dict[str, str], server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    import sqlalchemy as sa  # noqa: PLC0415

    def requests() -> int:
        with db.read() as session:
            count = session.connection().execute(sa.text("SELECT count(*) FROM submit_requests"))
            return int(count.scalar_one())

    client = server.client(keys["submit"])
    before = (_jobs(db), requests())
    url = f"http://127.0.0.1:9/{uuid.uuid4().hex}"
    cases: list[tuple[dict[str, object], list[str]]] = [
        ({"callback_url": "http://10.1.2.3/hook"}, ["--callback-url", "http://10.1.2.3/hook"]),
        (
            {"callback_url": "http://127.0.0.1:9/hook"},
            ["--callback-url", "http://127.0.0.1:9/hook"],
        ),
        ({"callback_url": "ftp://hooks.example/"}, ["--callback-url", "ftp://hooks.example/"]),
        ({"depth": 9}, ["--depth", "9"]),
        ({"depth": -1}, ["--depth", "-1"]),
        ({"depth": 1, "max_children": 500}, ["--depth", "1", "--max-children", "500"]),
    ]
    for body, cli_args in cases:
        problem = _problem(
            client.post("/v1/scans", json_body={"url": url, **body}), 422, "invalid-submission"
        )
        cli = _cli(env, "submit", url, *cli_args)
        assert cli.returncode == 2, cli.stderr
        assert cli.stderr == f"scanbox: error: {problem['detail']}\n", body
    private = _problem(
        client.post(
            "/v1/scans",
            json_body={
                "urls": [
                    f"http://127.0.0.1:9/{uuid.uuid4().hex}",
                    {"url": url, "callback_url": "http://169.254.169.254/latest"},
                ]
            },
        ),
        422,
        "invalid-submission",
    )
    assert "169.254.169.254 is a link-local address" in str(private["detail"])
    shapes: list[tuple[dict[str, object], str, str]] = [
        (
            {"url": url, "request_id": "has space"},
            "invalid-submission",
            "invalid request id 'has space': 1 to 200 printable ASCII characters without spaces",
        ),
        (
            {"url": url, "request_id": "1700000000000-0"},
            "invalid-submission",
            "invalid request id '1700000000000-0': ids of the form N-N are stream entry ids",
        ),
        (
            {"urls": [url], "request_id": "r"},
            "invalid-request",
            "request_id names one URL: give it with url, or one in each item of urls",
        ),
        (
            {"url": url, "depth": "2"},
            "invalid-request",
            "body.depth: Input should be a valid integer",
        ),
        (
            {"urls": [{"url": url, "priority": "high"}]},
            "invalid-request",
            "body.urls.0.item.priority: Extra inputs are not permitted",
        ),
    ]
    for shape, slug, detail in shapes:
        answer = client.post("/v1/scans", json_body=shape)
        assert _problem(answer, 422, slug)["detail"] == detail, shape
    assert (_jobs(db), requests()) == before


def test_a_scan_is_the_document_status_json_prints(
    env: dict[str, str], server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    [made] = client.post(
        "/v1/scans", json_body={"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}"}
    ).json()["scans"]
    finish(
        db,
        made["id"],
        verdict="suspicious",
        score=40,
        reasons=(Reason(rule="r", score=40, message="m"),),
        title=HOSTILE_TITLE,
    )
    served = client.get(f"/v1/scans/{made['id']}")
    assert served.status == 200
    printed = _cli(env, "status", made["id"], "--json")
    assert printed.returncode == 0, printed.stderr
    assert served.json() == json.loads(printed.stdout)
    assert served.json()["result"]["title"] == HOSTILE_TITLE
    assert served.json()["result"]["verdict"] == "suspicious"
    audit = client.get(f"/v1/scans/{made['id']}/audit").json()
    assert [row["to"] for row in audit["audit"]] == ["QUEUED", "FETCHING", "ANALYZING", "COMPLETED"]
    shown = json.loads(_cli(env, "show", made["id"], "--json").stdout)
    assert audit["audit"] == shown["audit"]
    problem = _problem(
        client.get("/v1/scans/0123456789abcdef0123456789abcdef"), 404, "unknown-scan"
    )
    assert problem["detail"] == "no scan job with id '0123456789abcdef0123456789abcdef'"
    _problem(client.get("/v1/scans/0123456789abcdef0123456789abcdef/audit"), 404, "unknown-scan")


def test_artifacts_are_downloads_that_never_render(
    server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    [made] = client.post(
        "/v1/scans", json_body={"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}"}
    ).json()["scans"]
    assert client.get(f"/v1/scans/{made['id']}/artifacts").json() == {
        "id": made["id"],
        "artifacts": [],
    }
    _problem(client.get(f"/v1/scans/{made['id']}/artifacts/report.json"), 404, "unknown-artifact")
    finish(db, made["id"], title=HOSTILE_TITLE)
    listed = client.get(f"/v1/scans/{made['id']}/artifacts").json()["artifacts"]
    assert [(item["name"], item["media_type"], item["href"]) for item in listed] == [
        ("report.json", "application/json", f"/v1/scans/{made['id']}/artifacts/report.json")
    ]
    download = client.get(listed[0]["href"])
    assert download.status == 200
    assert (
        download.headers["content-disposition"]
        == f'attachment; filename="{made["id"]}-report.json"'
    )
    assert download.headers["content-security-policy"].startswith("sandbox")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert len(download.body) == listed[0]["size"]
    assert json.loads(download.body)["title"] == HOSTILE_TITLE
    for name in ("../../etc/passwd", "REPORT.JSON", "nothing.png", "%2e%2e"):
        answer = client.get(f"/v1/scans/{made['id']}/artifacts/{name}")
        assert answer.status == 404, name
        assert answer.headers["content-type"] == "application/problem+json"


def test_stats_is_what_stats_json_prints(
    env: dict[str, str], server: ApiServer, keys: dict[str, str]
) -> None:
    served = server.client(keys["read"]).get("/v1/stats").json()
    printed = json.loads(_cli(env, "stats", "--json").stdout)
    assert served["states"] == printed["states"]
    assert set(served) == set(printed)


def test_the_served_openapi_document_is_the_committed_one(server: ApiServer) -> None:
    served = server.client().get("/openapi.json")
    assert served.status == 200
    committed = (REPOSITORY / "docs" / "openapi.json").read_text()
    assert text(served.json()) == committed, "run: python -m worker.api.openapi"
    assert text(document()) == committed


def test_hostile_titles_and_urls_are_exact_in_json_and_text_in_pages(
    server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client(keys["submit"])
    url = 'http://127.0.0.1:9/%3Cscript%3Ealert(1)%3C/script%3E?q="><b>x</b>'
    [made] = client.post("/v1/scans", json_body={"url": url, "force": True}).json()["scans"]
    finish(db, made["id"], title=HOSTILE_TITLE, final_url=url)
    assert client.get(f"/v1/scans/{made['id']}").json()["result"]["title"] == HOSTILE_TITLE
    page = client.get(f"/scans/{made['id']}", headers={"Cookie": f"scanbox_key={keys['read']}"})
    assert page.status == 200
    html = page.body.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;/title&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert '"><b>x</b>' not in html
    # The bidi override and the escape sequence are shown as their escapes, not acted on.
    assert "\u202e" not in html
    assert "\x1b" not in html
    assert "\\u202e\\x1b[2J" in html
    assert page.headers["content-security-policy"].startswith(
        "default-src 'none'; script-src 'self';"
    )
    scripts = [part.split(">", 1)[0] for part in html.split("<script")[1:]]
    assert scripts == [' src="/static/live.js" defer']


def test_pages_need_a_login_and_their_forms_are_csrf_safe(
    server: ApiServer, keys: dict[str, str], db: Database
) -> None:
    client = server.client()
    to_login = client.get("/scans")
    assert (to_login.status, to_login.headers["location"]) == (303, "/login")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = client.post("/login", body=b"key=sbx_nope", headers=form)
    assert refused.status == 401
    assert "malformed" in refused.body.decode()
    login = client.post("/login", body=f"key={keys['submit']}".encode(), headers=form)
    assert (login.status, login.headers["location"]) == (303, "/scans")
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"scanbox_key={keys['submit']};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    cross = client.post(
        "/login",
        body=f"key={keys['submit']}".encode(),
        headers={**form, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403
    jar = {"Cookie": f"scanbox_key={keys['submit']}"}
    before = _jobs(db)
    url = f"http://127.0.0.1:9/form-{uuid.uuid4().hex}"
    for token, site in (("", "same-origin"), ("0" * 64, "same-origin")):
        answer = client.post(
            "/submit",
            body=f"urls={url}&csrf={token}".encode(),
            headers={**form, **jar, "Sec-Fetch-Site": site},
        )
        assert answer.status == 403, token
    page = client.get("/submit", headers=jar).body.decode()
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    cross_site = client.post(
        "/submit",
        body=f"urls={url}&csrf={token}".encode(),
        headers={**form, **jar, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status == 403
    # The cookie authenticates only requests that change nothing: the API's POST wants a bearer key.
    _problem(client.post("/v1/scans", json_body={"url": url}, headers=jar), 401, "unauthenticated")
    assert _jobs(db) == before
    made = client.post(
        "/submit",
        body=f"urls={url}&csrf={token}".encode(),
        headers={**form, **jar, "Sec-Fetch-Site": "same-origin"},
    )
    assert made.status == 303
    assert made.headers["location"].startswith("/scans/")
    assert _jobs(db) == before + 1
    read_jar = {"Cookie": f"scanbox_key={keys['read']}"}
    read_page = client.get("/submit", headers=read_jar).body.decode()
    read_token = read_page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert read_token != token
    as_reader = client.post(
        "/submit", body=f"urls={url}x&csrf={read_token}".encode(), headers={**form, **read_jar}
    )
    assert as_reader.status == 403
    assert _jobs(db) == before + 1


def test_a_database_at_another_revision_is_refused_before_listening(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = _env(tmp_path, redis_server)
    build_premigration(Database(url=env["TURSO_CONNECTION_URL"]))
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "worker", "api", "--port", str(port)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "scanbox: error: database schema has no revision (its tables were made before "
        f"migrations), this scanbox needs {HEAD}: run 'scanbox db upgrade'"
    ]


def test_without_redis_the_api_is_not_ready_and_refuses_keyed_requests(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = _env(tmp_path, redis_server, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    Database(url=env["TURSO_CONNECTION_URL"]).create_schema()
    _, key = make_key(env["TURSO_CONNECTION_URL"], scope="read")
    with api_server(env, tmp_path) as running:
        client = running.client()
        assert client.get("/healthz").status == 200
        problem = _problem(client.get("/readyz"), 503, "unavailable")
        assert problem["detail"] == "Redis did not answer"
        answer = client.get("/v1/scans", key=key)
        _problem(answer, 503, "unavailable")
        assert answer.headers["retry-after"] == "5"


def test_unknown_paths_and_methods_are_problems_too(
    server: ApiServer, keys: dict[str, str]
) -> None:
    client = server.client(keys["admin"])
    _problem(client.get("/v2/scans"), 404, "not-found")
    _problem(client.request("DELETE", "/v1/scans"), 405, "method-not-allowed")
    _problem(client.request("PUT", "/v1/scans/abc", json_body={}), 405, "method-not-allowed")
    page = client.get("/problems/queue-full")
    assert page.status == 200
    assert "MAX_QUEUED_JOBS" in page.body.decode()
    _problem(client.get("/problems/none-such"), 404, "not-found")


def test_the_api_never_talks_to_a_docker_engine(tmp_path: Path, redis_server: RedisServer) -> None:
    """DOCKER_HOST names a canary socket: every endpoint is used, and it sees no connection."""
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415

    canary_path = tmp_path / "docker.sock"
    canary = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    canary.bind(str(canary_path))
    canary.listen(8)
    canary.settimeout(0.2)
    connections: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connections.append(canary.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    env = _env(tmp_path, redis_server, DOCKER_HOST=f"unix://{canary_path}")
    db = Database(url=env["TURSO_CONNECTION_URL"])
    db.create_schema()
    _, key = make_key(env["TURSO_CONNECTION_URL"], scope="admin")
    try:
        with api_server(env, tmp_path) as running:
            client = running.client(key)
            [made] = client.post("/v1/scans", json_body={"url": "http://127.0.0.1:9/d"}).json()[
                "scans"
            ]
            finish(db, made["id"])
            for path in (
                "/readyz",
                "/metrics",
                "/v1/stats",
                "/v1/scans",
                f"/v1/scans/{made['id']}",
                f"/v1/scans/{made['id']}/audit",
                f"/v1/scans/{made['id']}/artifacts/report.json",
                f"/scans/{made['id']}",
            ):
                answer = client.get(path, headers={"Cookie": f"scanbox_key={key}"})
                assert answer.status == 200, path
    finally:
        stop.set()
        thread.join(timeout=5)
        canary.close()
        db.dispose()
    assert connections == []
