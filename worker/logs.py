"""Structured logging: one JSON object a line (or readable console lines), on stderr.

Every line carries ``job_id``, ``state``, ``attempt`` and ``worker`` (``null`` where the line is
about no job), so that one job's lines can be picked out of every process's output. Lines from
libraries that log through the standard library (RQ) are rendered the same way.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

import structlog

from worker.printable import printable

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
#: Keys present on every line, ``None`` when unknown.
JOB_FIELDS = ("job_id", "state", "attempt", "worker")


def add_job_fields(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Give every line the job fields, ``None`` where the line doesn't know them."""
    for key in JOB_FIELDS:
        event_dict.setdefault(key, None)
    return event_dict


def escape_controls(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Show control and bidi characters in string values as escapes (console lines)."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = printable(value)
    return event_dict


def configure_logging(*, fmt: str, level: str) -> None:
    """Set up structlog for this process."""
    console = fmt != "json"
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_job_fields,
        # JSON escapes control characters itself; console lines would carry them raw.
        *([escape_controls] if console else []),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_LEVELS.get(level, logging.ERROR))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.ERROR)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(**context: object) -> structlog.typing.FilteringBoundLogger:
    """A logger carrying ``context`` on every line."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger("scanbox")
    return logger.bind(**context)


def log_soon(log: Callable[..., object], event: str, **fields: object) -> None:
    """Write a log line from a signal handler, on a thread of its own.

    A handler runs between two steps of the main thread, which may be in the middle of a log
    line of its own, holding the write lock of structlog's logger (not reentrant): logging in
    the handler itself would wait for that lock forever.
    """
    threading.Thread(target=log, args=(event,), kwargs=fields, daemon=True, name="log").start()
