"""Running one fetcher container for one attempt, through the Docker SDK.

Each attempt gets its own container: created with every limit, attached to before it starts,
its stdout read from the attach socket (every byte counted against the cap, and checked as
UTF-8 later, exactly as the container wrote it; never through the engine's log driver, which
rotates and re-encodes), stderr's tail kept apart, all under the worker's own deadline, and
the container removed on every path. Failures come out as ``ScanError`` subclasses
(``worker.containers.docker_errors`` translates the engine's); nothing here decides retry or
fail.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import docker

from worker.containers import docker_errors
from worker.containers.attach import FrameReader, Interruption, never, read_output
from worker.containers.docker_errors import best_effort, translated
from worker.containers.egress import (
    SESSION_MARGIN_MS,
    Connections,
    EgressSessions,
    OpenSession,
    with_proxy,
)
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
    DockerUnavailable,
    ScanError,
)

#: Exit statuses of a process killed by SIGKILL or SIGTERM (128 + signal number).
KILLED_BY_SIGNAL = frozenset({137, 143})
#: Separates the fetcher's options from the URL in its command line.
END_OF_OPTIONS = "--"
#: Seconds the engine gets to report the exit status of a container whose output ended.
EXIT_STATUS_TIMEOUT_S = 10.0


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
    interruption: Interruption = never

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
    #: What each connection of the container's egress session did (``None``: no session).
    egress: Connections | None = None


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


def in_session(
    egress: EgressSessions,
    *,
    label: str,
    ttl_ms: int,
    run: Callable[[OpenSession], ContainerRun],
    session: OpenSession | None = None,
) -> ContainerRun:
    """``run`` a container in an egress session (``session``, or one opened now), closing it
    on every path; the run that returns carries the session's connections."""
    session = session or egress.open(label=label, ttl_ms=ttl_ms)
    try:
        done = run(session)
    except BaseException:
        with suppress(ScanError):
            egress.close(session)
        raise
    return replace(done, egress=egress.close(session))


def _close_attach(handle: Any) -> None:
    """Close an attach socket: the SDK's wrapper and the socket under it are closed apart."""
    if handle is None:
        return
    for closable in (handle, getattr(handle, "_sock", None)):
        if closable is not None:
            with suppress(OSError):
                closable.close()


class DockerRunner:
    """``Runner`` on a real Docker engine: a new container for every attempt."""

    def __init__(
        self,
        *,
        client: docker.DockerClient,
        spec: ContainerSpec,
        egress: EgressSessions | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.egress = egress
        self.hostname = socket.gethostname()

    def run(self, request: RunRequest) -> ContainerRun:
        started = time.monotonic()
        if self.egress is None:
            return self._run(request, started=started, session=None)
        return in_session(
            self.egress,
            label=container_name(request.job_id, request.attempt),
            ttl_ms=self.spec.timeout_ms + SESSION_MARGIN_MS,
            run=lambda session: self._run(request, started=started, session=session),
        )

    def _run(
        self, request: RunRequest, *, started: float, session: OpenSession | None
    ) -> ContainerRun:
        container_id = self._create(request, session)
        handle: Any = None
        try:
            with translated("attach to the fetcher container"):
                handle = self.client.api.attach_socket(
                    container_id, params={"stdout": 1, "stderr": 1, "stream": 1}
                )
            with translated("start the fetcher container", refused=ContainerStartFailed):
                self.client.api.start(container_id)
            reader = FrameReader(stdout_limit=self.spec.output_limit_bytes)
            self._read(handle, reader, container_id, started, request)
            exit_code = self._exit_code(container_id)
            oom_killed = (exit_code != 0 or self.spec.oom_fails) and docker_errors.was_oom_killed(
                self.client.api, container_id
            )
            if exit_code != 0 or oom_killed:
                raise crash_error(
                    exit_code=exit_code, oom_killed=oom_killed, stderr_tail=reader.stderr_tail
                )
            return ContainerRun(
                container_id=container_id,
                stdout=reader.stdout,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        finally:
            _close_attach(handle)
            docker_errors.remove(self.client.api, container_id)

    def close(self) -> None:
        """Nothing is kept between attempts."""

    def _create(self, request: RunRequest, session: OpenSession | None) -> str:
        spec = self.spec
        command = request.command
        if session is not None:
            command = with_proxy(command, session)
        options = fetcher_container_options(
            spec,
            command=command,
            name=container_name(request.job_id, request.attempt),
            labels=attempt_labels(
                job_id=request.job_id,
                attempt=request.attempt,
                worker_id=request.worker_id,
                host=self.hostname,
                deployment=spec.deployment,
            ),
        )
        if session is not None:
            options["volumes"] = session.volumes
        with translated(
            "create the fetcher container", refused=ContainerStartFailed, image=spec.image
        ):
            return str(self.client.containers.create(spec.image, **options).id)
        raise AssertionError("unreachable: translated() re-raises")

    def _read(
        self,
        handle: Any,
        reader: FrameReader,
        container_id: str,
        started: float,
        request: RunRequest,
    ) -> None:
        """Read the container's output to its end, killing it on the deadline or a stop.

        The attach socket is closed before the kill: an engine whose copy of the output is
        blocked on a socket nobody reads any more would not finish the kill.
        """
        try:
            read_output(
                getattr(handle, "_sock", handle),
                reader,
                deadline=started + self.spec.timeout_ms / 1000,
                timeout_ms=self.spec.timeout_ms,
                interruption=request.interruption,
                until_end=True,
            )
        except ScanError:
            _close_attach(handle)
            docker_errors.kill(self.client.api, container_id)
            raise
        except OSError as error:
            _close_attach(handle)
            with best_effort():
                self.client.api.kill(container_id)
            raise DockerUnavailable(f"lost the fetcher container's output: {error}") from error

    def _exit_code(self, container_id: str) -> int:
        with translated("get the fetcher's exit status"):
            status = self.client.api.wait(container_id, timeout=EXIT_STATUS_TIMEOUT_S)
        return int(status.get("StatusCode", -1))
