"""The ``scanbox`` command line."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import docker.errors
import pydantic
import redis.exceptions
import requests.exceptions
import typer
from rich.console import Console

from statemachine.states import State
from worker.app.scheduler_process import (
    docker_if_reachable,
    maintenance_from,
    run_scheduler_process,
)
from worker.app.services import (
    dispatcher,
    open_database,
    open_docker,
    open_redis,
    outcome_policy,
)
from worker.app.workers import WorkerOptions, run_workers
from worker.bench import report as bench_report
from worker.bench.run import DEFAULT_OUTPUT, BenchOptions, run_benchmark
from worker.cli import views
from worker.clock import utcnow
from worker.containers.images import build_fetcher_image
from worker.errors import ScanboxError, UsageError
from worker.logs import configure_logging
from worker.ops.maintenance import Maintenance
from worker.ops.reaper import Reaper
from worker.ops.reconcile import reconcile as reconcile_queued
from worker.schedule.schedules import add_schedule, list_schedules, remove_schedule, set_active
from worker.settings import Settings
from worker.store import queries
from worker.store.database import Database
from worker.submit.batch import submit_batch
from worker.telemetry.runs import group_summary, new_run_id
from worker.telemetry.stats import DEFAULT_RUN_LIMIT, render, snapshot_dict, take_snapshot, watch

#: Exit status for bad input, as for any usage error.
EXIT_USAGE = 2
#: Exit status when the command ran but the outcome was not a success.
EXIT_FAILURE = 1

app = typer.Typer(
    help="Scan untrusted URLs inside throw-away, locked-down containers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
image_app = typer.Typer(help="Manage the fetcher image.", no_args_is_help=True)
app.add_typer(image_app, name="image")
schedule_app = typer.Typer(help="Manage recurring scans (cron, in UTC).", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")

stdout = Console(highlight=False, soft_wrap=True)


def fail(message: str, *, status: int = EXIT_USAGE) -> NoReturn:
    """Print one error line to stderr and exit with ``status``."""
    sys.stderr.write(f"scanbox: error: {message}\n")
    raise typer.Exit(status)


@contextmanager
def errors_reported() -> Iterator[None]:
    """Turn scanbox's and its services' errors into one line on stderr and an exit status."""
    try:
        yield
    except UsageError as error:
        fail(str(error))
    except redis.exceptions.ConnectionError as error:
        fail(f"cannot reach Redis: {error}", status=EXIT_FAILURE)
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as error:
        fail(f"cannot use the Docker engine: {error}", status=EXIT_FAILURE)
    except ScanboxError as error:
        fail(str(error), status=EXIT_FAILURE)


def load_settings() -> Settings:
    """Read the settings once; a bad setting is a usage error."""
    try:
        return Settings()
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"]).upper()
        fail(f"bad setting {name}: {first['msg']}")


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


@app.command()
def submit(
    urls: Annotated[list[str], typer.Argument(help="URLs to scan (http or https).")],
    *,
    priority: Annotated[str, typer.Option(help="Queue priority: high, normal or low.")] = "normal",
    wait: Annotated[
        bool, typer.Option("--wait", help="Block until every job is terminal.")
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option(help="With --wait: give up after this many seconds.", min=0)
    ] = 600.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="A new job even if the URL was submitted within DEDUP_WINDOW_MS."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Submit URLs for scanning; print one job id per line (an earlier job for a repeat)."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        submissions = submit_batch(
            urls,
            db=db,
            dispatcher=dispatcher(settings, open_redis(settings)),
            priority=priority,
            max_attempts=settings.max_attempts,
            dedup_window=timedelta(milliseconds=0 if force else settings.dedup_window_ms),
        )
        for item in submissions:
            if item.duplicate:
                sys.stderr.write(
                    f"scanbox: {item.url} is already job {item.job_id} ({item.state.value}); "
                    "--force submits it again\n"
                )
        job_ids = [item.job_id for item in submissions]
        if not wait:
            for item in submissions:
                if json_output:
                    views.print_json(
                        {"id": item.job_id, "state": item.state.value, "duplicate": item.duplicate}
                    )
                else:
                    stdout.print(item.job_id)
            return
        _wait_and_print(db, job_ids, timeout_s=wait_timeout, json_output=json_output)


def _wait_and_print(
    db: Database, job_ids: list[str], *, timeout_s: float, json_output: bool
) -> None:
    jobs = queries.wait_for_terminal(db, job_ids, timeout_s=timeout_s)
    for job_id in job_ids:
        job = jobs[job_id]
        if json_output:
            views.print_json(views.job_dict(job, queries.get_result(db, job_id)))
        else:
            stdout.print(job_id, views.state_text(str(job.state)))
    if any(job.state != State.COMPLETED for job in jobs.values()):
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def wait(
    job_ids: Annotated[list[str], typer.Argument(help="Jobs to wait for.")],
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.", min=0)] = 600.0,
    json_output: JsonOption = False,
) -> None:
    """Wait until jobs are terminal; print each final state (exit 1 unless all COMPLETED)."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        for job_id in job_ids:
            queries.get_job(db, job_id)
        _wait_and_print(db, job_ids, timeout_s=timeout, json_output=json_output)


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
    settings = load_settings()
    with errors_reported():
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
def status(job_id: str, json_output: JsonOption = False) -> None:
    """Show one job's state."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        job = queries.get_job(db, job_id)
        result = queries.get_result(db, job_id)
        if json_output:
            views.print_json(views.job_dict(job, result))
            return
        line = f"{job.id} [{views.state_text(str(job.state)).style}]{job.state}[/] v{job.version}"
        stdout.print(f"{line} attempts {job.attempts}/{job.max_attempts}  {job.url}")
        if result is not None:
            stdout.print(f"verdict {result.verdict} (score {result.score})")
        elif job.error_code:
            stdout.print(f"error {job.error_code}: {job.error_message}")


@app.command(name="list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs, newest first.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List the newest jobs."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        jobs = queries.list_jobs(db, state=state, limit=limit)
        if json_output:
            views.print_json([views.job_dict(job, None) | {"result": None} for job in jobs])
            return
        stdout.print(views.jobs_table(jobs))


@app.command()
def show(job_id: str, json_output: JsonOption = False) -> None:
    """Show one job in full: verdict and reasons, result and audit trail."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        job = queries.get_job(db, job_id)
        result = queries.get_result(db, job_id)
        audit = queries.get_audit(db, job_id)
        previous = queries.get_previous_result(db, result)
        if json_output:
            data = views.job_dict(job, None)
            data["result"] = views.result_dict(result, full=True)
            data["previous_result"] = views.result_dict(previous)
            data["audit"] = [views.audit_dict(row) for row in audit]
            views.print_json(data)
            return
        stdout.print(views.job_panel(job, result, audit, previous=previous))


@app.command()
def bench(
    *,
    count: Annotated[int, typer.Option(help="Scans on each side (N).", min=1)] = BenchOptions.count,
    concurrency: Annotated[
        int, typer.Option(help="Bare containers at a time (C).", min=1)
    ] = BenchOptions.concurrency,
    workers: Annotated[
        int, typer.Option(help="Worker processes (W).", min=1)
    ] = BenchOptions.workers,
    submit_count: Annotated[
        int, typer.Option(help="Single submits measured.", min=1)
    ] = BenchOptions.submit_count,
    batch_size: Annotated[
        int, typer.Option(help="URLs per batched submit.", min=1)
    ] = BenchOptions.batch_size,
    output: Annotated[
        Path, typer.Option(help="Where the figures are written as JSON.")
    ] = DEFAULT_OUTPUT,
) -> None:
    """Measure a scan's cost against bare fetcher containers, on a page served on loopback."""
    settings = load_settings()
    with errors_reported():
        options = BenchOptions(
            count=count,
            concurrency=concurrency,
            workers=workers,
            submit_count=submit_count,
            batch_size=batch_size,
        )
        results = bench_report.with_table(
            run_benchmark(settings, options, progress=lambda line: print(line, file=sys.stderr))
        )
        bench_report.write_json(results, output)
        stdout.print(bench_report.render_table(bench_report.rows(results)), markup=False)
        stdout.print(f"figures written to {output}", markup=False)


@app.command()
def reap(json_output: JsonOption = False) -> None:
    """Take back jobs whose worker died and remove orphan fetcher containers, once."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        report = Reaper(
            db=db,
            dispatcher=dispatcher(settings, open_redis(settings)),
            outcomes=outcome_policy(settings),
            deployment=settings.deployment,
            docker_client=open_docker(),
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


@schedule_app.command("add")
def schedule_add(
    url: Annotated[str, typer.Argument(help="URL to scan on every tick (http or https).")],
    cron: Annotated[
        str,
        typer.Option(
            "--cron",
            help='Cron expression in UTC: 5 fields, or 6 with seconds last ("*/15 * * * *").',
        ),
    ],
    priority: Annotated[str, typer.Option(help="Queue priority: high, normal or low.")] = "normal",
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it inactive.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Add a recurring scan; print its id."""
    settings = load_settings()
    with errors_reported():
        schedule = add_schedule(
            open_database(settings), url=url, cron=cron, priority=priority, active=not disabled
        )
        if json_output:
            views.print_json(views.schedule_dict(schedule))
        else:
            stdout.print(schedule.id)


@schedule_app.command("list")
def schedule_list(json_output: JsonOption = False) -> None:
    """List every schedule, with its next and last run."""
    settings = load_settings()
    with errors_reported():
        schedules = list_schedules(open_database(settings))
        if json_output:
            views.print_json([views.schedule_dict(schedule) for schedule in schedules])
            return
        stdout.print(views.schedules_table(schedules))


def _set_active(schedule_id: str, *, active: bool) -> None:
    settings = load_settings()
    with errors_reported():
        schedule = set_active(open_database(settings), schedule_id, active=active)
        stdout.print(f"{schedule.id} {'enabled' if schedule.active else 'disabled'}")


@schedule_app.command("enable")
def schedule_enable(schedule_id: str) -> None:
    """Enable a schedule (from the schedulers' next refresh)."""
    _set_active(schedule_id, active=True)


@schedule_app.command("disable")
def schedule_disable(schedule_id: str) -> None:
    """Disable a schedule (from the schedulers' next refresh); it is kept."""
    _set_active(schedule_id, active=False)


@schedule_app.command("remove")
def schedule_remove(schedule_id: str) -> None:
    """Delete a schedule and its tick history; the scans it submitted stay."""
    settings = load_settings()
    with errors_reported():
        remove_schedule(open_database(settings), schedule_id)
        stdout.print(f"{schedule_id} removed")


@app.command()
def scheduler(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve metrics on this port [default: METRICS_PORT].", min=0, max=65535),
    ] = None,
) -> None:
    """Run a scheduler replica: submit a scan on every tick of every active schedule."""
    settings = load_settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    with errors_reported():
        run_scheduler_process(settings)


@app.command()
def stats(
    json_output: JsonOption = False,
    watch_: Annotated[
        bool, typer.Option("--watch", help="Redraw every --interval seconds until Ctrl-C.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between redraws.", min=0.1)] = 2.0,
    limit: Annotated[int, typer.Option(help="Recent runs shown.", min=1)] = DEFAULT_RUN_LIMIT,
) -> None:
    """Show jobs per state, recent worker and scheduler runs, drain progress and schedules."""
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        if json_output:
            views.print_json(snapshot_dict(take_snapshot(db, limit=limit)))
        elif watch_:
            with suppress(KeyboardInterrupt):
                watch(lambda: take_snapshot(db, limit=limit), console=stdout, every_s=interval)
        else:
            stdout.print(render(take_snapshot(db, limit=limit)))


@app.command()
def maintenance(
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Also VACUUM an SQLite database (blocks writers).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete finished jobs past RETENTION_DAYS, remove stray containers, tidy the database."""
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


@image_app.command("build")
def image_build(
    base: Annotated[
        str | None, typer.Option(help="Base image [default: FETCHER_BASE_IMAGE].")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Image tag [default: FETCHER_IMAGE].")] = None,
) -> None:
    """Build the fetcher image through the Docker engine."""
    settings = load_settings()
    with errors_reported():
        image_tag = tag or settings.fetcher_image
        image_id = build_fetcher_image(
            open_docker(), tag=image_tag, base_image=base or settings.fetcher_base_image
        )
        stdout.print(f"built {image_tag} ({image_id})")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scanbox`` console script."""
    run: Callable[..., object] = app
    run(args=argv, prog_name="scanbox")
