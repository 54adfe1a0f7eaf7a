"""The benchmark's results: the targets it holds scanbox to, ratios, the printed table, the JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Sequential latency: scanbox p50 at most this many times the bare container's p50.
MAX_LATENCY_RATIO = 1.15
#: Throughput at W = C: scanbox at least this fraction of the bare containers'.
MIN_THROUGHPUT_RATIO = 0.85
#: Batched submits per second, at least.
MIN_BATCHED_SUBMITS_PER_S = 2000.0
#: One submit's p50, at most (milliseconds).
MAX_SINGLE_SUBMIT_P50_MS = 5.0
#: Resident memory of one worker process, at most (MiB).
MAX_WORKER_RSS_MIB = 80.0
#: The fetcher's start inside its container, at most (milliseconds).
MAX_FETCHER_START_MS = 60.0


@dataclass(frozen=True, kw_only=True)
class Bound:
    """A target: scanbox's value (or its ratio to the baseline's) at most or at least ``limit``."""

    limit: float
    at_least: bool = False
    #: Held to the ratio scanbox / baseline rather than to scanbox's value.
    of_ratio: bool = False

    @property
    def text(self) -> str:
        """The target as the table writes it: ``ratio <= 1.15``, ``>= 2000``."""
        shown = f"{self.limit:.0f}" if self.limit >= 10 else f"{self.limit}"
        sign = ">=" if self.at_least else "<="
        return f"ratio {sign} {shown}" if self.of_ratio else f"{sign} {shown}"

    def met(self, value: float | None) -> bool:
        """Whether ``value`` is within the bound (``None``, not measured: it is not)."""
        if value is None:
            return False
        return value >= self.limit if self.at_least else value <= self.limit


#: The targets scanbox holds itself to, one per limit above.
LATENCY_TARGET = Bound(limit=MAX_LATENCY_RATIO, of_ratio=True)
THROUGHPUT_TARGET = Bound(limit=MIN_THROUGHPUT_RATIO, at_least=True, of_ratio=True)
BATCHED_SUBMIT_TARGET = Bound(limit=MIN_BATCHED_SUBMITS_PER_S, at_least=True)
SINGLE_SUBMIT_TARGET = Bound(limit=MAX_SINGLE_SUBMIT_P50_MS)
WORKER_RSS_TARGET = Bound(limit=MAX_WORKER_RSS_MIB)
FETCHER_START_TARGET = Bound(limit=MAX_FETCHER_START_MS)


@dataclass(frozen=True, kw_only=True)
class Row:
    """One line of the table: a measure, both sides, their ratio, and a target if any."""

    measure: str
    baseline: float | None
    scanbox: float | None
    bound: Bound | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.scanbox is None or self.baseline == 0:
            return None
        return self.scanbox / self.baseline

    @property
    def target(self) -> str:
        """The target as written (empty: none)."""
        return "" if self.bound is None else self.bound.text

    @property
    def met(self) -> bool | None:
        """Whether the target was met (``None``: no target)."""
        if self.bound is None:
            return None
        return self.bound.met(self.ratio if self.bound.of_ratio else self.scanbox)


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def rows(results: dict[str, Any]) -> list[Row]:
    """The table's rows, from the results ``run_benchmark`` gathered."""
    get = _get
    base_p50 = get(results, "baseline", "sequential", "latency", "p50_ms")
    concurrency = get(results, "options", "concurrency")
    workers = get(results, "options", "workers")
    return [
        Row(
            measure="sequential latency p50 (ms)",
            baseline=base_p50,
            scanbox=get(results, "scanbox", "sequential", "latency", "p50_ms"),
            bound=LATENCY_TARGET,
        ),
        Row(
            measure="sequential latency p95 (ms)",
            baseline=get(results, "baseline", "sequential", "latency", "p95_ms"),
            scanbox=get(results, "scanbox", "sequential", "latency", "p95_ms"),
        ),
        Row(
            measure=f"throughput, C={concurrency} W={workers} (scans/s)",
            baseline=get(results, "baseline", "concurrent", "throughput_per_s"),
            scanbox=get(results, "scanbox", "concurrent", "throughput_per_s"),
            bound=THROUGHPUT_TARGET,
        ),
        Row(
            measure="container run p50, in sequence (ms)",
            baseline=base_p50,
            scanbox=get(results, "scanbox", "sequential", "runner", "p50_ms"),
        ),
        Row(
            measure=f"container run p50, C={concurrency} W={workers} (ms)",
            baseline=get(results, "baseline", "concurrent", "latency", "p50_ms"),
            scanbox=get(results, "scanbox", "concurrent", "runner", "p50_ms"),
        ),
        Row(
            measure=f"submit, batches of {get(results, 'submit', 'batch_size')} (URLs/s)",
            baseline=None,
            scanbox=get(results, "submit", "batched_per_s"),
            bound=BATCHED_SUBMIT_TARGET,
        ),
        Row(
            measure="submit, one URL p50 (ms)",
            baseline=None,
            scanbox=get(results, "submit", "single", "p50_ms"),
            bound=SINGLE_SUBMIT_TARGET,
        ),
        Row(
            measure="worker RSS, largest process (MiB)",
            baseline=None,
            scanbox=get(results, "footprint", "worker_rss_max_mib"),
            bound=WORKER_RSS_TARGET,
        ),
        Row(
            measure="fetcher start in container p50 (ms)",
            baseline=get(results, "baseline", "sequential", "fetcher_startup", "p50_ms"),
            scanbox=get(results, "scanbox", "sequential", "fetcher_startup", "p50_ms"),
            bound=FETCHER_START_TARGET,
        ),
        Row(
            measure="  of which interpreter start p50 (ms)",
            baseline=get(results, "footprint", "python_start", "p50_ms"),
            scanbox=None,
        ),
        Row(
            measure="container peak memory (MiB)",
            baseline=get(results, "footprint", "container_peak_mib"),
            scanbox=None,
        ),
    ]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def render_table(table: list[Row]) -> str:
    """The rows as aligned text for a terminal."""
    header = ("measure", "baseline", "scanbox", "ratio", "target", "")
    lines = [
        (
            row.measure,
            _number(row.baseline),
            _number(row.scanbox),
            _number(row.ratio),
            row.target,
            "" if row.met is None else ("met" if row.met else "MISSED"),
        )
        for row in table
    ]
    widths = [max(len(line[index]) for line in [header, *lines]) for index in range(6)]

    def fmt(line: tuple[str, ...]) -> str:
        cells = [
            cell.ljust(width) if index in (0, 4, 5) else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(header), *(fmt(line) for line in lines)])


#: Browser scans against the bare browser container: cold, and warm (Chromium waiting).
BROWSER_COLD_TARGET = Bound(limit=1.15, of_ratio=True)
BROWSER_WARM_TARGET = Bound(limit=0.5, of_ratio=True)


def browser_rows(figures: dict[str, Any]) -> list[Row]:
    """The table of ``scanbox bench --mode browser``: bare container against each side."""
    bare = figures["bare"]
    return [
        Row(
            measure="browser scan p50, cold (ms)",
            baseline=bare["p50_ms"],
            scanbox=figures["cold"]["p50_ms"],
            bound=BROWSER_COLD_TARGET,
        ),
        Row(
            measure="browser scan p50, warm (ms)",
            baseline=bare["p50_ms"],
            scanbox=figures["warm"]["p50_ms"],
            bound=BROWSER_WARM_TARGET,
        ),
        Row(measure="browser scan p95, cold (ms)", baseline=bare["p95_ms"],
            scanbox=figures["cold"]["p95_ms"]),
        Row(measure="browser scan p95, warm (ms)", baseline=bare["p95_ms"],
            scanbox=figures["warm"]["p95_ms"]),
        Row(measure="scans/s at once, cold", baseline=None,
            scanbox=figures["cold"]["throughput_per_s"]),
        Row(measure="scans/s at once, warm", baseline=None,
            scanbox=figures["warm"]["throughput_per_s"]),
        Row(measure="container peak memory (MiB)", baseline=figures["peak_memory_mib"],
            scanbox=None),
        Row(measure="artifact bytes per capture", baseline=figures["artifact_bytes_p50"],
            scanbox=None),
    ]  # fmt: skip


def with_table(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` with the table's rows added under ``table`` (ratios and targets)."""
    return results | {
        "table": [
            {
                "measure": row.measure,
                "baseline": row.baseline,
                "scanbox": row.scanbox,
                "ratio": None if row.ratio is None else round(row.ratio, 3),
                "target": row.target or None,
                "met": row.met,
            }
            for row in rows(results)
        ]
    }


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write ``results`` to ``path`` (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
