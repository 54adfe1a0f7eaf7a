"""What ``scanbox bench`` measures and the settings its own workers run with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worker.settings import Settings

#: The only network the benchmark's fetchers may reach: its own loopback page.
LOOPBACK = "127.0.0.0/8"


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """How much to measure (the defaults are ``scanbox bench``'s, in ``worker.cli.bench``)."""

    #: Scans on each side.
    count: int
    #: Bare containers at a time, for the throughput comparison.
    concurrency: int
    #: Worker processes, for the same comparison.
    workers: int
    #: Single submits measured.
    submit_count: int
    #: The batch size of the batched submits.
    batch_size: int


def bench_environment(
    *, database: Path, queue: str, redis_url: str, egress_dir: Path
) -> dict[str, str]:
    """The settings the benchmark's worker processes run with, on top of the caller's: the
    fetchers go out through the benchmark's own egress proxy (``egress_dir``), as by
    default."""
    return {
        "TURSO_CONNECTION_URL": f"file:{database}",
        "QUEUE_NAME": queue,
        "REDIS_URL": redis_url,
        "FETCHER_NETWORK": "egress",
        "EGRESS_DIR": str(egress_dir),
        "FETCHER_ALLOW_NETWORKS": LOOPBACK,
        "FETCHER_ALLOWED_PORTS": "any",
        # Every scan of the benchmark goes to one host: the per-host rate limit, a policy and
        # not a cost, would measure itself instead of the pipeline.
        "HOST_RATE_LIMIT": "0",
    }


def bench_settings(settings: Settings, environment: dict[str, str]) -> Settings:
    """``settings`` as the workers started with ``environment`` read them."""
    values = settings.model_dump() | {name.lower(): value for name, value in environment.items()}
    return Settings.model_validate(values)
