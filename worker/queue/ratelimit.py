"""Per-host politeness: a token bucket per target host, in Redis, shared by every replica.

Each host's bucket holds up to ``burst`` tokens and refills at ``per_second``; fetching the
host takes one. A request the bucket can't serve now is told how long to wait, and refused
requests are handed slots one refill interval apart, so that a backlog for one host comes back
spread out instead of all at once (it asks again then; the slot is advice, the token is the
rule). A host that answered 429 is *held*: nothing is admitted before the hold ends.

Each request is one Lua script, so replicas never race on a bucket. Time is the Redis server's
own clock (one clock for every replica) unless a clock is passed in, as tests do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # A type only: the settings use ``parse_overrides``, and reading the settings must not
    # load Redis's client (``scanbox status`` never talks to Redis).
    from redis import Redis

#: A bucket outlives its last use by this long (then it would be full again anyway).
IDLE_EXPIRY_MS = 60_000

# Sets ``now`` (milliseconds): ARGV[1] if given, else the Redis server's clock.
_NOW = """
local now = tonumber(ARGV[1])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
"""

# KEYS[1] bucket; ARGV: now, per_second (0: no limit), burst, idle expiry.
# Returns 0 when a token was taken, else the milliseconds to wait.
_ACQUIRE = (
    _NOW
    + """
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'hold', 'slot')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
local hold = tonumber(state[3]) or 0
local slot = tonumber(state[4]) or 0
local interval = 0
local earliest = math.max(now, hold)
if rate > 0 then
  interval = 1000 / rate
  if now > at then
    tokens = math.min(burst, tokens + (now - at) * rate / 1000)
    at = now
  end
  if tokens < 1 then
    earliest = math.max(earliest, now + math.ceil((1 - tokens) * interval))
  end
end
local wait = 0
if earliest > now then
  local given = math.max(slot, earliest)
  slot = given + interval
  wait = math.ceil(given - now)
elseif rate > 0 then
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at, 'hold', hold, 'slot', slot)
local last = math.max(slot, hold, now) - now + burst * interval
redis.call('PEXPIRE', KEYS[1], math.ceil(last) + tonumber(ARGV[4]))
return wait
"""
)

# KEYS[1] bucket; ARGV: now, hold length (ms), idle expiry. Holds only ever grow.
_HOLD = (
    _NOW
    + """
local until_ = now + tonumber(ARGV[2])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold')) or 0
if until_ > hold then
  redis.call('HSET', KEYS[1], 'hold', until_)
  hold = until_
end
local keep = hold - now + tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return hold - now
"""
)


@dataclass(frozen=True, kw_only=True)
class Rate:
    """How often one host may be fetched: ``per_second`` (0: no limit), up to ``burst`` at once."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.per_second) and self.per_second >= 0):
            raise ValueError(f"a rate must be a number of requests per second >= 0, not {self}")
        if self.burst < 1:
            raise ValueError(f"a burst must be at least 1, not {self.burst}")


@dataclass(frozen=True, kw_only=True)
class HostRates:
    """The default rate and the hosts that have their own."""

    default: Rate
    overrides: Mapping[str, Rate] = field(default_factory=dict)

    def for_host(self, host: str) -> Rate:
        """The rate ``host`` is held to."""
        return self.overrides.get(host, self.default)


def parse_overrides(text: str, *, burst: int) -> dict[str, Rate]:
    """Read ``host=rate[/burst],...``; a rate without its own burst gets ``burst``.

    Hosts are matched as written, in lower case (``127.0.0.1``, ``example.org``); a rate of 0
    lifts the limit for that host. Raises ``ValueError`` naming the part it can't read.
    """
    overrides: dict[str, Rate] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        host, equals, value = part.partition("=")
        host = host.strip().lower().rstrip(".")
        per_second, _, own_burst = value.partition("/")
        try:
            if not (host and equals):
                raise ValueError("no host")
            overrides[host] = Rate(
                per_second=float(per_second),
                burst=int(own_burst) if own_burst.strip() else burst,
            )
        except ValueError:
            raise ValueError(
                f"not host=rate or host=rate/burst: {part.strip()!r} (e.g. example.org=0.5/2)"
            ) from None
    return overrides


class RateLimiter(Protocol):
    """Whatever decides when a host may be fetched again."""

    def acquire(self, host: str) -> float:
        """Take a token for ``host``: 0 if it may be fetched now, else seconds to wait first."""

    def hold(self, host: str, *, seconds: float) -> None:
        """Admit nothing for ``host`` for ``seconds`` (it asked us to back off)."""


class RedisRateLimiter:
    """Token buckets in Redis under ``namespace``, one per host."""

    def __init__(
        self,
        *,
        redis: Redis,
        rates: HostRates,
        namespace: str,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.rates = rates
        self.namespace = namespace
        self.clock_ms = clock_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._hold = redis.register_script(_HOLD)

    def key(self, host: str) -> str:
        """The Redis key of ``host``'s bucket."""
        return f"{self.namespace}:{host}"

    def _now(self) -> int | str:
        return "" if self.clock_ms is None else self.clock_ms()

    def acquire(self, host: str) -> float:
        rate = self.rates.for_host(host)
        wait_ms = self._acquire(
            keys=[self.key(host)],
            args=[self._now(), rate.per_second, rate.burst, IDLE_EXPIRY_MS],
        )
        return int(wait_ms) / 1000

    def hold(self, host: str, *, seconds: float) -> None:
        self._hold(
            keys=[self.key(host)],
            args=[self._now(), math.ceil(seconds * 1000), IDLE_EXPIRY_MS],
        )
