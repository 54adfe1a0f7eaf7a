"""How fetcher and browser containers are made and run, from the settings: their specs, the
runner ``CONTAINER_RUNNER`` names, the browser mode."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import docker

from worker.app.clients import open_docker
from worker.app.egress import proxy_sessions
from worker.containers.egress import NO_NETWORK, EgressSessions
from worker.containers.pooled import URL_STDIN, PooledRunner
from worker.containers.runner import DockerRunner, Runner
from worker.containers.spec import ContainerSpec
from worker.containers.standby import StandbyPool
from worker.scan.browser import BrowserMode
from worker.scan.scanner import FetcherArgs
from worker.settings import EGRESS_NETWORK, Settings
from worker.store.artifacts import ArtifactStore


def container_spec(settings: Settings) -> ContainerSpec:
    """How fetcher containers are made, from the settings."""
    return ContainerSpec(
        image=settings.fetcher_image,
        timeout_ms=settings.container_timeout_ms,
        memory_limit_mb=settings.container_memory_limit_mb,
        cpu_limit=settings.container_cpu_limit,
        cpu_period_ms=settings.container_cpu_period_ms,
        pids_limit=settings.container_pids_limit,
        tmpfs_mb=settings.container_tmpfs_mb,
        user=settings.container_user,
        network=NO_NETWORK
        if settings.fetcher_network == EGRESS_NETWORK
        else settings.fetcher_network,
        runtime=settings.container_runtime,
        init=settings.container_init,
        output_limit_bytes=settings.output_limit_bytes,
        deployment=settings.deployment,
    )


#: The browser's ``HOME`` in the browser image (``Dockerfile.browser``).
BROWSER_HOME = "/home/browser"


def browser_spec(settings: Settings) -> ContainerSpec:
    """How browser containers are made: the fetcher's sandbox with the browser's limits."""
    return replace(
        container_spec(settings),
        image=settings.browser_image,
        timeout_ms=settings.browser_timeout_ms,
        memory_limit_mb=settings.browser_memory_limit_mb,
        cpu_limit=settings.browser_cpu_limit,
        pids_limit=settings.browser_pids_limit,
        tmpfs_mb=settings.browser_tmpfs_mb,
        output_limit_bytes=settings.browser_output_limit_bytes,
        home=BROWSER_HOME,
        oom_fails=True,
    )


def browser_mode(
    settings: Settings, *, worker_id: str, docker_client: docker.DockerClient
) -> BrowserMode | None:
    """How this worker runs browser scans; ``None`` without the egress proxy (Chromium's only
    way out is its egress session: ``FETCHER_NETWORK=egress``). With
    ``BROWSER_STANDBY_CONTAINERS`` a pool keeps that many warm."""
    sessions = proxy_sessions(settings)
    if sessions is None:
        return None
    spec = browser_spec(settings)
    cold = DockerRunner(client=docker_client, spec=spec, egress=sessions)
    mode = BrowserMode(
        runner=cold,
        limits=spec.limits,
        artifacts=ArtifactStore(Path(settings.artifact_dir)),
        max_artifact_bytes=settings.browser_output_limit_bytes,
    )
    if not settings.browser_standby_containers:
        return mode
    warm = _pooled(
        spec,
        mode.options(),
        worker_id=worker_id,
        size=settings.browser_standby_containers,
        warm=True,
        sessions=sessions,
        docker_client=docker_client,
        fallback=cold,
        until_end=True,
    )
    return replace(mode, runner=warm)


def fetcher_args(settings: Settings) -> FetcherArgs:
    """The fetcher's command-line options that come from the settings."""
    return FetcherArgs(
        timeout_ms=settings.fetch_timeout_ms,
        max_body_bytes=settings.fetcher_max_body_bytes,
        allowed_ports=settings.fetcher_allowed_ports,
        allow_networks=settings.fetcher_allow_networks,
    )


def build_runner(
    settings: Settings, *, worker_id: str, docker_client: docker.DockerClient
) -> Runner:
    """The runner ``CONTAINER_RUNNER`` names; a standby pool starts filling at once."""
    spec = container_spec(settings)
    sessions = proxy_sessions(settings)
    plain = DockerRunner(client=docker_client, spec=spec, egress=sessions)
    if settings.container_runner == "docker":
        return plain
    return _pooled(
        spec,
        fetcher_args(settings).options(),
        worker_id=worker_id,
        size=settings.standby_containers,
        warm=settings.standby_warm,
        sessions=sessions,
        docker_client=docker_client,
        fallback=plain,
    )


def _pooled(
    spec: ContainerSpec,
    options: list[str],
    *,
    worker_id: str,
    size: int,
    warm: bool,
    sessions: EgressSessions | None,
    docker_client: docker.DockerClient,
    fallback: Runner,
    until_end: bool = False,
) -> PooledRunner:
    """A runner on a standby pool of ``size`` containers made with ``options``, filling at
    once on a Docker client of its own; ``fallback`` runs what the pool can't."""
    pool = StandbyPool(
        client=open_docker(),
        spec=spec,
        command=[*options, URL_STDIN],
        worker_id=worker_id,
        host=socket.gethostname(),
        size=size,
        warm=warm,
        egress=sessions,
    )
    pool.open()
    return PooledRunner(
        client=docker_client,
        spec=spec,
        pool=pool,
        options=options,
        fallback=fallback,
        until_end=until_end,
    )
