"""Producers against real workers: an entry ``redis-cli`` adds is scanned and its result
pushed back signed; a worker killed after the terminal move and before delivery leaves the
webhook to another; ``scanbox scan`` scans once and stores nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import docker
import sqlalchemy as sa
from sqlmodel import select

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.producers import receiver, redis_cli, verify_webhook
from tests.services import RedisServer, poll, worker_processes
from tests.sites import serve, silent_listener
from worker.containers.spec import LABEL_DEPLOYMENT
from worker.store.database import Database
from worker.store.models import JOBS, WebhookDelivery
from worker.webhooks.signing import new_secret

SECRET = new_secret()
PAGE = b"<!doctype html><title>Pushed back</title><p>scanbox</p>"


def _env(scan_env: dict[str, str], **changes: str) -> dict[str, str]:
    return {
        **scan_env,
        "SUBMIT_STREAM": f"test-{uuid.uuid4().hex[:12]}:submit",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_POLL_MS": "50",
        **changes,
    }


def _db(env: dict[str, str]) -> Database:
    db = Database(url=env["TURSO_CONNECTION_URL"])
    db.create_schema()
    return db


def _deliveries(db: Database) -> list[WebhookDelivery]:
    with db.read() as session:
        return list(session.exec(select(WebhookDelivery)))


def test_a_stream_entry_is_scanned_and_its_result_pushed_back(
    scan_env: dict[str, str],
    redis_server: RedisServer,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    env = _env(scan_env)
    with serve() as site, receiver() as hook:
        site.page("/", PAGE)
        redis_cli(
            redis_server, "XADD", env["SUBMIT_STREAM"], "*",
            "url", site.url("/"), "callback_url", hook.url(), "request_id", "order-1",
        )  # fmt: skip
        db = _db(env)
        with worker_processes(env, tmp_path) as workers:
            workers.start("--concurrency", "1")
            delivered = poll(
                lambda: next((d for d in _deliveries(db) if d.status == "delivered"), None),
                timeout_s=120,
                what="the webhook delivered",
            )
    [request] = hook.received
    verify_webhook(secret=SECRET, headers=request.headers, body=request.body)
    body = json.loads(request.body)
    assert body["type"] == "scan.completed"
    data = body["data"]
    assert (data["request_id"], data["state"], data["url"]) == ("order-1", "COMPLETED", site.url())
    assert data["result"]["title"] == "Pushed back"
    assert data["result"]["status_code"] == 200
    assert delivered.id == request.headers["webhook-id"]
    status = subprocess.run(
        [sys.executable, "-m", "worker", "status", "--request-id", "order-1", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(status.stdout)["id"] == data["job_id"]
    db.dispose()


def test_a_worker_killed_after_the_terminal_move_leaves_its_webhook_to_another(
    scan_env: dict[str, str],
    redis_server: RedisServer,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    """The first worker delivers nothing for ten minutes: it completes the scan, writes the
    outbox row with the COMPLETED move, and is killed -9 before its deliverer ever looks."""
    slow = _env(scan_env, WEBHOOK_POLL_MS="600000")
    with serve() as site, receiver() as hook:
        site.page("/", PAGE)
        redis_cli(
            redis_server, "XADD", slow["SUBMIT_STREAM"], "*",
            "url", site.url("/"), "callback_url", hook.url(),
        )  # fmt: skip
        db = _db(slow)
        with worker_processes(slow, tmp_path) as first:
            process = first.start("--concurrency", "1")

            def completed() -> WebhookDelivery | None:
                with db.transaction(write=False) as connection:
                    state = connection.execute(sa.select(JOBS.c.state)).scalar_one_or_none()
                found = _deliveries(db)
                return found[0] if state == State.COMPLETED and found else None

            pending = poll(completed, timeout_s=120, what="the job COMPLETED with its delivery")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        assert (pending.status, pending.attempts) == ("pending", 0)
        assert hook.connections == 0
        with worker_processes(
            _env(scan_env, SUBMIT_STREAM=slow["SUBMIT_STREAM"]), tmp_path
        ) as second:
            second.start("--concurrency", "1")
            delivered = poll(
                lambda: next((d for d in _deliveries(db) if d.status == "delivered"), None),
                timeout_s=60,
                what="the webhook delivered by the second worker",
            )
    assert delivered.id == pending.id
    assert delivered.attempts == 1
    [request] = hook.received
    verify_webhook(secret=SECRET, headers=request.headers, body=request.body)
    assert json.loads(request.body)["data"]["state"] == "COMPLETED"
    db.dispose()


def _scan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "scan", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_scan_prints_one_scan_and_stores_nothing(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    database = tmp_path / "never.db"
    env = {
        **scan_env,
        "TURSO_CONNECTION_URL": f"file:{database}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "FETCH_TIMEOUT_MS": "1500",
    }
    deployment = settings_from(env).deployment + ".scan"
    with serve() as site:
        site.page("/", b"<title>\x1b]0;owned\x07Hi [bold]</title><p>x</p>")
        done = _scan(env, site.url("/"), "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert (found["state"], found["error"]) == ("COMPLETED", None)
        assert found["result"]["title"] == "\x1b]0;owned\x07Hi [bold]"
        assert found["result"]["verdict"] in ("benign", "suspicious", "malicious")
        assert found["result"]["report"]["peer"]["address"] == "127.0.0.1"
        shown = _scan(env, site.url("/"))
        assert shown.returncode == 0, shown.stderr
        assert "scan (not stored)" in shown.stdout
        assert "\x1b" not in shown.stdout
        assert "\\x1b]0;owned\\x07Hi [bold]" in shown.stdout
        assert site.hits == ["/", "/"]
    with silent_listener() as port:
        timed_out = _scan(env, f"http://127.0.0.1:{port}/", "--json")
    assert timed_out.returncode == 1
    assert json.loads(timed_out.stdout)["state"] == "TIMED_OUT"
    bad = _scan(env, "javascript:alert(1)")
    assert bad.returncode == 2
    assert "scheme must be http or https" in bad.stderr
    assert not database.exists()
    assert (
        docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_DEPLOYMENT}={deployment}"}, ignore_removed=True
        )
        == []
    )


def test_scan_starts_a_quiet_proxy_of_its_own_when_none_answers(scan_env: dict[str, str]) -> None:
    egress_dir = Path(tempfile.mkdtemp(prefix="sbx-scan-", dir="/tmp")) / "egress"
    env = {**scan_env, "EGRESS_DIR": str(egress_dir), "REDIS_URL": "redis://127.0.0.1:1/0"}
    try:
        with serve() as site:
            site.page("/", b"<title>own proxy</title>")
            done = _scan(env, site.url("/"), "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert found["state"] == "COMPLETED", found
        assert [c["decision"] for c in found["result"]["egress"]] == ["allowed"]
        # The proxy it started said nothing on the terminal, and is gone with it.
        assert done.stderr == ""
        assert not (egress_dir / "control.sock").exists()
    finally:
        shutil.rmtree(egress_dir.parent, ignore_errors=True)


def test_scan_in_browser_mode_captures_and_keeps_artifacts_only_where_asked(
    scan_env: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "never.db"
    kept = tmp_path / "kept"
    env = {
        **scan_env,
        "TURSO_CONNECTION_URL": f"file:{database}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "ARTIFACT_DIR": str(tmp_path / "never-artifacts"),
    }
    with serve() as site:
        site.page("/", b"<title>x</title><script>document.title = 'by script'</script>")
        done = _scan(env, site.url("/"), "--mode", "browser", "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert found["state"] == "COMPLETED", found
        assert found["result"]["title"] == "by script"
        assert {"screenshot", "dom", "har"} <= {a["name"] for a in found["result"]["artifacts"]}
        keeping = _scan(env, site.url("/"), "--mode", "browser", "--artifact-dir", str(kept))
        assert keeping.returncode == 0, keeping.stderr
    assert len([path for path in kept.rglob("*") if path.is_file()]) >= 3
    assert not (tmp_path / "never-artifacts").exists()
    assert not database.exists()
    bad = _scan(env, site.url("/"), "--mode", "chromium")
    assert bad.returncode == 2
    assert "unknown mode 'chromium'" in bad.stderr
