"""What can go wrong in one attempt at a scan; each error names what it does to the job."""

from __future__ import annotations

from typing import Any, ClassVar

from worker.errors.base import ScanboxError


class ScanError(ScanboxError):
    """One attempt at a scan went wrong; ``code`` is the stable name stored on the job."""

    code: ClassVar[str] = "scan_error"
    #: Whether this error means the Docker engine went away: the worker then claims nothing
    #: until the engine answers again (``worker.containers.engine``).
    engine_fault: ClassVar[bool] = False
    #: Whether the job goes back to QUEUED at once, whatever its attempt (a worker stopping
    #: must not discard jobs).
    requeue_at_once: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def stored_code(self) -> str:
        """The error code written on the job (``error_code``)."""
        return self.code

    def job_columns(self) -> dict[str, Any]:
        """Columns of the job row this error sets besides its code and message."""
        return {}


class TransientScanError(ScanError):
    """An error another attempt may not meet."""

    code = "transient"


class DockerUnavailable(TransientScanError):
    """The Docker engine did not answer, or refused the request."""

    code = "docker_unavailable"
    engine_fault = True


class ContainerStartFailed(TransientScanError):
    """The fetcher container could not be created or started."""

    code = "container_start_failed"


class ContainerKilled(TransientScanError):
    """The fetcher was killed by a signal it did not cause (not out of memory, not our deadline).

    The engine stopping or restarting kills its containers; another attempt is worth it.
    """

    code = "container_killed"
    engine_fault = True

    def __init__(self, *, exit_code: int) -> None:
        super().__init__(f"fetcher container was killed from outside (exit status {exit_code})")
        self.exit_code = exit_code


class EgressUnreachable(TransientScanError):
    """The egress proxy could not open or close the container's session (it is down, full or
    restarting); the container never ran, or its connections are not known."""

    code = "egress_unavailable"


class DatabaseBusy(TransientScanError):
    """The database stayed locked through every retry."""

    code = "database_busy"


class DatabaseUnavailable(TransientScanError):
    """The database could not be reached (or dropped the connection) while recording."""

    code = "database_unavailable"


class WorkerLost(TransientScanError):
    """The worker that claimed the job stopped renewing its lease (it died or hung)."""

    code = "worker_lost"


class LeaseLost(TransientScanError):
    """This worker's claim was taken back (its lease expired) while the scan ran."""

    code = "lease_lost"


class WorkerShuttingDown(TransientScanError):
    """The worker was told to stop, and the scan did not finish within the grace period."""

    code = "worker_shutdown"
    requeue_at_once = True


class PermanentScanError(ScanError):
    """An error that another attempt would meet again."""

    code = "permanent"


class ContainerCrashed(PermanentScanError):
    """The fetcher exited non-zero, crashed, or was killed for using too much memory."""

    code = "container_crashed"

    def __init__(self, *, exit_code: int, oom_killed: bool, stderr_tail: str) -> None:
        what = "killed: out of memory" if oom_killed else f"exited with status {exit_code}"
        detail = f": {stderr_tail.strip().splitlines()[-1][:300]}" if stderr_tail.strip() else ""
        super().__init__(f"fetcher container {what}{detail}")
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.stderr_tail = stderr_tail

    @property
    def stored_code(self) -> str:
        """``oom_killed`` or ``container_crashed``."""
        return "oom_killed" if self.oom_killed else self.code

    def job_columns(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "oom_killed": self.oom_killed}


class ModeUnavailable(PermanentScanError):
    """The job asks for a scan mode this worker does not run (a browser scan without a
    browser image configured)."""

    code = "mode_unavailable"


class OutputTooLarge(PermanentScanError):
    """The fetcher printed more than the output cap."""

    code = "output_too_large"

    def __init__(self, *, limit_bytes: int) -> None:
        super().__init__(f"fetcher output exceeded {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class InvalidOutput(PermanentScanError):
    """The fetcher's stdout was not exactly one valid report."""

    code = "invalid_output"


class ResultRejected(PermanentScanError):
    """The database refused to store the attempt's result: a constraint or a value it can't
    hold. Another attempt would be refused the same way."""

    code = "result_rejected"


class ScanTimedOut(ScanError):
    """The scan ran out of time."""

    code = "timed_out"


class ContainerTimedOut(ScanTimedOut):
    """The container outlived the worker's deadline and was killed."""

    code = "container_timeout"

    def __init__(self, *, timeout_ms: int) -> None:
        super().__init__(f"fetcher container still running after {timeout_ms} ms: killed")
        self.timeout_ms = timeout_ms


class FetchTimedOut(ScanTimedOut):
    """The target did not answer within the fetcher's own deadline."""

    code = "fetch_timeout"
