"""scanbox's one settings object, read from the environment (and ``.env``) in one place."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fetcher.addresses import parse_network
from fetcher.ports import parse_port_policy
from worker.errors import ConfigurationError
from worker.queue.ratelimit import parse_overrides
from worker.queue.redis_url import check_redis_url
from worker.urls import validate_url
from worker.webhooks.signing import parse_secret

#: The fewest pids a container may have under gVisor: its sandbox's own host threads count
#: against the limit (below about 40 it can't even start).
RUNSC_MIN_PIDS = 64

#: ``FETCHER_NETWORK`` value for containers whose only way out is the egress proxy.
EGRESS_NETWORK = "egress"
#: Longest ``EGRESS_DIR``: a session's socket (``DIR/s/ID/egress.sock``) must fit in a Unix
#: socket address (107 bytes on Linux).
MAX_EGRESS_DIR = 76

#: Embedded SQLite file in the working directory.
DEFAULT_DATABASE_URL = "file:./scanbox.db"
#: Tag of the fetcher image that workers run.
DEFAULT_FETCHER_IMAGE = "scanbox-fetcher:latest"
#: Base image of the fetcher image, for machines that reach a registry.
DEFAULT_FETCHER_BASE_IMAGE = "python:3.12-slim"
#: Name of the normal-priority RQ queue; the others add ``:high`` / ``:low``.
DEFAULT_QUEUE_NAME = "scan-jobs"


class Settings(BaseSettings):
    """Every knob scanbox has. Construct once at the edge (CLI), then pass it in."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    #: Where jobs, results and audit rows live: ``file:PATH`` (embedded SQLite), a libSQL server
    #: or Turso (``libsql://``, ``https://``, ``wss://``) or PostgreSQL (``postgresql://``).
    turso_connection_url: str = DEFAULT_DATABASE_URL
    #: Token for a remote libSQL/Turso database (sent in Hrana's hello).
    turso_auth_token: SecretStr | None = None
    #: Full Redis URL; when unset it is built from the three settings after it.
    redis_url: str | None = None
    #: Redis host, used when ``REDIS_URL`` is unset.
    redis_host: str = "127.0.0.1"
    #: Redis port, used when ``REDIS_URL`` is unset.
    redis_port: int = Field(default=6379, ge=1, le=65535)
    #: Redis password, used when ``REDIS_URL`` is unset.
    redis_password: SecretStr | None = None
    #: Base name of the RQ queues.
    queue_name: str = DEFAULT_QUEUE_NAME

    #: Image the fetcher containers run.
    fetcher_image: str = DEFAULT_FETCHER_IMAGE
    #: Base image ``scanbox image build`` builds the fetcher image on.
    fetcher_base_image: str = DEFAULT_FETCHER_BASE_IMAGE
    #: How fetcher containers reach the network: ``egress`` (no network of their own; out
    #: only through a session of the egress proxy, which checks and records every connection),
    #: or a Docker network mode (``bridge``, ``none``, ``host``, a network name) with only the
    #: fetcher's own checks.
    fetcher_network: str = EGRESS_NETWORK
    #: Directory of the egress proxy's control socket and session sockets on this host (made
    #: mode 0700). With containerised workers it must be the same path on the host and in
    #: the worker, since the engine mounts sessions from it.
    egress_dir: str = "/tmp/scanbox-egress"  # noqa: S108 (made 0700; a symlink is refused)
    #: Connections one scan's egress session may make (each redirect hop is one).
    egress_session_connections: int = Field(default=64, ge=1, le=10_000)
    #: Bytes one scan's egress session may move, both ways together.
    egress_session_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: Networks (CIDR, comma-separated) the fetcher may reach despite its private-address block.
    fetcher_allow_networks: Annotated[tuple[str, ...], NoDecode] = ()
    #: Ports the fetcher may connect to: ``any`` or a list such as ``80,443,8000-8999``.
    fetcher_allowed_ports: str = "80,443,8080,8443"
    #: The fetch's own total deadline (redirects and retries included), inside the container's.
    fetch_timeout_ms: int = Field(default=20_000, ge=100)
    #: Largest response body the fetcher keeps; the rest is cut and marked truncated.
    fetcher_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    #: Worker processes ``scanbox worker`` starts.
    worker_concurrency: int = Field(default=5, ge=1, le=256)
    #: Deadline of one fetcher container; past it the container is killed and the job TIMED_OUT.
    container_timeout_ms: int = Field(default=30_000, ge=100)
    #: Memory limit of one fetcher container (swap is limited to the same, so: no swap).
    container_memory_limit_mb: int = Field(default=512, ge=16)
    #: CPUs one fetcher container may use.
    container_cpu_limit: float = Field(default=0.5, ge=0.01, le=64, allow_inf_nan=False)
    #: Window over which the kernel holds a fetcher container to its CPUs. Docker's ``--cpus``
    #: uses 100 ms, which throttles most scans' start-up burst; the same share over a longer
    #: window lets a scan run at full speed while a busy one is still held to it.
    container_cpu_period_ms: int = Field(default=500, ge=100, le=1000)
    #: Processes and threads one fetcher container may have.
    container_pids_limit: int = Field(default=64, ge=8)
    #: Size of the writable /tmp of a fetcher container.
    container_tmpfs_mb: int = Field(default=16, ge=1)
    #: User the fetcher runs as inside its container.
    container_user: str = "65534:65534"
    #: OCI runtime for fetcher containers (e.g. ``runsc`` for gVisor); empty: the engine's default.
    container_runtime: str = ""
    #: Run the engine's init (``docker-init``) as PID 1 of each fetcher container; turn off
    #: only for an engine that has none.
    container_init: bool = True
    #: Largest stdout the worker reads from a fetcher; more is ``output_too_large``.
    output_limit_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: How scans run their container: ``docker`` creates each one when its scan starts;
    #: ``standby`` takes one made ahead by the worker (each still runs one scan, then goes).
    container_runner: Literal["docker", "standby"] = "docker"
    #: With ``standby``: containers each worker process keeps ready.
    standby_containers: int = Field(default=1, ge=1, le=16)
    #: With ``standby``: start them ahead too, so the fetcher already waits for its URL.
    standby_warm: bool = True

    #: Image browser scans (``--mode browser``) run: Chromium driven by Playwright.
    browser_image: str = "scanbox-browser:latest"
    #: Deadline (ms) of a browser container, start to exit; the capture gets this less 5 s.
    browser_timeout_ms: int = Field(default=60_000, ge=10_000)
    #: Memory limit (MiB, swap included) of a browser container.
    browser_memory_limit_mb: int = Field(default=1536, ge=256)
    #: CPUs a browser container may use, on average.
    browser_cpu_limit: float = Field(default=1.0, gt=0)
    #: Processes and threads a browser container may have (Chromium makes many).
    browser_pids_limit: int = Field(default=256, ge=64)
    #: Size (MiB) of a browser container's ``/tmp``; its ``HOME`` gets a quarter of it.
    browser_tmpfs_mb: int = Field(default=256, ge=16)
    #: Largest output (report and artifacts, bytes) the worker reads from a browser container.
    browser_output_limit_bytes: int = Field(default=80 * 1024 * 1024, ge=1024 * 1024)
    #: Browser containers each worker process keeps started, Chromium launched and waiting
    #: for its URL (each still runs one capture, then goes); 0: each capture starts cold.
    browser_standby_containers: int = Field(default=0, ge=0, le=8)
    #: Directory of the artifact store (screenshots, DOMs, HARs, favicons by sha256), shared
    #: by every replica that scans in browser mode and every process that serves artifacts.
    artifact_dir: str = "./artifacts"

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
    #: How long a database write keeps retrying while the database is locked.
    database_busy_timeout_ms: int = Field(default=30_000, ge=0)

    #: How long a claim stays valid without renewal; the running worker renews it every third.
    lease_ttl_ms: int = Field(default=30_000, ge=300)
    #: How often workers reap expired leases and orphan containers and reconcile with Redis.
    housekeeping_interval_ms: int = Field(default=15_000, ge=100)
    #: How long a QUEUED job may go without an RQ job before the reconciler re-dispatches it.
    reconcile_after_ms: int = Field(default=10_000, ge=0)
    #: On SIGTERM, how long a running scan may go on before its container is killed.
    shutdown_grace_ms: int = Field(default=20_000, ge=0)
    #: Name of this deployment on its Docker hosts; reapers touch only their deployment's
    #: containers. Empty: derived from the database URL and the queue name.
    scanbox_deployment: str = ""

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

    #: Address ``scanbox api`` listens on.
    api_host: str = "127.0.0.1"
    #: Port ``scanbox api`` listens on.
    api_port: int = Field(default=8080, ge=1, le=65535)
    #: Requests one API key may make per ``API_RATE_WINDOW_MS`` (counted in Redis across every
    #: API process); past it the API answers 429. 0: no limit.
    api_rate_limit: int = Field(default=600, ge=0)
    #: The window the API's per-key request limit counts over.
    api_rate_window_ms: int = Field(default=60_000, ge=1_000)
    #: Signs the API's page cursors and its forms' CSRF tokens; every API process of one
    #: deployment needs the same one. Empty: a random secret per process (cursors and forms
    #: then last as long as the process).
    api_secret: SecretStr | None = None

    #: Redis stream producers in any language add submissions to (``XADD``); workers read it
    #: as one consumer group. Empty: workers read no stream.
    submit_stream: str = "scanbox:submit"
    #: Entries a worker reads from the submit stream at a time (one transaction).
    submit_stream_batch: int = Field(default=100, ge=1, le=10_000)
    #: How long an entry may stay unacknowledged with one worker before another claims it (the
    #: first died between reading and acknowledging it).
    submit_stream_claim_idle_ms: int = Field(default=60_000, ge=100)
    #: Refused entries kept in the rejected stream (``SUBMIT_STREAM`` + ``:rejected``).
    submit_rejected_max_length: int = Field(default=10_000, ge=1)

    #: Where completion webhooks go for submissions that name no callback URL; empty: none.
    webhook_url: str = ""
    #: Key that signs webhooks (Standard Webhooks): ``whsec_`` and the base64 of 24 to 64
    #: random bytes. Without it nothing is sent.
    webhook_secret: SecretStr | None = None
    #: Deadline of one delivery attempt, from connecting to the end of the answer.
    webhook_timeout_ms: int = Field(default=10_000, ge=100)
    #: Attempts a delivery gets (timeouts, 429 and 5xx are tried again) before it is failed.
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    #: Delay after the first failed attempt; doubles each attempt, with jitter.
    webhook_retry_backoff_ms: int = Field(default=5_000, ge=0)
    #: Longest delay between two attempts, a receiver's ``Retry-After`` included.
    webhook_retry_backoff_max_ms: int = Field(default=3_600_000, ge=0)
    #: Deliveries each worker process sends at once.
    webhook_concurrency: int = Field(default=4, ge=1, le=64)
    #: How often each worker process looks for deliveries that are due.
    webhook_poll_ms: int = Field(default=1_000, ge=10)

    #: How often ``scanbox scheduler`` re-reads the schedules table (edits take effect then).
    scheduler_refresh_ms: int = Field(default=300_000, ge=50)
    #: Scans in a row ending FAILED, TIMED_OUT or DISCARDED that pause a schedule; 0: never.
    schedule_max_failures: int = Field(default=5, ge=0)
    #: How often a scheduler runs ``scanbox maintenance`` (one replica at a time); 0: never.
    maintenance_interval_ms: int = Field(default=86_400_000, ge=0)
    #: Days terminal jobs (with their results and audit rows) are kept; 0: forever.
    retention_days: int = Field(default=30, ge=0)
    #: How often a running worker or scheduler writes its run statistics.
    run_stats_flush_ms: int = Field(default=2_000, ge=0)
    #: Port of the Prometheus metrics endpoint; worker process N serves on port + N. 0: off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Address the metrics endpoint listens on.
    metrics_host: str = "127.0.0.1"

    #: Log format: ``json`` (one object a line) or ``console``.
    log_format: Literal["json", "console"] = "json"
    #: Lowest level of log lines written.
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("fetcher_allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("fetcher_allow_networks")
    @classmethod
    def _check_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            parse_network(network)
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_redis_url(value)
        return value

    @field_validator("host_rate_overrides")
    @classmethod
    def _check_rate_overrides(cls, value: str) -> str:
        parse_overrides(value, burst=1)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_secret(value.get_secret_value())
            except ConfigurationError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str) -> str:
        return validate_url(value) if value.strip() else ""

    @field_validator("fetcher_allowed_ports")
    @classmethod
    def _check_ports(cls, value: str) -> str:
        parse_port_policy(value)
        return value.strip()

    @model_validator(mode="after")
    def _check_child_scans(self) -> Settings:
        if self.child_scans_default > self.child_scans_max:
            raise ValueError("CHILD_SCANS_DEFAULT must not be above CHILD_SCANS_MAX")
        return self

    @model_validator(mode="after")
    def _check_runtime_limits(self) -> Settings:
        if len(os.fsencode(self.egress_dir)) > MAX_EGRESS_DIR or not self.egress_dir.startswith(
            "/"
        ):
            raise ValueError(
                f"EGRESS_DIR must be an absolute path of at most {MAX_EGRESS_DIR} bytes, so "
                "that its session sockets fit in a Unix socket address"
            )
        if self.container_runtime == "runsc" and self.container_pids_limit < RUNSC_MIN_PIDS:
            raise ValueError(
                f"CONTAINER_PIDS_LIMIT must be at least {RUNSC_MIN_PIDS} with "
                "CONTAINER_RUNTIME=runsc: gVisor's own threads count against it"
            )
        return self

    @property
    def deployment(self) -> str:
        """This deployment's name: ``SCANBOX_DEPLOYMENT``, or one derived from DB and queue."""
        if self.scanbox_deployment:
            return self.scanbox_deployment
        database = self.turso_connection_url
        if database.startswith("file:"):
            database = "file:" + str(Path(database.removeprefix("file:")).resolve())
        digest = hashlib.sha256(f"{database}|{self.queue_name}".encode()).hexdigest()
        return f"auto-{digest[:12]}"

    @property
    def effective_redis_url(self) -> str:
        """The Redis URL to connect to, from ``REDIS_URL`` or host, port and password."""
        if self.redis_url:
            return self.redis_url
        auth = ""
        if self.redis_password is not None:
            auth = f":{quote(self.redis_password.get_secret_value(), safe='')}@"
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"
