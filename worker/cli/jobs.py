"""Commands that make jobs and wait for them: ``submit`` and ``wait``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
