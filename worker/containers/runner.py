"""Running one fetcher container for one attempt, through the Docker SDK.

Each attempt gets its own container: created with every limit, started, waited on under the
worker's own deadline, its stdout read (capped) apart from stderr, and removed on every path.
Failures come out as ``ScanError`` subclasses (``worker.containers.docker_errors`` translates
the engine's); nothing here decides retry or fail.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from worker.containers import docker_errors
from worker.containers.docker_errors import best_effort, translated
from worker.containers.spec import (
    ContainerSpec,
    attempt_labels,
    container_name,
    fetcher_container_options,
)
from worker.errors import (
    ContainerCrashed,
    ContainerKilled,
    ContainerStartFailed,
    ContainerTimedOut,
    DockerUnavailable,
    OutputTooLarge,
    ScanError,
)

#: How often a wait for a container looks up from the engine to check for an interruption.
WAIT_SLICE_S = 0.5
#: Lines of stderr kept to explain a crash.
STDERR_TAIL_LINES = 20
#: Exit statuses of a process killed by SIGKILL or SIGTERM (128 + signal number).
KILLED_BY_SIGNAL = frozenset({137, 143})
#: Separates the fetcher's options from the URL in its command line.
END_OF_OPTIONS = "--"
#: Asked while a container runs: an error to stop the scan with (its container is killed), or
#: ``None`` to let it go on.
Interruption = Callable[[], ScanError | None]


def _never() -> ScanError | None:
    return None


def fetcher_command(options: Sequence[str], url: str) -> list[str]:
    """A fetcher container's command: options first, then ``--`` and the URL (never a shell)."""
    return [*options, END_OF_OPTIONS, url]


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """One attempt to run: which job and attempt, the fetcher's options, and the URL."""

    job_id: str
    attempt: int
    worker_id: str
    url: str
    #: The fetcher's options (the URL is never one of them).
    options: Sequence[str] = field(default_factory=tuple)
    interruption: Interruption = _never

    @property
    def command(self) -> list[str]:
        """The container command (``fetcher_command``)."""
        return fetcher_command(self.options, self.url)


@dataclass(frozen=True, kw_only=True)
class ContainerRun:
    """A container that exited 0: its id, its stdout, and how long it took."""

    container_id: str
    stdout: bytes
    duration_ms: float


class Runner(Protocol):
    """Runs the fetcher for one attempt; raises ``ScanError`` subclasses when it can't."""

    def run(self, request: RunRequest) -> ContainerRun:
        """Run one fetcher container to completion and return its output."""

    def close(self) -> None:
        """Let go of what the runner keeps between attempts (containers made ahead)."""


def crash_error(
    *, exit_code: int, oom_killed: bool, stderr_tail: str
) -> ContainerCrashed | ContainerKilled:
    """What a fetcher that exited with ``exit_code`` means: killed from outside, or crashed.

    A SIGKILL or SIGTERM that was not the memory limit came from outside the fetcher (the
    engine stopping kills its containers): worth another attempt. Anything else is a crash.
    """
    if exit_code in KILLED_BY_SIGNAL and not oom_killed:
        return ContainerKilled(exit_code=exit_code)
    return ContainerCrashed(exit_code=exit_code, oom_killed=oom_killed, stderr_tail=stderr_tail)


class DockerRunner:
    """``Runner`` on a real Docker engine: a new container for every attempt."""

    def __init__(self, *, client: docker.DockerClient, spec: ContainerSpec) -> None:
        self.client = client
        self.spec = spec
        self.hostname = socket.gethostname()

    def run(self, request: RunRequest) -> ContainerRun:
        started = time.monotonic()
        container = self._create(request)
        container_id = str(container.id)
        try:
            with translated("start the fetcher container", refused=ContainerStartFailed):
                container.start()
            exit_code = self._wait(container, started=started, interruption=request.interruption)
            if exit_code != 0:
                raise self._crash(container_id, exit_code)
            stdout = self._read_stdout(container_id)
            return ContainerRun(
                container_id=container_id,
                stdout=stdout,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        finally:
            docker_errors.remove(self.client.api, container_id)

    def close(self) -> None:
        """Nothing is kept between attempts."""

    def _create(self, request: RunRequest) -> Container:
        spec = self.spec
        options = fetcher_container_options(
            spec,
            command=request.command,
            name=container_name(request.job_id, request.attempt),
            labels=attempt_labels(
                job_id=request.job_id,
                attempt=request.attempt,
                worker_id=request.worker_id,
                host=self.hostname,
                deployment=spec.deployment,
            ),
        )
        with translated(
            "create the fetcher container", refused=ContainerStartFailed, image=spec.image
        ):
            return self.client.containers.create(spec.image, **options)
        raise AssertionError("unreachable: translated() re-raises")

    def _wait(self, container: Container, *, started: float, interruption: Interruption) -> int:
        """Wait for the exit status, in slices, killing the container past the deadline."""
        deadline = started + self.spec.timeout_ms / 1000
        container_id = str(container.id)
        while True:
            stop = interruption()
            if stop is not None:
                docker_errors.kill(self.client.api, container_id)
                raise stop
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                docker_errors.kill(self.client.api, container_id)
                raise ContainerTimedOut(timeout_ms=self.spec.timeout_ms)
            slice_start = time.monotonic()
            try:
                status = container.wait(timeout=min(remaining, WAIT_SLICE_S))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as error:
                # A slice that ran its length is a timeout; one that broke early is the engine.
                if time.monotonic() - slice_start < min(remaining, WAIT_SLICE_S) * 0.9:
                    raise DockerUnavailable(
                        f"lost the Docker engine while waiting: {error}"
                    ) from error
                continue
            except docker.errors.APIError as error:
                raise DockerUnavailable(
                    f"waiting for the fetcher container failed: {error}"
                ) from error
            return int(status.get("StatusCode", -1))

    def _crash(self, container_id: str, exit_code: int) -> ContainerCrashed | ContainerKilled:
        stderr_tail = ""
        with best_effort():  # the crash is what matters; its details are best effort
            raw = self.client.api.logs(
                container_id, stdout=False, stderr=True, tail=STDERR_TAIL_LINES
            )
            stderr_tail = raw.decode("utf-8", "replace")[-4000:]
        return crash_error(
            exit_code=exit_code,
            oom_killed=docker_errors.was_oom_killed(self.client.api, container_id),
            stderr_tail=stderr_tail,
        )

    def _read_stdout(self, container_id: str) -> bytes:
        limit = self.spec.output_limit_bytes
        chunks: list[bytes] = []
        size = 0
        with translated("read the fetcher's output"):
            stream = self.client.api.logs(
                container_id, stdout=True, stderr=False, stream=True, follow=False
            )
            try:
                for chunk in stream:
                    size += len(chunk)
                    if size > limit:
                        raise OutputTooLarge(limit_bytes=limit)
                    chunks.append(chunk)
            finally:
                stream.close()
        return b"".join(chunks)
