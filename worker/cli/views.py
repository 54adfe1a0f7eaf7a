"""How jobs, results and audit trails look: stable JSON for programs, tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Sequence
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from worker.cli.terminal import text
from worker.documents import audit_dict, finite, iso, job_dict, result_dict, schedule_dict
from worker.store.models import AuditLog, ScanJob, ScanResult, Schedule

__all__ = [
    "audit_dict",
    "iso",
    "job_dict",
    "job_panel",
    "jobs_table",
    "listing",
    "print_json",
    "result_dict",
    "schedule_dict",
    "schedules_table",
    "state_text",
    "status_line",
    "verdict_text",
]

_STATE_STYLE = {
    "QUEUED": "cyan",
    "FETCHING": "blue",
    "ANALYZING": "blue",
    "COMPLETED": "green",
    "FAILED": "red",
    "TIMED_OUT": "yellow",
    "DISCARDED": "magenta",
}
_VERDICT_STYLE = {"benign": "green", "suspicious": "yellow", "malicious": "bold red"}


def state_text(state: str) -> Text:
    """A state, coloured."""
    return text(state, style=_STATE_STYLE.get(state, ""))


def verdict_text(verdict: str, score: int) -> Text:
    """A verdict and its score, coloured."""
    return text(f"{verdict} (score {score})", style=_VERDICT_STYLE.get(verdict, ""))


def status_line(job: ScanJob) -> Text:
    """The one line ``status`` prints about a job."""
    return Text.assemble(
        text(job.id),
        " ",
        state_text(str(job.state)),
        f" v{job.version} attempts {job.attempts}/{job.max_attempts}  ",
        text(job.url),
    )


def listing(
    columns: Sequence[str], *, wraps: Collection[str] | None = None, title: str | None = None
) -> Table:
    """A table of these columns as the CLI prints its lists: no box, bold headings, long
    values folded; only ``wraps`` (``None``: every column) may take more than one line."""
    table = Table(box=None, header_style="bold", title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=wraps is not None and column not in wraps, overflow="fold")
    return table


def jobs_table(jobs: list[ScanJob]) -> Table:
    """Jobs as a table, one a row."""
    table = listing(("ID", "STATE", "ATTEMPTS", "CREATED", "URL"), wraps={"URL"})
    for job in jobs:
        table.add_row(
            text(job.id),
            state_text(str(job.state)),
            f"{job.attempts}/{job.max_attempts}",
            iso(job.created_at) or "",
            text(job.url),
        )
    return table


def _facts(job: ScanJob, result: ScanResult | None, previous: ScanResult | None) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("job", text(job.id))
    facts.add_row("url", text(job.url))
    facts.add_row("state", state_text(str(job.state)))
    facts.add_row("mode", text(job.mode))
    facts.add_row("attempts", f"{job.attempts}/{job.max_attempts}  (version {job.version})")
    if job.error_code:
        facts.add_row("error", text(f"{job.error_code}: {job.error_message}"))
    if job.exit_code is not None:
        facts.add_row(
            "exit code", f"{job.exit_code}{'  (out of memory)' if job.oom_killed else ''}"
        )
    if result is not None:
        facts.add_row("verdict", verdict_text(result.verdict, result.score))
        if result.not_modified:
            source = f"result {result.previous_result_id}"
            if previous is not None:
                source += f" of job {previous.job_id}, {iso(previous.created_at)}"
            facts.add_row(
                "not modified", text(f"the target answered 304: same content as {source}")
            )
        facts.add_row("status", str(result.status_code) if result.status_code else "-")
        facts.add_row("final url", text(result.final_url or "-"))
        content = previous if result.not_modified and previous is not None else result
        facts.add_row("title", text(content.title or "-"))
        facts.add_row("content", text(f"{content.content_type or '-'}, {content.size} bytes"))
        facts.add_row("sha256", text(content.sha256 or "-"))
        if result.fetch_error:
            facts.add_row("fetch error", text(result.fetch_error))
    return facts


def job_panel(
    job: ScanJob,
    result: ScanResult | None,
    audit: list[AuditLog] | None,
    *,
    previous: ScanResult | None = None,
    title: str = "scan",
) -> Panel:
    """Everything about one job, for ``show`` (``previous``: what a 304 result points to);
    ``audit`` ``None`` leaves the audit trail out (a scan that was never stored has none)."""
    parts: list[Any] = [_facts(job, result, previous)]
    if result is not None and result.reasons:
        reasons = listing(("RULE", "SCORE", "DETAIL"), title="why")
        for reason in result.reasons:
            reasons.add_row(
                text(reason.get("rule", "")),
                text(f"+{reason.get('score', 0)}"),
                text(reason.get("message", "")),
            )
        parts.append(reasons)
    if result is not None and result.artifacts:
        parts.append(_artifacts_table(job.id, result.artifacts))
    if result is not None and result.egress:
        parts.append(_egress_table(result.egress))
    if audit is not None:
        trail = Table(box=None, header_style="bold", title="audit trail", title_justify="left")
        for column in ("AT", "FROM", "TO", "VERSION", "ACTOR"):
            trail.add_column(column, no_wrap=True)
        for row in audit:
            trail.add_row(
                iso(row.at) or "",
                row.from_state or "-",
                state_text(row.to_state),
                str(row.version),
                text(row.actor),
            )
        parts.append(trail)
    return Panel(Group(*parts), title=title, expand=False)


def _artifacts_table(job_id: str, artifacts: list[dict[str, Any]]) -> Table:
    """A browser scan's artifacts, with the command that writes each out."""
    table = Table(box=None, header_style="bold", title="artifacts", title_justify="left")
    for column in ("NAME", "TYPE", "BYTES", "SHA256", "WRITE IT WITH"):
        table.add_column(column, overflow="fold")
    for item in artifacts:
        name = str(item.get("name", ""))
        table.add_row(
            text(name),
            text(str(item.get("media_type", ""))),
            str(item.get("size", "")),
            text(str(item.get("sha256", ""))),
            text(f"scanbox artifact {job_id} {name} -o FILE"),
        )
    return table


def _egress_table(connections: list[dict[str, Any]]) -> Table:
    """What the egress proxy did with each connection of the scan's container."""
    table = listing(("HOST", "PORT", "ADDRESS", "DECISION", "REASON", "BYTES IN"), title="egress")
    for connection in connections:
        table.add_row(
            text(str(connection.get("host") or "-")),
            str(connection.get("port") or "-"),
            text(str(connection.get("connected") or "-")),
            text(str(connection.get("decision", ""))),
            text(str(connection.get("reason") or "")),
            str(connection.get("bytes_down", 0)),
        )
    return table


def schedules_table(schedules: list[Schedule]) -> Group:
    """Schedules as a table, one a row, then why each paused one was paused."""
    columns = ("ID", "CRON", "ACTIVE", "NEXT RUN", "LAST RUN", "SKIPPED", "FAILED", "URL")
    table = listing(columns, wraps={"URL"})
    for schedule in schedules:
        paused = schedule.paused_at is not None and not schedule.active
        next_run: Text | str = iso(schedule.next_run_at) or "-"
        if schedule.error:
            next_run = text(f"error: {schedule.error}", style="red")
        elif paused:
            next_run = text(f"paused {iso(schedule.paused_at)}", style="red")
        table.add_row(
            text(schedule.id),
            text(schedule.cron),
            "paused" if paused else ("yes" if schedule.active else "no"),
            next_run,
            iso(schedule.last_run_at) or "-",
            str(schedule.skipped_ticks),
            str(schedule.consecutive_failures),
            text(schedule.url),
        )
    reasons = [
        Text.assemble(text(schedule.id), " ", text(schedule.pause_reason or "paused", style="red"))
        for schedule in schedules
        if schedule.paused_at is not None and not schedule.active
    ]
    return Group(table, *reasons)


def print_json(data: object) -> None:
    """Print ``data`` as compact, stable, valid JSON (one line).

    Rows stored before reports were checked for them may hold NaN or infinities; those print
    as ``null`` rather than as the invalid JSON ``NaN``.
    """
    try:
        line = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        line = json.dumps(finite(data), sort_keys=True, separators=(",", ":"), allow_nan=False)
    sys.stdout.write(line + "\n")
