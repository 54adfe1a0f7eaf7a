"""How fetcher containers are made: the spec, its limits, scanbox's labels and names.

One place for them, so that every way of running the fetcher makes the same locked-down
container: memory with no swap, CPUs, pids, a read-only root with a small ``noexec`` /tmp,
no capabilities, no new privileges, a non-root user, a small init as PID 1, the configured
network and runtime, a bounded log, and scanbox's labels. The limits recorded on a job
(``Limits``) are derived from the same spec, so they are the ones applied.

Labels say whose a container is: every scanbox container carries ``LABEL_MANAGED`` and its
deployment; the reaper touches nothing without them. A container made for an attempt is named
``scanbox-<job>-<attempt>``; a standby container (``LABEL_STANDBY``) is named
``scanbox-standby-…`` until it is given a job, then renamed after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docker.types import LogConfig

#: Label every scanbox container carries; the reaper touches nothing without it.
LABEL_MANAGED = "org.scanbox.managed"
LABEL_JOB = "org.scanbox.job-id"
LABEL_ATTEMPT = "org.scanbox.attempt"
LABEL_WORKER = "org.scanbox.worker"
LABEL_HOST = "org.scanbox.host"
LABEL_DEPLOYMENT = "org.scanbox.deployment"
#: Label of standby containers (the value is always ``true``).
LABEL_STANDBY = "org.scanbox.standby"
#: Name prefix of a standby container that has no job yet.
STANDBY_PREFIX = "scanbox-standby-"
#: Microseconds in a millisecond: the unit of the CFS period and quota.
US_PER_MS = 1000
#: Docker keeps at most this many times the output cap of a container's log on disk. Scans
#: read their output from the attach socket, never from this log; it only bounds the disk a
#: container that floods its output can fill (and serves ``docker logs`` and the bench's bare
#: baseline).
LOG_SIZE_FACTOR = 8


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """How fetcher containers are made: image, limits and isolation."""

    image: str
    timeout_ms: int
    memory_limit_mb: int
    cpu_limit: float
    #: The window (ms) ``cpu_limit`` is enforced over; Docker allows up to one second.
    cpu_period_ms: int = 500
    pids_limit: int
    tmpfs_mb: int
    user: str
    network: str
    runtime: str = ""
    #: Run the engine's init (``docker-init``, tini) as PID 1 and the fetcher under it.
    init: bool = True
    output_limit_bytes: int = 1024 * 1024
    deployment: str = "scanbox"
    #: Fail the run when the memory limit killed any process of the container, even if the
    #: main one exited 0 (a browser survives the loss of a renderer and reports a timeout).
    oom_fails: bool = False
    #: A writable ``HOME`` of its own (a tmpfs owned by ``user``, a quarter of ``tmpfs_mb``),
    #: for a program that needs one (Chromium); empty: none.
    home: str = ""

    @property
    def limits(self) -> Limits:
        """The limits a container of this spec runs under, as recorded on its job."""
        return Limits(
            timeout_ms=self.timeout_ms,
            memory_limit_mb=self.memory_limit_mb,
            cpu_limit=self.cpu_limit,
            pids_limit=self.pids_limit,
        )


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The container limits an attempt runs under (recorded on the job)."""

    timeout_ms: int
    memory_limit_mb: int
    cpu_limit: float
    pids_limit: int


def container_name(job_id: str, attempt: int) -> str:
    """The deterministic name of the container of ``attempt`` of ``job_id``."""
    return f"scanbox-{job_id}-{attempt}"


def attempt_labels(
    *, job_id: str, attempt: int, worker_id: str, host: str, deployment: str
) -> dict[str, str]:
    """The labels of a container made for one attempt of one job."""
    return {
        LABEL_MANAGED: "true",
        LABEL_JOB: job_id,
        LABEL_ATTEMPT: str(attempt),
        LABEL_WORKER: worker_id,
        LABEL_HOST: host,
        LABEL_DEPLOYMENT: deployment,
    }


def standby_labels(*, worker_id: str, host: str, deployment: str) -> dict[str, str]:
    """The labels of a standby container, made before it has a job."""
    return {
        LABEL_MANAGED: "true",
        LABEL_STANDBY: "true",
        LABEL_WORKER: worker_id,
        LABEL_HOST: host,
        LABEL_DEPLOYMENT: deployment,
    }


def fetcher_host_options(spec: ContainerSpec) -> dict[str, Any]:
    """The host-side options of a fetcher container: limits, isolation, network, logs.

    The names are the ones both ``client.containers.create`` and ``api.create_host_config``
    take.
    """
    options: dict[str, Any] = {
        "mem_limit": f"{spec.memory_limit_mb}m",
        "memswap_limit": f"{spec.memory_limit_mb}m",
        # cpu_limit CPUs on average over each cpu_period_ms (the kernel's CFS quota).
        "cpu_period": spec.cpu_period_ms * US_PER_MS,
        "cpu_quota": round(spec.cpu_limit * spec.cpu_period_ms * US_PER_MS),
        "pids_limit": spec.pids_limit,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={spec.tmpfs_mb}m"},  # noqa: S108
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "network_mode": spec.network,
        "log_config": LogConfig(
            type="json-file",
            config={
                "max-size": str(spec.output_limit_bytes * LOG_SIZE_FACTOR),
                "max-file": "2",
            },
        ),
    }
    if spec.home:
        uid, _, gid = spec.user.partition(":")
        options["tmpfs"][spec.home] = (
            f"rw,noexec,nosuid,nodev,size={max(spec.tmpfs_mb // 4, 1)}m,"
            f"uid={uid},gid={gid or uid},mode=0700"
        )
    if spec.init:
        # PID 1 gets no default signal actions and inherits orphans; a small init takes that
        # role, and the fetcher's process then starts when its interpreter does, so the
        # start-up it reports is its own, not the runtime's set-up.
        options["init"] = True
    if spec.runtime:
        options["runtime"] = spec.runtime
    return options


def fetcher_container_options(
    spec: ContainerSpec,
    *,
    command: Sequence[str],
    name: str,
    labels: Mapping[str, str],
    stdin_open: bool = False,
) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.create(spec.image, ...)`` for one fetcher."""
    return {
        "command": list(command),
        "name": name,
        "labels": dict(labels),
        "user": spec.user,
        "stdin_open": stdin_open,
        "tty": False,
        **fetcher_host_options(spec),
    }
