"""The ``scanbox`` command line: one module per group of commands.

- :mod:`worker.cli.jobs`: ``submit``, ``wait`` (:mod:`worker.cli.submitting` and
  :mod:`worker.cli.submit_lines` do the submitting); :mod:`worker.cli.lookup`: ``status``,
  ``list``, ``show``
- :mod:`worker.cli.scanning`: ``scan`` (one scan now, nothing stored)
- :mod:`worker.cli.artifacts`: ``artifact`` (a browser scan's screenshot, DOM, HAR, favicon)
- :mod:`worker.cli.producers`: ``intake``, ``webhooks list|retry``
- :mod:`worker.cli.workers`: ``worker``, ``reap``, ``reconcile``, ``maintenance``
- :mod:`worker.cli.egress`: ``egress`` (this host's egress proxy)
- :mod:`worker.cli.schedules`: ``schedule add|list|enable|disable|remove``, ``scheduler``
- :mod:`worker.cli.stats`: ``stats``; :mod:`worker.cli.images`: ``image build``;
  :mod:`worker.cli.bench`: ``bench``; :mod:`worker.cli.db`: ``db upgrade|current|history``
- :mod:`worker.cli.api`: ``api`` (the HTTP API and web pages), ``apikey create|list|revoke``
- :mod:`worker.cli.views`: how jobs, results and schedules look (JSON and tables)
- :mod:`worker.cli.base`: the Typer apps, settings, the one error handler

Each command imports what it uses when it runs, so parsing the command line stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from worker.cli import (
    api,
    artifacts,
    bench,
    db,
    egress,
    images,
    jobs,
    lookup,
    producers,
    scanning,
    schedules,
    stats,
    workers,
)
from worker.cli.base import app

__all__ = [
    "api",
    "app",
    "artifacts",
    "bench",
    "db",
    "egress",
    "images",
    "jobs",
    "lookup",
    "main",
    "producers",
    "scanning",
    "schedules",
    "stats",
    "workers",
]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scanbox`` console script."""
    run: Callable[..., object] = app
    run(args=argv, prog_name="scanbox")
