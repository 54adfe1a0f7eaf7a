"""Commands about jobs: ``submit``, ``wait``, ``status``, ``list`` and ``show``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from worker.cli.base import (
    EXIT_FAILURE,
    JsonOption,
    app,
    errors_reported,
    fail,
    load_settings,
    stdout,
)
from worker.cli.terminal import text

if TYPE_CHECKING:
    from worker.store.database import Database
    from worker.store.models import ScanJob, ScanResult


@app.command()
def submit(
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="URLs to scan (http or https); - reads them from stdin, one a line."),
    ] = None,
    *,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="Read the URLs from this file, one a line.",
            dir_okay=False,
            exists=True,
            readable=True,
        ),
    ] = None,
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
    mode: Annotated[
        str,
        typer.Option(
            help="How to scan: http (the fetcher, one HTTP client) or browser (Chromium: "
            "scripts run, every request, a screenshot)."
        ),
    ] = "http",
    callback_url: Annotated[
        str | None,
        typer.Option(
            "--callback-url",
            help="POST each job's terminal state here, signed [default: WEBHOOK_URL].",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check and deduplicate, say what would be created, write nothing."
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(help="With - or --from-file: URLs stored per transaction.", min=1)
    ] = 1000,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="With - or --from-file: name a bad line on stderr and go on without it.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Submit URLs for scanning; print one job id per line (an earlier job for a repeat).

    With - or --from-file the URLs are read one a line (blank lines and lines starting with
    # are skipped) and stored a batch at a time as they are read, so a list of any length
    fits in memory. Every URL of a batch is checked before the batch is stored: a bad line
    stops the command with exit status 2 and its line number, after the batches before it
    were stored and before anything of its own batch is (--skip-invalid names it and goes
    on). A progress display is shown on a terminal, and a summary line on stderr at the end.
    """
    from worker.cli import submitting

    settings = load_settings()
    streamed = from_file is not None or urls == ["-"]
    if streamed and urls and from_file is not None:
        fail("give URLs, - or --from-file, not more than one of them")
    if not streamed and not urls:
        fail("no URLs: give them as arguments, - for stdin, or --from-file FILE")
    if not streamed and "-" in (urls or []):
        fail("- reads URLs from stdin and can't be mixed with URLs")
    if streamed and wait:
        fail("--wait needs the URLs as arguments")
    options = submitting.SubmitOptions(
        priority=priority,
        force=force,
        callback_url=callback_url,
        dry_run=dry_run,
        json_output=json_output,
        batch_size=batch_size,
        skip_invalid=skip_invalid,
        depth=depth,
        max_children=max_children,
        mode=mode,
    )
    with errors_reported():
        if not streamed:
            job_ids = submitting.submit_arguments(settings, urls or [], options)
            if wait and job_ids is not None:
                from worker.app.database import open_database

                _wait_and_print(
                    open_database(settings), job_ids, timeout_s=wait_timeout,
                    json_output=json_output,
                )  # fmt: skip
            return
        if from_file is not None:
            with from_file.open(encoding="utf-8", errors="replace", newline=None) as stream:
                submitting.submit_stream(settings, stream, options)
        else:
            submitting.submit_stream(settings, sys.stdin, options)


def _wait_and_print(
    db: Database, job_ids: list[str], *, timeout_s: float, json_output: bool
) -> None:
    from statemachine.states import State
    from worker.cli import views
    from worker.store import queries
    from worker.store.requests import request_ids_of

    jobs = queries.wait_for_terminal(db, job_ids, timeout_s=timeout_s)
    request_ids = request_ids_of(db, job_ids) if json_output else {}
    for job_id in job_ids:
        job = jobs[job_id]
        if json_output:
            result = queries.get_result(db, job_id)
            views.print_json(views.job_dict(job, result, request_ids=request_ids.get(job_id, [])))
        else:
            stdout.print(Text.assemble(text(job_id), " ", views.state_text(str(job.state))))
    if any(job.state != State.COMPLETED for job in jobs.values()):
        raise typer.Exit(EXIT_FAILURE)


def _job_json(db: Database, job: ScanJob, result: ScanResult | None) -> dict[str, Any]:
    """The job's document as ``status --json`` prints it, its request ids read from ``db``."""
    from worker.cli import views
    from worker.store.requests import job_request_ids

    return views.job_dict(job, result, request_ids=job_request_ids(db, job.id))


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
def status(
    job_id: Annotated[str | None, typer.Argument(help="The job.")] = None,
    *,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id",
            help="The job of the submission with this request id (a stream entry's own id, "
            "if its producer gave none).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show one job's state."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store import queries

    if (job_id is None) == (request_id is None):
        fail("give a job id or --request-id, one of them")
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        if request_id is not None:
            from worker.store.requests import job_of_request

            job_id = job_of_request(db, request_id)
        assert job_id is not None
        job, result = queries.get_job_and_result(db, job_id)
        if json_output:
            data = _job_json(db, job, result)
            if request_id is not None:
                data["request_id"] = request_id
            views.print_json(data)
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
            from worker.store.requests import request_ids_of

            request_ids = request_ids_of(db, [job.id for job in jobs])
            views.print_json(
                [views.job_dict(job, None, request_ids=request_ids.get(job.id, [])) for job in jobs]
            )
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
            data = _job_json(db, job, None)
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
