"""Percentiles and summaries of the benchmark's timing samples."""

from __future__ import annotations

import pytest

from worker.bench.run import shares
from worker.bench.stats import percentile, summarize


def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(value) for value in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_summary_rounds_and_orders() -> None:
    summary = summarize([30.04, 10.0, 20.0, 40.0])
    assert summary.as_dict() == {
        "count": 4,
        "p50_ms": 20.0,
        "p95_ms": 40.0,
        "mean_ms": 25.0,
        "min_ms": 10.0,
        "max_ms": 40.0,
    }


@pytest.mark.parametrize(
    ("count", "rounds", "expected"),
    [(20, 2, [10, 10]), (7, 2, [4, 3]), (1, 2, [1]), (5, 3, [2, 2, 1])],
)
def test_shares_split_the_count_without_empty_rounds(
    count: int, rounds: int, expected: list[int]
) -> None:
    assert shares(count, rounds) == expected
    assert sum(shares(count, rounds)) == count
