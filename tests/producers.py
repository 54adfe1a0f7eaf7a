"""What producers' tests share: ``redis-cli`` as the producer, a webhook receiver on loopback,
and a verifier of Standard Webhooks signatures written from the specification.

The verifier is deliberately not scanbox's signer run backwards: it follows the spec's text
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
"Verifying webhook authenticity"): the secret is base64 after ``whsec_``; the signed content
is ``msg_id.timestamp.payload``; the header is a space-separated list of
``version,signature`` and any ``v1`` one that matches (compared in constant time) verifies;
a timestamp outside the tolerance is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.services import RedisServer, unavailable

#: How far a webhook's timestamp may be from now (the spec's libraries use five minutes).
TOLERANCE_S = 300


class SignatureInvalid(Exception):
    """A webhook that does not verify."""


def verify_webhook(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Raise ``SignatureInvalid`` unless ``body`` with ``headers`` is signed with ``secret``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise SignatureInvalid(f"missing header {missing}") from None
    if not timestamp.isdigit():
        raise SignatureInvalid("the timestamp is not a number of seconds")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > TOLERANCE_S:
        raise SignatureInvalid("the timestamp is outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for candidate in signatures.split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return
    raise SignatureInvalid("no v1 signature matches")


def redis_cli(server: RedisServer, *args: str, stdin: bytes | None = None) -> str:
    """Run ``redis-cli`` (Debian's redis-tools) against ``server``; its output."""
    binary = shutil.which("redis-cli")
    if binary is None:
        unavailable("redis-cli")
    done = subprocess.run(
        [binary, "-p", str(server.port), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return done.stdout.decode()


@dataclass(frozen=True)
class Received:
    """One request a receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


#: What a receiver does with a request: answers (status, headers, body), or ``None`` to hold
#: it until the receiver stops.
Script = Callable[[Received], tuple[int, dict[str, str], bytes] | None]


@dataclass
class Receiver:
    """A webhook receiver on a loopback address; records every connection and request."""

    host: str = "127.0.0.1"
    scheme: str = "http"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    script: Script = lambda request: (204, {}, b"")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook", *, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def answers(self, *answers: tuple[int, dict[str, str], bytes] | None) -> None:
        """Answer the requests with ``answers`` in turn, the last one for every later one."""
        queue = list(answers)

        def play(_request: Received) -> tuple[int, dict[str, str], bytes] | None:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.script = play


@contextmanager
def receiver(host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """Run a ``Receiver`` on ``host`` for the length of the block (HTTPS with ``tls``)."""
    state = Receiver(host=host, scheme="https" if tls is not None else "http")

    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            with state.lock:
                state.connections += 1
            super().setup()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Received(
                path=self.path, headers=dict(self.headers.items()), body=self.rfile.read(length)
            )
            with state.lock:
                state.received.append(request)
            answer = state.script(request)
            if answer is None:
                state.release.wait(60)
                return
            status, headers, body = answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
