"""The sandbox a scan runs in: the fetcher's image, its network, its container's limits."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from fetcher.addresses import parse_network
from fetcher.ports import parse_port_policy

#: The fewest pids a container may have under gVisor: its sandbox's own host threads count
#: against the limit (below about 40 it can't even start).
RUNSC_MIN_PIDS = 64
#: ``FETCHER_NETWORK`` value for containers whose only way out is the egress proxy.
EGRESS_NETWORK = "egress"
#: Longest ``EGRESS_DIR``: a session's socket (``DIR/s/ID/egress.sock``) must fit in a Unix
#: socket address (107 bytes on Linux).
MAX_EGRESS_DIR = 76
#: Tag of the fetcher image that workers run.
DEFAULT_FETCHER_IMAGE = "scanbox-fetcher:latest"
#: Base image of the fetcher image, for machines that reach a registry.
DEFAULT_FETCHER_BASE_IMAGE = "python:3.12-slim"


class SandboxSettings(BaseSettings):
    """Fetcher, egress and containers."""

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

    @field_validator("fetcher_allowed_ports")
    @classmethod
    def _check_ports(cls, value: str) -> str:
        parse_port_policy(value)
        return value.strip()

    @model_validator(mode="after")
    def _check_runtime_limits(self) -> SandboxSettings:
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
