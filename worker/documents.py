"""The JSON documents of jobs, results, audit rows, schedules and statistics: what ``scanbox
status --json``, ``show --json`` and ``stats --json`` print and what the HTTP API serves, one
shape for both."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from worker.store.models import AuditLog, RunRecord, ScanJob, ScanResult, Schedule
from worker.telemetry.stats import Snapshot, run_seconds


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 in UTC, with ``Z``."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def result_dict(result: ScanResult | None, *, full: bool = False) -> dict[str, Any] | None:
    """A result as JSON; ``full`` adds the whole fetcher report and the egress connections."""
    if result is None:
        return None
    data: dict[str, Any] = {
        "id": result.id,
        "job_id": result.job_id,
        "verdict": result.verdict,
        "score": result.score,
        "reasons": result.reasons,
        "status_code": result.status_code,
        "final_url": result.final_url,
        "title": result.title,
        "content_type": result.content_type,
        "size": result.size,
        "sha256": result.sha256,
        "fetch_error": result.fetch_error,
        "attempt": result.attempt,
        "duration_ms": result.duration_ms,
        "created_at": iso(result.created_at),
        "not_modified": result.not_modified,
        "previous_result_id": result.previous_result_id,
    }
    if full:
        data["report"] = result.report
        data["egress"] = result.egress
        data["artifacts"] = result.artifacts
    return data


def job_dict(
    job: ScanJob, result: ScanResult | None, *, request_ids: Sequence[str]
) -> dict[str, Any]:
    """A job as the stable JSON object ``status --json`` prints; ``request_ids`` are those
    of the submissions it was made by or folded into (``worker.store.requests``)."""
    return {
        "id": job.id,
        "url": job.url,
        "state": str(job.state),
        "version": job.version,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "mode": job.mode,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "worker_id": job.worker_id,
        "container_id": job.container_id,
        "exit_code": job.exit_code,
        "oom_killed": job.oom_killed,
        "error": None
        if job.error_code is None
        else {"code": job.error_code, "message": job.error_message},
        "limits": {
            "timeout_ms": job.timeout_ms,
            "memory_limit_mb": job.memory_limit_mb,
            "cpu_limit": job.cpu_limit,
            "pids_limit": job.pids_limit,
        },
        "result": result_dict(result),
        "request_ids": list(request_ids),
    }


def audit_dict(row: AuditLog) -> dict[str, Any]:
    """One audit row as JSON."""
    return {
        "from": row.from_state,
        "to": row.to_state,
        "version": row.version,
        "actor": row.actor,
        "at": iso(row.at),
        "detail": row.detail,
    }


def schedule_dict(schedule: Schedule) -> dict[str, Any]:
    """A schedule as JSON."""
    return {
        "id": schedule.id,
        "url": schedule.url,
        "cron": schedule.cron,
        "active": schedule.active,
        "priority": schedule.priority,
        "mode": schedule.mode,
        "created_at": iso(schedule.created_at),
        "updated_at": iso(schedule.updated_at),
        "last_run_at": iso(schedule.last_run_at),
        "last_job_id": schedule.last_job_id,
        "next_run_at": iso(schedule.next_run_at),
        "skipped_ticks": schedule.skipped_ticks,
        "error": schedule.error,
        "consecutive_failures": schedule.consecutive_failures,
        "paused_at": iso(schedule.paused_at),
        "pause_reason": schedule.pause_reason,
    }


def run_dict(run: RunRecord, *, now: datetime) -> dict[str, Any]:
    """A run record as JSON."""
    return {
        "id": run.id,
        "kind": run.kind,
        "name": run.name,
        "group_id": run.group_id,
        "status": run.status,
        "started_at": iso(run.started_at),
        "updated_at": iso(run.updated_at),
        "finished_at": iso(run.finished_at),
        "duration_s": round(run_seconds(run, now), 3),
        "processed": run.processed,
        "succeeded": run.succeeded,
        "failed": run.failed,
        "skipped": run.skipped,
        "retried": run.retried,
        "busy_ms": run.busy_ms,
        "job_limit": run.job_limit,
        "detail": run.detail,
    }


def snapshot_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as the JSON object ``stats --json`` prints."""
    return {
        "at": iso(snapshot.at),
        "states": snapshot.states,
        "runs": [run_dict(run, now=snapshot.at) for run in snapshot.runs],
        "drains": [
            {
                "group_id": drain.group_id,
                "limit": drain.limit,
                "processed": drain.processed,
                "running": drain.running,
            }
            for drain in snapshot.drains
        ],
        "schedules": snapshot.schedules,
    }


def finite(data: Any) -> Any:
    """``data`` with every non-finite number (which JSON can't hold) replaced by ``None``.

    Rows stored before reports were checked for them may hold NaN or infinities.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data
