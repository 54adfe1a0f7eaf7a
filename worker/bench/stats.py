"""Summaries of timing samples: count, percentiles (nearest rank), mean and extremes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: Decimal places kept in reported milliseconds.
DECIMALS = 1


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (``fraction`` in [0, 1])."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True, kw_only=True)
class Summary:
    """How a set of durations (milliseconds) is spread."""

    count: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return asdict(self)


def summarize(samples_ms: Sequence[float]) -> Summary:
    """Summarise ``samples_ms`` (at least one)."""
    return Summary(
        count=len(samples_ms),
        p50_ms=round(percentile(samples_ms, 0.50), DECIMALS),
        p95_ms=round(percentile(samples_ms, 0.95), DECIMALS),
        mean_ms=round(sum(samples_ms) / len(samples_ms), DECIMALS),
        min_ms=round(min(samples_ms), DECIMALS),
        max_ms=round(max(samples_ms), DECIMALS),
    )
