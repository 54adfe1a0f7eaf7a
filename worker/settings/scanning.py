"""How workers take jobs on: how many at once, retries, leases, hosts' rates, deduplication."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from worker.queue.ratelimit import parse_overrides


class ScanningSettings(BaseSettings):
    """Workers, retries and rates."""

    #: Worker processes ``scanbox worker`` starts.
    worker_concurrency: int = Field(default=5, ge=1, le=256)
    #: Analysis policy (TOML: blocked/allowed domains, blocked hashes), re-read when it
    #: changes; empty: rules only.
    policy_file: str = ""
    #: Attempts a job gets against transient errors before it is DISCARDED.
    max_attempts: int = Field(default=3, ge=1, le=100)
    #: First retry delay; doubles each attempt, with jitter, up to the maximum.
    retry_backoff_ms: int = Field(default=1_000, ge=0)
    #: Longest retry delay, however many attempts came before.
    retry_backoff_max_ms: int = Field(default=60_000, ge=0)
    #: Whether a TIMED_OUT attempt is retried like a transient error.
    retry_timeouts: bool = False
    #: How long a claim stays valid without renewal; the running worker renews it every third.
    lease_ttl_ms: int = Field(default=30_000, ge=300)
    #: How often workers reap expired leases and orphan containers and reconcile with Redis.
    housekeeping_interval_ms: int = Field(default=15_000, ge=100)
    #: How long a QUEUED job may go without an RQ job before the reconciler re-dispatches it.
    reconcile_after_ms: int = Field(default=10_000, ge=0)
    #: On SIGTERM, how long a running scan may go on before its container is killed.
    shutdown_grace_ms: int = Field(default=20_000, ge=0)
    #: Requests per second each target host may get, counted across every worker; 0: no limit.
    host_rate_limit: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    #: Requests a host may get back to back before its rate applies.
    host_rate_burst: int = Field(default=5, ge=1)
    #: Hosts with a rate of their own: ``host=rate[/burst]``, comma-separated (rate 0: no limit).
    host_rate_overrides: str = ""
    #: How long a host that answered 429 without a usable ``Retry-After`` is left alone.
    host_backoff_ms: int = Field(default=60_000, ge=0)
    #: The longest a host's ``Retry-After`` may hold back scans of it.
    host_backoff_max_ms: int = Field(default=3_600_000, ge=0)
    #: A URL submitted again within this window returns the job already made for it; 0: never.
    dedup_window_ms: int = Field(default=600_000, ge=0)
    #: Whether a re-scan sends the URL's last ETag / Last-Modified, so that a 304 completes it
    #: as not modified.
    conditional_rescan: bool = True
    #: The deepest ``submit --depth`` may ask for: levels of child scans below a submitted job.
    max_scan_depth: int = Field(default=3, ge=0, le=10)
    #: Child scans each scan of a tree makes when ``submit --max-children`` is not given.
    child_scans_default: int = Field(default=10, ge=0)
    #: The most ``submit --max-children`` may ask for.
    child_scans_max: int = Field(default=50, ge=0, le=200)
    #: Most jobs that may wait in QUEUED: a submission (CLI, ``submit_urls``, the HTTP API) whose
    #: new jobs would pass it is refused whole, and nothing of it stored. 0: no limit.
    max_queued_jobs: int = Field(default=0, ge=0)

    @field_validator("host_rate_overrides")
    @classmethod
    def _check_rate_overrides(cls, value: str) -> str:
        parse_overrides(value, burst=1)
        return value

    @model_validator(mode="after")
    def _check_child_scans(self) -> ScanningSettings:
        if self.child_scans_default > self.child_scans_max:
            raise ValueError("CHILD_SCANS_DEFAULT must not be above CHILD_SCANS_MAX")
        return self
