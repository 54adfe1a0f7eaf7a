"""The base of every scanbox error, bad input, and the errors of the database and queue."""

from __future__ import annotations


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
