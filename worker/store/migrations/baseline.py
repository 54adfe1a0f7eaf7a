"""The baseline's tables and columns, to recognise a database made before migrations.

Before revision ``0001`` scanbox made its tables with ``SQLModel.metadata.create_all`` on
every start. ``scanbox db upgrade`` stamps such a database with the baseline only when every
table and column below is there (``tests/unit/test_migrations.py`` checks that this is what
revision ``0001`` creates); anything else is refused, unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from worker.errors import MigrationFailed

#: Most missing names a refusal lists.
_MISSING_SHOWN = 10

#: The columns of each table at the baseline. Later revisions never change this.
BASELINE_COLUMNS: dict[str, tuple[str, ...]] = {
    "scan_jobs": (
        "id", "url", "url_key", "state", "version", "attempts", "max_attempts", "priority",
        "created_at", "updated_at", "started_at", "finished_at", "available_at",
        "lease_expires_at", "worker_id", "container_id", "exit_code", "oom_killed",
        "error_code", "error_message", "timeout_ms", "memory_limit_mb", "cpu_limit",
        "pids_limit",
    ),
    "audit_logs": ("id", "job_id", "from_state", "to_state", "version", "actor", "at", "detail"),
    "scan_results": (
        "id", "job_id", "attempt", "created_at", "status_code", "final_url", "title",
        "content_type", "size", "sha256", "fetch_error", "verdict", "score", "reasons",
        "report", "duration_ms", "not_modified", "previous_result_id",
    ),
    "url_validators": ("url_key", "etag", "last_modified", "result_id", "job_id", "updated_at"),
    "schedules": (
        "id", "url", "cron", "active", "priority", "created_at", "updated_at", "last_run_at",
        "last_job_id", "next_run_at", "skipped_ticks", "error",
    ),
    "schedule_ticks": ("schedule_id", "tick_at", "outcome", "job_id", "replica", "created_at"),
    "runs": (
        "id", "kind", "name", "group_id", "status", "started_at", "updated_at", "finished_at",
        "processed", "succeeded", "failed", "skipped", "retried", "busy_ms", "job_limit",
        "detail",
    ),
}  # fmt: skip


def missing_from_baseline(connection: Connection) -> list[str]:
    """The baseline's tables and ``table.column`` names that the database lacks."""
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    missing: list[str] = []
    for name, columns in BASELINE_COLUMNS.items():
        if name not in tables:
            missing.append(name)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        missing.extend(f"{name}.{column}" for column in columns if column not in present)
    return missing


def check_baseline(connection: Connection) -> None:
    """Raise ``MigrationFailed`` unless the database has every table and column of the
    baseline."""
    missing = missing_from_baseline(connection)
    if missing:
        raise MigrationFailed(
            "the database has tables made before migrations, but not the baseline's "
            f"(missing {', '.join(missing[:_MISSING_SHOWN])}): nothing was changed"
        )
