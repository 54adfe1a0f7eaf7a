"""``Runner`` on standby containers: a scan pays for at most ``start``, never for create.

The container was made ahead by a ``StandbyPool`` with the fetcher's options and told to
read its URL from stdin. The scan starts it unless it is warm, writes the URL and closes
stdin, and reads stdout (capped) and stderr from the attach socket until the report's one
line is complete: the fetcher prints it last and exits 0, so the scan does not wait for the
engine to tear the container down. Output that ends without a complete line is judged by the
exit status, as ``DockerRunner`` does. Renaming the container after its job and attempt, and
removing it, happen in the pool's thread, on every path. A request whose options differ from
the pool's (a conditional re-scan, say) runs on the fallback runner.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

import docker

from worker.containers import docker_errors
from worker.containers.attach import FrameReader, read_output
from worker.containers.docker_errors import best_effort, translated
from worker.containers.runner import (
    EXIT_STATUS_TIMEOUT_S,
    ContainerRun,
    Runner,
    RunRequest,
    crash_error,
    in_session,
)
from worker.containers.spec import ContainerSpec, container_name
from worker.containers.standby import Standby, StandbyPool
from worker.errors import (
    ContainerStartFailed,
    DockerUnavailable,
    ScanError,
)

#: The fetcher's option to read its URL from stdin (``fetcher.options.URL_STDIN``).
URL_STDIN = "--url-stdin"


class PooledRunner:
    """Runs each attempt on a fresh standby container from ``pool``."""

    def __init__(
        self,
        *,
        client: docker.DockerClient,
        spec: ContainerSpec,
        pool: StandbyPool,
        options: Sequence[str],
        fallback: Runner,
        until_end: bool = False,
    ) -> None:
        self.client = client
        self.spec = spec
        self.pool = pool
        self.options = list(options)
        self.fallback = fallback
        #: Read the output to its end (a browser's report line is followed by its
        #: artifacts), not only to the end of its first line.
        self.until_end = until_end

    def run(self, request: RunRequest) -> ContainerRun:
        if list(request.options) != self.options:
            return self.fallback.run(request)
        started = time.monotonic()
        standby = self.pool.take()
        session, standby.session = standby.session, None
        egress = self.pool.egress
        if session is None or egress is None:
            return self._run(request, standby, started=started)
        return in_session(
            egress,
            label=standby.container_id,
            ttl_ms=self.spec.timeout_ms,
            run=lambda _: self._run(request, standby, started=started),
            session=session,
        )

    def _run(self, request: RunRequest, standby: Standby, *, started: float) -> ContainerRun:
        url = request.url
        try:
            self._start(standby)
            reader = FrameReader(stdout_limit=self.spec.output_limit_bytes)
            try:
                self._send_url(standby.sock, url)
                self.pool.assign(standby, container_name(request.job_id, request.attempt))
                read_output(
                    standby.sock,
                    reader,
                    deadline=started + self.spec.timeout_ms / 1000,
                    timeout_ms=self.spec.timeout_ms,
                    interruption=request.interruption,
                    until_end=self.until_end,
                )
            except ScanError:
                self._kill(standby.container_id)
                raise
            except OSError as error:
                self._kill(standby.container_id)
                raise DockerUnavailable(f"lost the fetcher container's output: {error}") from error
            if self.until_end or not reader.has_line:
                exit_code = self._exit_code(standby.container_id)
                oom_killed = (
                    exit_code != 0 or self.spec.oom_fails
                ) and docker_errors.was_oom_killed(self.client.api, standby.container_id)
                if exit_code != 0 or oom_killed:
                    raise crash_error(
                        exit_code=exit_code, oom_killed=oom_killed, stderr_tail=reader.stderr_tail
                    )
            return ContainerRun(
                container_id=standby.container_id,
                stdout=reader.stdout,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        finally:
            self.pool.discard(standby)

    def close(self) -> None:
        """Remove the containers the pool keeps ready, and let go of its engine client."""
        self.pool.close()
        self.pool.client.close()

    def _start(self, standby: Standby) -> None:
        """Start a cold container (a warm one already waits for its URL)."""
        if standby.started:
            return
        with translated("start a standby container", refused=ContainerStartFailed):
            self.client.api.start(standby.container_id)
        standby.started = True

    @staticmethod
    def _send_url(sock: socket.socket, url: str) -> None:
        try:
            sock.sendall(url.encode("utf-8") + b"\n")
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            # The fetcher is gone before reading its URL (it crashed while waiting): what it
            # wrote and its exit status say why.
            return

    def _exit_code(self, container_id: str) -> int:
        with translated("get the fetcher's exit status"):
            status = self.client.api.wait(container_id, timeout=EXIT_STATUS_TIMEOUT_S)
        return int(status.get("StatusCode", -1))

    def _kill(self, container_id: str) -> None:
        # Exited already, or the engine is gone: the pool removes it either way.
        with best_effort():
            self.client.api.kill(container_id)
