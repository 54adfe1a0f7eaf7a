"""Commands that run or tend workers: ``worker``, ``reap``, ``reconcile``, ``maintenance``."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from worker.cli.base import JsonOption, app, errors_reported, load_settings, stdout


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes [default: WORKER_CONCURRENCY].", min=1)
    ] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Drain the queues, then exit.")] = False,
    max_jobs: Annotated[
        int | None,
        typer.Option(help="Take at most this many jobs in all (every process together).", min=1),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary at exit as JSON.")
    ] = False,
) -> None:
    """Run worker processes that claim and scan queued jobs; print a summary when they stop.

    With --burst and/or --max-jobs N this is a drain for cron-driven deployments: process at
    most N queued jobs (or until the queues are empty), then exit. Watch a long drain's
    progress with `scanbox stats --watch`.
    """
    from worker.app.callbacks import default_callback
    from worker.app.database import open_database
    from worker.app.sandbox import sandbox_weakenings
    from worker.app.workers import WorkerOptions, run_workers
    from worker.cli import views
    from worker.logs import configure_logging, get_logger
    from worker.telemetry.runs import group_summary, new_run_id

    settings = load_settings()
    with errors_reported():
        # Refuse a database at another schema revision once, here, before any process starts.
        db = open_database(settings)
        db.create_schema()
        db.dispose()
        default_callback(settings)
        weakened = sandbox_weakenings(settings)
        if weakened:
            # One line, in the log's own format (JSON by default), like every line on stderr.
            configure_logging(fmt=settings.log_format, level=settings.log_level)
            get_logger().warning("sandbox_weakened", weakened_by=weakened)
        group_id = new_run_id()
        options = WorkerOptions(
            concurrency=concurrency or settings.worker_concurrency,
            burst=burst,
            max_jobs=max_jobs,
            group_id=group_id,
        )
        status = run_workers(settings, options)
        summary = group_summary(open_database(settings), group_id)
        if json_output:
            views.print_json(summary.as_dict())
        else:
            stdout.print(summary.line(), markup=False)
        raise typer.Exit(status)


@app.command()
def reap(json_output: JsonOption = False) -> None:
    """Take back jobs whose worker died and remove orphan fetcher containers, once."""
    from worker.app.clients import open_docker, open_redis
    from worker.app.database import open_database
    from worker.app.services import build_reaper
    from worker.cli import views
    from worker.clock import utcnow

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        report = build_reaper(
            settings, db=db, redis=open_redis(settings), docker_client=open_docker()
        ).reap(now=utcnow())
        if json_output:
            views.print_json(dataclasses.asdict(report))
            return
        stdout.print(
            f"requeued {len(report.requeued)}, discarded {len(report.discarded)}, "
            f"containers removed {len(report.containers_removed)}"
        )


@app.command()
def reconcile(
    older_than: Annotated[
        float, typer.Option(help="Only jobs queued at least this many seconds ago.", min=0)
    ] = 10.0,
) -> None:
    """Dispatch again the QUEUED jobs that Redis has lost; print their ids."""
    from datetime import timedelta

    from worker.app.clients import dispatcher, open_redis
    from worker.app.database import open_database
    from worker.clock import utcnow
    from worker.ops.reconcile import reconcile as reconcile_queued

    settings = load_settings()
    with errors_reported():
        job_ids = reconcile_queued(
            db=open_database(settings),
            dispatcher=dispatcher(settings, open_redis(settings)),
            now=utcnow(),
            older_than=timedelta(seconds=older_than),
        )
        for job_id in job_ids:
            stdout.print(job_id)


@app.command()
def maintenance(
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Also VACUUM an SQLite database (blocks writers).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete finished jobs past RETENTION_DAYS, remove stray containers, tidy the database."""
    from worker.app.clients import open_redis
    from worker.app.database import open_database
    from worker.app.scheduler_process import docker_if_reachable, maintenance_from
    from worker.cli import views
    from worker.logs import configure_logging
    from worker.ops.maintenance import Maintenance

    settings = load_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    with errors_reported():
        db = open_database(settings)
        docker_client = docker_if_reachable()
        chores: Maintenance = maintenance_from(
            settings, db, redis=open_redis(settings), docker_client=docker_client
        )
        report = chores.run_recorded(name="cli", vacuum=vacuum)
        if json_output:
            views.print_json(report.as_dict())
            return
        stdout.print(
            f"deleted {report.jobs_deleted} jobs, {report.results_deleted} results, "
            f"{report.audit_rows_deleted} audit rows, {report.ticks_deleted} ticks, "
            f"{report.runs_deleted} runs; removed {len(report.containers_removed)} containers; "
            f"database: {', '.join(report.database) or 'nothing to do'}",
            markup=False,
        )
