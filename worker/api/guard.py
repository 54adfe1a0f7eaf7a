"""What every answer gets, whatever answered it: security headers, the rate limit's fields, a
bound on request bodies.

- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, framing refused,
  ``Cache-Control: no-store`` unless the answer set its own;
- a ``Content-Security-Policy`` that allows nothing (``default-src 'none'``) unless the answer
  set its own (pages allow their own scripts and styles; artifacts are ``sandbox``);
- the ``RateLimit-*`` fields of the request's key, when it had one;
- bodies over ``max_body`` bytes are refused (413) before the app reads them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from worker.api.auth import QUOTA_STATE
from worker.api.problems import PROBLEM_MEDIA_TYPE, Problem
from worker.api.ratelimit import Quota

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body taken (a batch of 1,000 URLs of 1 KiB fits).
MAX_BODY = 1 << 20
#: The policy of an answer that set none: nothing may load, nothing may frame it.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Headers every answer gets (unless it set them).
ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", DEFAULT_CSP.encode()),
)


class Guard:
    """ASGI middleware adding the headers above and bounding bodies."""

    def __init__(self, app: App, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            body = await self._read(receive)
            if body is None:
                await self._too_large(scope, send)
                return
            receive = _replay(body, receive)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in ALWAYS if name not in present]
                quota = scope.get("state", {}).get(QUOTA_STATE)
                if isinstance(quota, Quota):
                    headers += [
                        (name.lower().encode(), value.encode())
                        for name, value in quota.headers().items()
                        if name.lower().encode() not in present
                    ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        problem = Problem("too-large", f"the request body is over {self.max_body} bytes")
        body = json.dumps(problem.document(instance=scope["path"])).encode()
        await send(
            {
                "type": "http.response.start",
                "status": problem.status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *ALWAYS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the connection says next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
