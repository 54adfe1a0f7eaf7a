"""Completion webhooks through a real egress proxy to receivers on loopback: signed as the
Standard Webhooks spec says, tried again on 5xx, 429 and silence (honouring Retry-After),
given up after the limit, refused by the address rules at submit and at delivery, and the
receiver's answer kept bounded and printable, never logged."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
import structlog
import trustme
from sqlmodel import select

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.producers import receiver, verify_webhook
from tests.services import poll
from tests.support import FakeDispatcher, report_bytes
from worker.analysis.report import parse_report
from worker.analysis.rules import judge
from worker.app.callbacks import callback_rules
from worker.app.webhooks import build_deliverer, webhook_egress
from worker.clock import utcnow
from worker.containers.runner import ContainerRun
from worker.containers.spec import Limits
from worker.egress.background import BackgroundEgress
from worker.egress.client import EgressClient
from worker.errors import ContainerCrashed, InvalidURL
from worker.scan.backoff import Backoff
from worker.scan.claim import claim_job
from worker.scan.outcome import OutcomePolicy, settle
from worker.scan.record import complete, to_analyzing
from worker.settings import Settings
from worker.store.database import Database
from worker.store.models import WebhookDelivery
from worker.submit.batch import Request, submit_requests
from worker.webhooks.deliverer import Deliverer
from worker.webhooks.signing import new_secret

SECRET = new_secret()
LIMITS = Limits(timeout_ms=5000, memory_limit_mb=128, cpu_limit=0.5, pids_limit=64)
LIMITS_LEASE = timedelta(seconds=30)


def _env(tmp_path: Path, **changes: str) -> dict[str, str]:
    return {
        "TURSO_CONNECTION_URL": f"file:{tmp_path / 'scanbox.db'}",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_TIMEOUT_MS": "3000",
        "WEBHOOK_RETRY_BACKOFF_MS": "20",
        "WEBHOOK_MAX_ATTEMPTS": "5",
        **changes,
    }


@dataclass
class Outbox:
    """A database, an egress proxy of the test's own and the production deliverer on them."""

    settings: Settings
    db: Database
    egress: EgressClient
    deliverer: Deliverer

    def submit(self, url: str, callback: str, *, request_id: str | None = None) -> str:
        [made] = submit_requests(
            [Request(url=url, callback_url=callback, request_id=request_id)],
            db=self.db,
            dispatcher=FakeDispatcher(),
            callbacks=callback_rules(self.settings),
        )
        return made.job_id

    def deliveries(self) -> list[WebhookDelivery]:
        with self.db.read() as session:
            return list(session.exec(select(WebhookDelivery)))

    def delivery(self) -> WebhookDelivery:
        [only] = self.deliveries()
        return only

    def deliver_until(self, status: str, *, timeout_s: float = 30) -> WebhookDelivery:
        """Run delivery rounds until the one delivery is ``status``."""

        def settled() -> WebhookDelivery | None:
            self.deliverer.run_once()
            found = self.delivery()
            return found if found.status == status else None

        return poll(settled, timeout_s=timeout_s, what=f"the delivery {status}", every_s=0.01)


@contextmanager
def outbox(env: dict[str, str]) -> Iterator[Outbox]:
    settings = settings_from(env)
    db = Database(url=settings.turso_connection_url)
    db.create_schema()
    egress = BackgroundEgress(partial(webhook_egress, settings))
    client = egress.start()
    deliverer = build_deliverer(settings, db=db, egress=client)
    try:
        yield Outbox(settings=settings, db=db, egress=client, deliverer=deliverer)
    finally:
        deliverer.stop()
        egress.stop()
        db.dispose()


def _complete(db: Database, job_id: str) -> None:
    """Move a queued job to COMPLETED through the worker's own writes."""
    claim = claim_job(
        db, job_id=job_id, worker_id="w1", limits=LIMITS, lease=LIMITS_LEASE, now=utcnow()
    )
    assert claim is not None
    run = ContainerRun(container_id="c" * 64, stdout=report_bytes(), duration_ms=5.0)
    report = parse_report(run.stdout)
    version = to_analyzing(
        db, claim=claim, version=claim.version, run=run, actor="w1", now=utcnow()
    )
    assert version is not None
    assert complete(
        db, claim=claim, version=version, run=run, report=report, judgement=judge(report),
        previous=None, keep_validators=False, actor="w1", clock=utcnow,
    )  # fmt: skip


def _fail(db: Database, job_id: str) -> None:
    """Move a queued job to FAILED through the worker's own settlement."""
    claim = claim_job(
        db, job_id=job_id, worker_id="w1", limits=LIMITS, lease=LIMITS_LEASE, now=utcnow()
    )
    assert claim is not None
    settled = settle(
        ContainerCrashed(exit_code=2, oom_killed=False, stderr_tail=""),
        claim=claim, source=State.FETCHING, version=claim.version, db=db,
        dispatcher=FakeDispatcher(), policy=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=1)),
        actor="w1", now=utcnow(),
    )  # fmt: skip
    assert settled.state is State.FAILED


def test_a_receiver_failing_twice_gets_the_third_attempt_signed(tmp_path: Path) -> None:
    with receiver() as hook, outbox(_env(tmp_path)) as box:
        hook.answers((503, {"Retry-After": "1"}, b"busy"), (500, {}, b"oops"), (204, {}, b""))
        job_id = box.submit("http://127.0.0.1:9/page", hook.url(), request_id="order-9")
        _complete(box.db, job_id)
        pending = box.delivery()
        assert (pending.status, pending.attempts) == ("pending", 0)

        assert box.deliverer.run_once() == 1
        first = box.delivery()
        assert (first.status, first.attempts, first.last_status) == ("pending", 1, 503)
        assert first.last_attempt_at is not None
        # The receiver's Retry-After, not the 20 ms backoff, set the next attempt.
        wait = (first.next_attempt_at - first.last_attempt_at).total_seconds()
        assert 1.0 <= wait < 2.0
        assert first.last_response == "busy"

        delivered = box.deliver_until("delivered")
    assert (delivered.attempts, delivered.last_status, delivered.last_peer) == (3, 204, "127.0.0.1")
    assert delivered.last_error is None
    assert len(hook.received) == 3
    ids = {request.headers["webhook-id"] for request in hook.received}
    assert ids == {delivered.id}
    for request in hook.received:
        verify_webhook(secret=SECRET, headers=request.headers, body=request.body)
        assert request.body == delivered.body.encode()
        assert request.headers["Content-Type"] == "application/json"
        assert request.path == "/hook"
    body = json.loads(hook.received[-1].body)
    assert body["type"] == "scan.completed"
    assert body["data"]["job_id"] == job_id
    assert body["data"]["request_id"] == "order-9"
    assert body["data"]["state"] == "COMPLETED"
    assert body["data"]["result"]["verdict"] == "benign"


def test_a_receiver_that_never_answers_is_given_up_after_the_limit(tmp_path: Path) -> None:
    env = _env(tmp_path, WEBHOOK_TIMEOUT_MS="400", WEBHOOK_MAX_ATTEMPTS="2")
    with receiver() as hook, outbox(env) as box:
        hook.answers(None)
        _fail(box.db, box.submit("http://127.0.0.1:9/page", hook.url()))
        failed = box.deliver_until("failed")
        assert len(hook.received) == 2
    assert failed.attempts == 2
    assert failed.last_status is None
    assert failed.last_error is not None
    assert "in time" in failed.last_error
    assert "gave up after 2 attempts" in failed.last_error
    assert json.loads(failed.body)["type"] == "scan.failed"


def test_429_and_5xx_are_retried_and_4xx_is_not(tmp_path: Path) -> None:
    with receiver() as hook, outbox(_env(tmp_path)) as box:
        hook.answers((429, {}, b""), (410, {}, b"gone"))
        _fail(box.db, box.submit("http://127.0.0.1:9/page", hook.url()))
        failed = box.deliver_until("failed")
    assert (failed.attempts, failed.last_status, failed.last_response) == (2, 410, "gone")
    assert len(hook.received) == 2


def test_a_private_callback_address_is_refused_at_submit(tmp_path: Path) -> None:
    with receiver() as canary, outbox(_env(tmp_path, FETCHER_ALLOW_NETWORKS="127.0.0.2/32")) as box:
        with pytest.raises(InvalidURL, match="loopback"):
            box.submit("http://127.0.0.2:9/page", canary.url())
        assert box.deliveries() == []
    assert canary.connections == 0


def test_a_name_that_resolves_to_a_refused_address_is_refused_at_delivery(
    tmp_path: Path,
) -> None:
    """``localhost`` passes at submit (a name) and resolves to 127.0.0.1, which the rules do
    not allow: the proxy refuses it, the canary listening there sees no connection."""
    with receiver() as canary, outbox(_env(tmp_path, FETCHER_ALLOW_NETWORKS="127.0.0.2/32")) as box:
        job_id = box.submit("http://127.0.0.2:9/page", canary.url(host="localhost"))
        _complete(box.db, job_id)
        failed = box.deliver_until("failed")
    assert failed.attempts == 1
    assert failed.last_error is not None
    assert "refused by the egress proxy" in failed.last_error
    assert "127.0.0.1" in failed.last_error
    assert canary.connections == 0


def test_hostile_answers_are_bounded_printable_and_never_logged(tmp_path: Path) -> None:
    flood = b"\x1b]0;pwned\x07\x1b[2J<script>alert(1)</script>" + b"A" * (5 * 1024 * 1024)
    with receiver() as hook, outbox(_env(tmp_path)) as box:
        hook.answers((200, {"X-Evil": "\x1b[31mred"}, flood))
        _complete(box.db, box.submit("http://127.0.0.1:9/page", hook.url()))
        with structlog.testing.capture_logs() as logs:
            delivered = box.deliver_until("delivered")
    assert delivered.last_response is not None
    assert len(delivered.last_response) <= 500
    assert "\x1b" not in delivered.last_response
    assert delivered.last_response.startswith("\\x1b]0;pwned\\x07\\x1b[2J<script>")
    assert "pwned" not in repr(logs)
    assert any(entry["event"] == "webhook_delivered" for entry in logs)


def test_redirects_are_not_followed(tmp_path: Path) -> None:
    with receiver() as canary, receiver() as hook, outbox(_env(tmp_path)) as box:
        hook.answers((307, {"Location": canary.url()}, b""))
        _complete(box.db, box.submit("http://127.0.0.1:9/page", hook.url()))
        failed = box.deliver_until("failed")
    assert (failed.attempts, failed.last_status) == (1, 307)
    assert canary.connections == 0


def _read_request(conn: socket.socket) -> bytes:
    """Read one whole request (head and Content-Length body) from ``conn``."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@contextmanager
def _not_http() -> Iterator[int]:
    """A loopback port that reads a request and answers something that is not HTTP."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                _read_request(conn)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_an_answer_that_is_not_http_is_tried_again(tmp_path: Path) -> None:
    with _not_http() as port, outbox(_env(tmp_path, WEBHOOK_MAX_ATTEMPTS="2")) as box:
        _complete(box.db, box.submit("http://127.0.0.1:9/page", f"http://127.0.0.1:{port}/"))
        failed = box.deliver_until("failed")
    assert failed.attempts == 2
    assert failed.last_error is not None
    assert "not HTTP" in failed.last_error


def _scanbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_a_secret_nothing_is_sent_until_retried_with_one(tmp_path: Path) -> None:
    unsigned = {name: value for name, value in _env(tmp_path).items() if name != "WEBHOOK_SECRET"}
    with receiver() as hook:
        with outbox(unsigned) as box:
            _complete(box.db, box.submit("http://127.0.0.1:9/page", hook.url()))
            failed = box.deliver_until("failed")
        assert failed.last_error == "WEBHOOK_SECRET is not set: nothing was sent"
        assert hook.connections == 0

        listed = _scanbox(unsigned, "webhooks", "list", "--status", "failed", "--json")
        assert listed.returncode == 0, listed.stderr
        [row] = json.loads(listed.stdout)
        assert (row["id"], row["status"], row["attempts"]) == (failed.id, "failed", 1)
        retried = _scanbox(unsigned, "webhooks", "retry", "--failed")
        assert (retried.returncode, retried.stdout.split()) == (0, [failed.id])
        again = _scanbox(unsigned, "webhooks", "retry", failed.id, "msg_nope")
        assert again.returncode == 1
        assert "msg_nope is not a failed delivery" in again.stderr

        with outbox(_env(tmp_path)) as box:
            assert (box.delivery().status, box.delivery().attempts) == ("pending", 0)
            delivered = box.deliver_until("delivered")
    assert delivered.attempts == 1
    assert len(hook.received) == 1
    verify_webhook(secret=SECRET, headers=hook.received[0].headers, body=hook.received[0].body)


def test_a_deliverer_thread_delivers_by_itself(tmp_path: Path) -> None:
    with receiver() as hook, outbox(_env(tmp_path, WEBHOOK_POLL_MS="20")) as box:
        _complete(box.db, box.submit("http://127.0.0.1:9/page", hook.url()))
        box.deliverer.start()
        poll(
            lambda: True if box.delivery().status == "delivered" else None,
            timeout_s=30,
            what="the webhook delivered by the deliverer's own thread",
        )
        box.deliverer.stop()
    assert len(hook.received) == 1


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    """A certificate authority of the test's own, for HTTPS receivers on loopback."""
    return trustme.CA()


def _tls_server(authority: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*names).configure_cert(context)
    return context


def _trusting(box: Outbox, authority: trustme.CA) -> Deliverer:
    """The production deliverer, trusting ``authority`` for https callbacks."""
    trusted = ssl.create_default_context()
    authority.configure_trust(trusted)
    return build_deliverer(box.settings, db=box.db, egress=box.egress, tls=trusted)


def test_an_https_callback_is_verified_for_its_host(tmp_path: Path, authority: trustme.CA) -> None:
    with receiver(tls=_tls_server(authority, "localhost")) as hook, outbox(_env(tmp_path)) as box:
        box.deliverer = _trusting(box, authority)
        _complete(box.db, box.submit("http://127.0.0.1:9/page", hook.url(host="localhost")))
        delivered = box.deliver_until("delivered")
        assert delivered.last_peer == "127.0.0.1"
        [request] = hook.received
        verify_webhook(secret=SECRET, headers=request.headers, body=request.body)


@pytest.mark.parametrize("names", [("somewhere.else",), ("localhost",)])
def test_a_certificate_that_does_not_verify_is_tried_again(
    tmp_path: Path, authority: trustme.CA, names: tuple[str, ...]
) -> None:
    """A certificate for another name, or from an authority the worker does not trust."""
    trusted = names != ("localhost",)
    env = _env(tmp_path, WEBHOOK_MAX_ATTEMPTS="2")
    with receiver(tls=_tls_server(authority, *names)) as hook, outbox(env) as box:
        if trusted:
            box.deliverer = _trusting(box, authority)
        _complete(box.db, box.submit("http://127.0.0.1:9/page", hook.url(host="localhost")))
        failed = box.deliver_until("failed")
        assert hook.received == []
    assert failed.attempts == 2
    assert failed.last_error is not None
    assert "TLS failed" in failed.last_error
