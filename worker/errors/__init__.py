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
        │   ├── EgressUnreachable     the egress proxy could not open or close the session
        │   ├── DatabaseBusy          the database stayed locked through every retry
        │   ├── DatabaseUnavailable   the database could not be reached to record the attempt
        │   ├── WorkerLost            the worker holding the job stopped renewing its lease
        │   ├── LeaseLost             this worker's claim was taken back while it ran
        │   └── WorkerShuttingDown    the worker stopped before the scan finished
        ├── PermanentScanError        retrying can't help: the job FAILS at once
        │   ├── ContainerCrashed      non-zero exit, crash or out-of-memory kill
        │   ├── ModeUnavailable       a scan mode this worker does not run
        │   ├── OutputTooLarge        stdout went past the cap
        │   ├── InvalidOutput         stdout was not one valid report
        │   └── ResultRejected        the database refused the result (not a lock, not an outage)
        └── ScanTimedOut              the job is TIMED_OUT
            ├── ContainerTimedOut     the container outlived the worker's deadline
            └── FetchTimedOut         the target did not answer within the fetch deadline

The worker sorts outcomes by these types in one place (``worker.scan.outcome``). The base,
bad input and the database's errors are in :mod:`worker.errors.base`; the errors of one
attempt in :mod:`worker.errors.scan`. Import them from here.
"""

from __future__ import annotations

from statemachine.errors import IllegalTransition
from worker.errors.base import (
    BenchmarkFailed,
    ConfigurationError,
    InvalidCron,
    InvalidURL,
    MigrationFailed,
    QueueFull,
    ScanboxError,
    SchemaMismatch,
    UnknownJob,
    UnknownRequest,
    UnknownSchedule,
    UsageError,
)
from worker.errors.scan import (
    ContainerCrashed,
    ContainerKilled,
    ContainerStartFailed,
    ContainerTimedOut,
    DatabaseBusy,
    DatabaseUnavailable,
    DockerUnavailable,
    EgressUnreachable,
    FetchTimedOut,
    InvalidOutput,
    LeaseLost,
    ModeUnavailable,
    OutputTooLarge,
    PermanentScanError,
    ResultRejected,
    ScanError,
    ScanTimedOut,
    TransientScanError,
    WorkerLost,
    WorkerShuttingDown,
)

__all__ = [
    "BenchmarkFailed",
    "ConfigurationError",
    "ContainerCrashed",
    "ContainerKilled",
    "ContainerStartFailed",
    "ContainerTimedOut",
    "DatabaseBusy",
    "DatabaseUnavailable",
    "DockerUnavailable",
    "EgressUnreachable",
    "FetchTimedOut",
    "IllegalTransition",
    "InvalidCron",
    "InvalidOutput",
    "InvalidURL",
    "LeaseLost",
    "MigrationFailed",
    "ModeUnavailable",
    "OutputTooLarge",
    "PermanentScanError",
    "QueueFull",
    "ResultRejected",
    "ScanError",
    "ScanTimedOut",
    "ScanboxError",
    "SchemaMismatch",
    "TransientScanError",
    "UnknownJob",
    "UnknownRequest",
    "UnknownSchedule",
    "UsageError",
    "WorkerLost",
    "WorkerShuttingDown",
]
