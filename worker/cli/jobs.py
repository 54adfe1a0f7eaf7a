"""Commands about jobs: ``submit``, ``wait``, ``status``, ``list`` and ``show``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from worker.cli.base import (
    EXIT_FAILURE,
    JsonOption,
    app,
    errors_reported,
    load_settings,
    stdout,
)
from worker.cli.terminal import safe, text

if TYPE_CHECKING:
    from worker.store.database import Database


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
    depth: Annotated[
        int,
        typer.Option(
            help="Levels of child scans: each completed scan scans the hosts its page led to "
            "(at most MAX_SCAN_DEPTH)."
        ),
    ] = 0,
    max_children: Annotated[
        int | None,
        typer.Option(
            help="Child scans per scan with --depth "
            "[default: CHILD_SCANS_DEFAULT; at most CHILD_SCANS_MAX]."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Submit URLs for scanning; print one job id per line (an earlier job for a repeat)."""
    from datetime import timedelta

    from worker.app.database import open_database
    from worker.app.services import child_limits, dispatcher, open_redis
    from worker.cli import views
    from worker.submit.batch import submit_batch

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
            max_queued=settings.max_queued_jobs,
            depth=depth,
            max_children=max_children,
            child_limits=child_limits(settings),
        )
        for item in submissions:
            if item.duplicate:
                sys.stderr.write(
                    f"scanbox: {safe(item.url)} is already job {item.job_id} "
                    f"({item.state.value}); --force submits it again\n"
                )
        job_ids = [item.job_id for item in submissions]
        if not wait:
            for item in submissions:
                if json_output:
                    views.print_json(
                        {"id": item.job_id, "state": item.state.value, "duplicate": item.duplicate}
                    )
                else:
                    stdout.print(text(item.job_id))
            return
        _wait_and_print(db, job_ids, timeout_s=wait_timeout, json_output=json_output)


def _wait_and_print(
    db: Database, job_ids: list[str], *, timeout_s: float, json_output: bool
) -> None:
    from statemachine.states import State
    from worker.cli import views
    from worker.store import queries

    jobs = queries.wait_for_terminal(db, job_ids, timeout_s=timeout_s)
    for job_id in job_ids:
        job = jobs[job_id]
        if json_output:
            views.print_json(views.job_dict(job, queries.get_result(db, job_id)))
        else:
            stdout.print(Text.assemble(text(job_id), " ", views.state_text(str(job.state))))
    if any(job.state != State.COMPLETED for job in jobs.values()):
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def wait(
    job_ids: Annotated[list[str], typer.Argument(help="Jobs to wait for.")],
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.", min=0)] = 600.0,
    json_output: JsonOption = False,
) -> None:
    """Wait until jobs are terminal; print each final state (exit 1 unless all COMPLETED)."""
    from worker.app.database import open_database
    from worker.store import queries

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        for job_id in job_ids:
            queries.get_job(db, job_id)
        _wait_and_print(db, job_ids, timeout_s=timeout, json_output=json_output)


@app.command()
def status(job_id: str, json_output: JsonOption = False) -> None:
    """Show one job's state."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store import queries

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        job = queries.get_job(db, job_id)
        result = queries.get_result(db, job_id)
        if json_output:
            views.print_json(views.job_dict(job, result))
            return
        stdout.print(views.status_line(job))
        if result is not None:
            stdout.print(
                Text.assemble("verdict ", views.verdict_text(result.verdict, result.score))
            )
        elif job.error_code:
            stdout.print(text(f"error {job.error_code}: {job.error_message}"))


@app.command(name="list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs, newest first.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List the newest jobs."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store import queries

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        jobs = queries.list_jobs(db, state=state, limit=limit)
        if json_output:
            views.print_json([views.job_dict(job, None) | {"result": None} for job in jobs])
            return
        stdout.print(views.jobs_table(jobs))


@app.command()
def show(
    job_id: str,
    tree: Annotated[
        bool, typer.Option("--tree", help="Draw the tree of child scans the job is in.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show one job in full: verdict and reasons, result, audit trail, parent and children."""
    from worker.app.database import open_database
    from worker.cli import tree_views, views
    from worker.store import queries, trees

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        job = queries.get_job(db, job_id)
        family = trees.job_family(db, job_id)
        drawn = trees.job_tree(db, job_id) if tree else None
        if drawn is not None and not json_output:
            for line in tree_views.tree_lines(drawn, marked=job_id):
                stdout.print(line, soft_wrap=True)
            return
        result = queries.get_result(db, job_id)
        audit = queries.get_audit(db, job_id)
        previous = queries.get_previous_result(db, result)
        if json_output:
            data = views.job_dict(job, None)
            data["result"] = views.result_dict(result, full=True)
            data["previous_result"] = views.result_dict(previous)
            data["audit"] = [views.audit_dict(row) for row in audit]
            data.update(tree_views.family_dict(family))
            if drawn is not None:
                data["tree"] = tree_views.tree_dict(drawn)
            views.print_json(data)
            return
        stdout.print(views.job_panel(job, result, audit, previous=previous))
        if family.lineage is not None or family.children:
            stdout.print(tree_views.family_table(family))
