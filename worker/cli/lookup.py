"""Commands that look jobs up in the database: ``status``, ``list`` and ``show``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from worker.cli.base import JsonOption, app, errors_reported, fail, load_settings, stdout
from worker.cli.terminal import text

if TYPE_CHECKING:
    from worker.store.database import Database
    from worker.store.models import ScanJob, ScanResult


def _job_json(db: Database, job: ScanJob, result: ScanResult | None) -> dict[str, Any]:
    """The job's document as ``status --json`` prints it, its request ids read from ``db``."""
    from worker.cli import views
    from worker.store.requests import job_request_ids

    return views.job_dict(job, result, request_ids=job_request_ids(db, job.id))


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
