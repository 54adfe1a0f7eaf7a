"""Retry delays: exponential in the attempt number, capped, with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Delay before retry ``n``: ``base * 2**(n-1)`` capped at ``maximum``, times 0.5 to 1."""

    base_s: float
    maximum_s: float
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before the attempt after ``attempt`` (1-based)."""
        ceiling = min(self.maximum_s, self.base_s * 2.0 ** max(attempt - 1, 0))
        return ceiling * (0.5 + self.rng.random() / 2)
