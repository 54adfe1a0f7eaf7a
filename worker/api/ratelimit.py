"""The per-key request limit: a fixed window per API key, counted in Redis by every API process.

A key's window opens at its first request and lasts ``window_ms``; it may make ``limit``
requests in it. Each request is one Lua script (increment, set the expiry on the first, read
what is left of it), so processes never race, and the time is the Redis server's own. The
answer carries the fields of the IETF draft "RateLimit header fields for HTTP"
(draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` (seconds until the window ends) and ``RateLimit-Policy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

# KEYS[1] the key's counter; ARGV[1] the window (ms). Returns the count and the window's
# remaining milliseconds.
_TAKE = """
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if count == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
"""


@dataclass(frozen=True, kw_only=True)
class Quota:
    """Where a key stands after one request."""

    limit: int
    remaining: int
    #: Seconds until the window ends and the count starts again.
    reset_s: int
    window_s: int
    #: Whether this request was within the limit.
    allowed: bool

    def headers(self) -> dict[str, str]:
        """The ``RateLimit-*`` fields (and ``Retry-After`` when refused)."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }
        if not self.allowed:
            fields["Retry-After"] = str(max(self.reset_s, 1))
        return fields


class KeyRateLimiter:
    """Counts each API key's requests in Redis; ``limit`` 0 counts nothing."""

    def __init__(self, *, redis: Redis, limit: int, window_ms: int, namespace: str) -> None:
        self.redis = redis
        self.limit = limit
        self.window_ms = window_ms
        self.namespace = namespace
        self._take = redis.register_script(_TAKE)

    def take(self, key_id: str) -> Quota | None:
        """Count one request of ``key_id``; ``None`` when there is no limit."""
        if self.limit <= 0:
            return None
        count, left_ms = self._take(keys=[f"{self.namespace}:{key_id}"], args=[self.window_ms])
        return Quota(
            limit=self.limit,
            remaining=max(self.limit - int(count), 0),
            reset_s=math.ceil(int(left_ms) / 1000),
            window_s=math.ceil(self.window_ms / 1000),
            allowed=int(count) <= self.limit,
        )
