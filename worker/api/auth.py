"""Who is asking: the API key of a request, its scope, and its rate limit.

A key comes in ``Authorization: Bearer sbx_…``, or, for requests that change nothing (``GET``,
``HEAD``), in the pages' login cookie. A key that is missing, malformed, unknown or revoked is
a 401; one whose scope is too narrow a 403; one past its rate a 429. Every request with a
known key counts against its rate, and its answer carries the ``RateLimit-*`` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.exceptions
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.api.keys import allows, hash_key, well_formed
from worker.api.parts import ApiParts
from worker.api.problems import Problem, unavailable
from worker.store.apikeys import find_key

#: The pages' login cookie: it holds the key itself (HttpOnly, SameSite=Strict).
COOKIE = "scanbox_key"
#: Methods that may be authenticated by the cookie: they change nothing.
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: The challenge of a 401.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scanbox"'}
#: Where the request's quota is kept for the answer's headers.
QUOTA_STATE = "scanbox_quota"

#: The bearer scheme, as OpenAPI describes it (checked by ``authenticate``, not by FastAPI).
bearer = HTTPBearer(auto_error=False, description="An API key: scanbox apikey create")


@dataclass(frozen=True, kw_only=True)
class Caller:
    """The key a request came with."""

    key_id: str
    name: str
    scope: str


def parts_of(request: Request) -> ApiParts:
    """The parts the app was made with."""
    parts: ApiParts = request.app.state.parts
    return parts


def presented_key(request: Request) -> str | None:
    """The key a request carries, if any."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    if request.method in SAFE_METHODS:
        return request.cookies.get(COOKIE)
    return None


def authenticate(request: Request, *, scope: str) -> Caller:
    """The caller of ``request`` if its key may do what needs ``scope``; else a ``Problem``."""
    return check_key(request, presented_key(request), scope=scope)


def check_key(request: Request, key: str | None, *, scope: str) -> Caller:
    """The caller whose key is ``key``, counted against its rate, if it may do what needs
    ``scope``; else a ``Problem`` (401, 403, 429 or 503)."""
    if key is None:
        raise Problem(
            "unauthenticated", "no API key: send 'Authorization: Bearer sbx_…'", headers=CHALLENGE
        )
    if not well_formed(key):
        raise Problem("unauthenticated", "the API key is malformed", headers=CHALLENGE)
    parts = parts_of(request)
    row = find_key(parts.db, hash_key(key))
    if row is None or row.revoked_at is not None:
        raise Problem("unauthenticated", "the API key is unknown or revoked", headers=CHALLENGE)
    try:
        quota = parts.limiter.take(row.id)
    except redis.exceptions.RedisError:
        raise unavailable("Redis (the rate limit)") from None
    if quota is not None:
        request.scope.setdefault("state", {})[QUOTA_STATE] = quota
        if not quota.allowed:
            raise Problem(
                "rate-limited",
                f"key {row.id} made more than {quota.limit} requests in {quota.window_s} s; "
                f"the next one is taken in {quota.reset_s} s",
                headers=quota.headers(),
            )
    if not allows(row.scope, scope):
        raise Problem(
            "forbidden", f"key {row.id} has scope {row.scope!r}; this needs {scope!r} or wider"
        )
    return Caller(key_id=row.id, name=row.name, scope=row.scope)


def needs(scope: str) -> Callable[..., Caller]:
    """A dependency that lets only keys of ``scope`` (or wider) through."""

    def dependency(
        request: Request,
        _credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> Caller:
        return authenticate(request, scope=scope)

    return dependency
