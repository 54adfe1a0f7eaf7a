"""Every error scanbox raises, under one base.

The tree::

    ScanboxError                      catch this to catch everything scanbox raises
    ├── UsageError                    bad input from a person or program (CLI exit status 2)
    │   ├── InvalidURL                a URL that can't be submitted
    │   ├── UnknownJob                no job with that id
    │   ├── UnknownRequest            no submission with that request id
    │   ├── UnknownSchedule           no schedule with that id
    │   ├── InvalidCron               a cron expression scanbox can't use
    │   └── ConfigurationError        a setting that can't be used
    ├── BenchmarkFailed               ``scanbox bench`` could not measure (a scan failed, a hang)
    ├── QueueFull                     a submission would pass ``MAX_QUEUED_JOBS``: nothing stored
    ├── SchemaMismatch                the database's schema revision is not this code's
    ├── MigrationFailed               ``scanbox db upgrade`` can't upgrade this database
    └── ScanError                     one attempt at a scan went wrong; carries ``code``
        ├── TransientScanError        worth another attempt (backoff, then DISCARDED)
        │   ├── DockerUnavailable     the engine did not answer or refused the request
        │   ├── ContainerStartFailed  the container could not be created or started
        │   ├── ContainerKilled       killed by a signal from outside (e.g. the engine stopping)
        │   ├── DatabaseBusy          the database stayed locked through every retry
        │   ├── DatabaseUnavailable   the database could not be reached to record the attempt
        │   ├── WorkerLost            the worker holding the job stopped renewing its lease
        │   ├── LeaseLost             this worker's claim was taken back while it ran
        │   └── WorkerShuttingDown    the worker stopped before the scan finished
        ├── PermanentScanError        retrying can't help: the job FAILS at once
        │   ├── ContainerCrashed      non-zero exit, crash or out-of-memory kill
        │   ├── OutputTooLarge        stdout went past the cap
        │   ├── InvalidOutput         stdout was not one valid report
        │   └── ResultRejected        the database refused the result (not a lock, not an outage)
        └── ScanTimedOut              the job is TIMED_OUT
            ├── ContainerTimedOut     the container outlived the worker's deadline
            └── FetchTimedOut         the target did not answer within the fetch deadline

The worker sorts outcomes by these types in one place (``worker.scan.outcome``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from statemachine.errors import IllegalTransition as IllegalTransition


class ScanboxError(Exception):
    """Base of every error scanbox raises."""


class UsageError(ScanboxError):
    """Bad input from the user: reported on one line, exit status 2, nothing stored."""


class InvalidURL(UsageError):
    """A URL that scanbox won't accept for scanning."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"invalid URL {url[:200]!r}: {reason}")
        self.url = url
        self.reason = reason


class UnknownJob(UsageError):
    """No scan job has this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no scan job with id {job_id[:100]!r}")
        self.job_id = job_id


class UnknownRequest(UsageError):
    """No submission was made with this request id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no submission with request id {request_id[:200]!r}")
        self.request_id = request_id


class UnknownSchedule(UsageError):
    """No schedule has this id."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no schedule with id {schedule_id[:100]!r}")
        self.schedule_id = schedule_id


class InvalidCron(UsageError):
    """A cron expression that can't be parsed, or has the wrong number of fields."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"invalid cron expression {expression[:200]!r}: {reason}")
        self.expression = expression
        self.reason = reason


class ConfigurationError(UsageError):
    """A setting that can't be used."""


class BenchmarkFailed(ScanboxError):
    """``scanbox bench`` could not take its measurements: a scan failed or a worker hung."""


class QueueFull(ScanboxError):
    """A submission refused whole: its new jobs would put more than ``limit`` jobs in QUEUED.

    ``queued`` is how many were QUEUED when it was refused (counted no further than
    ``limit``); ``submitted`` how many new jobs it asked for; nothing of it was stored.
    """

    def __init__(self, *, queued: int, submitted: int, limit: int) -> None:
        super().__init__(
            f"the queue is full: {queued} jobs are QUEUED and MAX_QUEUED_JOBS is {limit}, "
            f"so {submitted} more can't be taken; nothing was submitted (try again later)"
        )
        self.queued = queued
        self.submitted = submitted
        self.limit = limit


#: Longest revision id an error repeats (Alembic's version column holds 32 characters).
_REVISION_SHOWN = 40


def _shown(revision: str) -> str:
    """A revision read from the database, safe to print on a terminal."""
    text = revision[:_REVISION_SHOWN]
    return text if text.isascii() and text.isprintable() and text.strip() == text else ascii(text)


class SchemaMismatch(ScanboxError):
    """The database's schema revision is not the one this code needs; nothing was written.

    ``found`` holds the revisions recorded in the database (empty: tables made before
    migrations); ``known`` says whether this code knows them (an older revision) or not (a
    newer scanbox upgraded the database).
    """

    def __init__(self, *, found: tuple[str, ...], needed: str, known: bool) -> None:
        if found:
            where = f"database schema is at revision {', '.join(map(_shown, found))}"
        else:
            where = "database schema has no revision (its tables were made before migrations)"
        if found and not known:
            advice = (
                f"which this scanbox does not know (it needs {needed}): a newer scanbox "
                "upgraded it; run that version"
            )
        else:
            advice = f"this scanbox needs {needed}: run 'scanbox db upgrade'"
        super().__init__(f"{where}, {advice}")
        self.found = found
        self.needed = needed
        self.known = known


class MigrationFailed(ScanboxError):
    """``scanbox db upgrade`` can't upgrade this database; it was left as it was."""


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
