"""Running one fetcher container for one attempt, through the Docker SDK.

Each attempt gets its own container: created with every limit, started, waited on under the
worker's own deadline, its stdout read (capped) apart from stderr, and removed on every path.
Failures come out as ``ScanError`` subclasses; nothing here decides retry or fail.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from worker.containers.spec import ContainerSpec, fetcher_container_options
from worker.errors import (
    ContainerCrashed,
    ContainerKilled,
    ContainerStartFailed,
    ContainerTimedOut,
    DockerUnavailable,
    OutputTooLarge,
    ScanError,
)

#: Label every scanbox container carries; the reaper touches nothing without it.
LABEL_MANAGED = "org.scanbox.managed"
LABEL_JOB = "org.scanbox.job-id"
LABEL_ATTEMPT = "org.scanbox.attempt"
LABEL_WORKER = "org.scanbox.worker"
LABEL_HOST = "org.scanbox.host"
LABEL_DEPLOYMENT = "org.scanbox.deployment"
#: How often a wait for a container looks up from the engine to check for an interruption.
WAIT_SLICE_S = 0.5
#: Lines of stderr kept to explain a crash.
STDERR_TAIL_LINES = 20
#: Exit statuses of a process killed by SIGKILL or SIGTERM (128 + signal number).
KILLED_BY_SIGNAL = frozenset({137, 143})
#: Asked while a container runs: an error to stop the scan with (its container is killed), or
#: ``None`` to let it go on.
Interruption = Callable[[], ScanError | None]


def _never() -> ScanError | None:
    return None


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """One attempt to run: which job, which attempt, and the fetcher's arguments."""

    job_id: str
    attempt: int
    worker_id: str
    args: Sequence[str]
    interruption: Interruption = _never


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


def container_name(job_id: str, attempt: int) -> str:
    """The deterministic name of the container of ``attempt`` of ``job_id``."""
    return f"scanbox-{job_id}-{attempt}"


class DockerRunner:
    """``Runner`` on a real Docker engine."""

    def __init__(self, *, client: docker.DockerClient, spec: ContainerSpec) -> None:
        self.client = client
        self.spec = spec
        self.hostname = socket.gethostname()

    def run(self, request: RunRequest) -> ContainerRun:
        started = time.monotonic()
        container = self._create(request)
        try:
            self._start(container)
            exit_code = self._wait(container, started=started, interruption=request.interruption)
            if exit_code != 0:
                raise self._crash(container, exit_code)
            stdout = self._read_stdout(container)
            return ContainerRun(
                container_id=container.id or "",
                stdout=stdout,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        finally:
            self._remove(container)

    def _create(self, request: RunRequest) -> Container:
        spec = self.spec
        options = fetcher_container_options(
            spec,
            command=request.args,
            name=container_name(request.job_id, request.attempt),
            labels={
                LABEL_MANAGED: "true",
                LABEL_JOB: request.job_id,
                LABEL_ATTEMPT: str(request.attempt),
                LABEL_WORKER: request.worker_id,
                LABEL_HOST: self.hostname,
                LABEL_DEPLOYMENT: spec.deployment,
            },
        )
        try:
            return self.client.containers.create(spec.image, **options)
        except docker.errors.ImageNotFound as error:
            raise ContainerStartFailed(
                f"fetcher image {spec.image!r} not found (run `scanbox image build`)"
            ) from error
        except docker.errors.APIError as error:
            raise ContainerStartFailed(
                f"could not create the fetcher container: {error}"
            ) from error
        except requests.exceptions.RequestException as error:
            raise DockerUnavailable(f"Docker engine unreachable: {error}") from error

    def _start(self, container: Container) -> None:
        try:
            container.start()
        except docker.errors.APIError as error:
            raise ContainerStartFailed(f"could not start the fetcher container: {error}") from error
        except requests.exceptions.RequestException as error:
            raise DockerUnavailable(f"Docker engine unreachable: {error}") from error

    def _wait(self, container: Container, *, started: float, interruption: Interruption) -> int:
        """Wait for the exit status, in slices, killing the container past the deadline."""
        deadline = started + self.spec.timeout_ms / 1000
        while True:
            stop = interruption()
            if stop is not None:
                self._kill(container)
                raise stop
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill(container)
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

    def _kill(self, container: Container) -> None:
        try:
            container.kill()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            # Exited between the deadline and the kill: nothing left to stop.
            if error.status_code != 409:
                raise DockerUnavailable(f"could not kill the fetcher container: {error}") from error

    def _crash(self, container: Container, exit_code: int) -> ContainerCrashed | ContainerKilled:
        oom_killed = False
        stderr_tail = ""
        try:
            container.reload()
            oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled", False))
            raw = self.client.api.logs(
                container.id, stdout=False, stderr=True, tail=STDERR_TAIL_LINES
            )
            stderr_tail = raw.decode("utf-8", "replace")[-4000:]
        except (docker.errors.APIError, requests.exceptions.RequestException):
            pass  # The crash is what matters; its details are best effort.
        return crash_error(exit_code=exit_code, oom_killed=oom_killed, stderr_tail=stderr_tail)

    def _read_stdout(self, container: Container) -> bytes:
        limit = self.spec.output_limit_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            stream = self.client.api.logs(
                container.id, stdout=True, stderr=False, stream=True, follow=False
            )
            try:
                for chunk in stream:
                    size += len(chunk)
                    if size > limit:
                        raise OutputTooLarge(limit_bytes=limit)
                    chunks.append(chunk)
            finally:
                stream.close()
        except (docker.errors.APIError, requests.exceptions.RequestException) as error:
            raise DockerUnavailable(f"could not read the fetcher's output: {error}") from error
        return b"".join(chunks)

    def _remove(self, container: Container) -> None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.exceptions.RequestException):
            # Left for the reaper, which finds it by its labels.
            pass
