"""scanbox's worker side: submit, claim, run the fetcher container, judge, record.

Sub-packages follow a job through its states. One job id from submit to COMPLETED:
``submit.batch`` (QUEUED) → ``queue.dispatch`` → ``task`` → ``scan.scanner`` → ``scan.gate``
→ ``scan.claim`` (FETCHING) → ``containers.runner`` → ``analysis.report`` → ``scan.record``
(ANALYZING) → ``analysis.rules`` → ``scan.record`` (COMPLETED); every write goes through
``statemachine.transitions``.

The foundation, used everywhere:

- :mod:`worker.errors`: every error, under ``ScanboxError``; :mod:`worker.clock`: UTC time;
  :mod:`worker.logs`: JSON log lines; :mod:`worker.urls`: which URLs may be scanned;
  :mod:`worker.printable`: hostile text made safe for a terminal
- :mod:`worker.task`: ``run_scan(job_id)``, the only callable a queued RQ job may name
- :mod:`worker.settings`: the one settings object, a section a module (read by ``app``,
  ``api``, ``cli`` and ``bench`` only)

The low packages, which never import each other or anything above them:

- :mod:`worker.store`: the database (SQLite, libSQL, PostgreSQL), the tables, their SQL
- :mod:`worker.queue`: waking workers through RQ, deferrals, the per-host rate limit (Redis)
- :mod:`worker.containers`: the container spec and labels, the Docker runner, standby
  containers, the engine watch, image builds; Docker's errors become scanbox's here
- :mod:`worker.analysis`: the fetcher's report as accepted, the rules, the policy file
- :mod:`worker.egress`: the egress proxy, fetchers' only way out, and its client

A job's path, then what runs beside it:

- :mod:`worker.submit`: validate, deduplicate, store QUEUED rows, dispatch; child scans; the
  submit stream's entries turned into jobs
- :mod:`worker.scan`: one attempt: the host gate, claim, lease, container, the writes of a
  successful attempt (with its child scans, made through ``submit``), the outcome of a failed
  one (retry, fail, time out), conditional re-scans
- :mod:`worker.telemetry`: run records, Prometheus metrics, counting each attempt
- :mod:`worker.webhooks`: completion webhooks from the outbox, signed, through the egress proxy
- :mod:`worker.schedule`: cron schedules, their ticks, the scheduler loop
- :mod:`worker.ops`: the reaper, the reconciler, housekeeping, maintenance
- :mod:`worker.app`: wiring: clients and parts built from the settings, the worker processes,
  drains, the scheduler process
- :mod:`worker.documents`: jobs, results and audit rows as the JSON the CLI prints and the API
  serves
- :mod:`worker.api`: ``scanbox api``, the HTTP API and web pages (no Docker socket)
- :mod:`worker.bench`: ``scanbox bench``; :mod:`worker.cli`: the ``scanbox`` command line

``LAYERS`` below is the rule: the parts of ``worker`` each part may import besides itself.
``statemachine`` (which imports nothing of ``worker``) and ``fetcher`` (standard library
only) may be imported by any part. ``tests/unit/test_layout.py`` walks every import, function
level ones included, and fails on one the rule does not allow.
"""

from __future__ import annotations

#: The foundation every part may import.
FOUNDATION: frozenset[str] = frozenset({"errors", "clock", "logs", "printable", "urls", "task"})
#: The low packages: each may import the foundation only.
LOW: frozenset[str] = frozenset({"store", "queue", "containers", "analysis", "egress"})

#: The parts of ``worker`` each part may import, besides itself.
LAYERS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "clock": frozenset(),
    "printable": frozenset(),
    "logs": frozenset({"printable"}),
    "urls": frozenset({"errors"}),
    "task": frozenset(),
    **{package: FOUNDATION for package in LOW},
    "settings": FOUNDATION | {"queue", "webhooks"},
    "submit": FOUNDATION | {"store", "queue"},
    "scan": FOUNDATION | LOW | {"submit"},
    "telemetry": FOUNDATION | {"store", "containers"},
    "webhooks": FOUNDATION | {"store", "egress"},
    "schedule": FOUNDATION | {"store", "queue", "submit", "telemetry"},
    "documents": FOUNDATION | {"store", "telemetry"},
    "ops": FOUNDATION | {"store", "queue", "containers", "scan", "telemetry"},
    "app": FOUNDATION
    | LOW
    | {"settings", "submit", "scan", "telemetry", "schedule", "ops", "webhooks"},
    "bench": FOUNDATION | LOW | {"settings", "submit", "scan", "app"},
    "api": FOUNDATION | LOW | {"settings", "submit", "telemetry", "documents", "app"},
    "cli": FOUNDATION
    | LOW
    | {
        "settings",
        "submit",
        "scan",
        "telemetry",
        "schedule",
        "ops",
        "app",
        "bench",
        "documents",
        "api",
        "webhooks",
    },
    "__main__": frozenset({"cli"}),
}
