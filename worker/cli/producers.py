"""Commands for producers' side: ``intake`` (the submit stream) and ``webhooks list|retry``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.cli.base import (
    EXIT_FAILURE,
    JsonOption,
    app,
    errors_reported,
    fail,
    load_settings,
    stdout,
)
from worker.cli.terminal import safe, text

if TYPE_CHECKING:
    from rich.table import Table

    from worker.store.models import WebhookDelivery

webhooks_app = typer.Typer(
    help="See and retry completion webhooks (the outbox).", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")


@app.command()
def intake() -> None:
    """Turn submit stream entries into jobs, with no scans and no Docker, until stopped.

    Workers read SUBMIT_STREAM too; this runs the same consumer alone, for a host that only
    takes producers' submissions in.
    """
    from worker.app.intake import run_intake

    settings = load_settings()
    with errors_reported():
        raise typer.Exit(run_intake(settings))


def delivery_dict(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery as JSON (its body left out: it is the job's, see ``status --json``)."""
    from worker.cli.views import iso

    return {
        "id": delivery.id,
        "job_id": delivery.job_id,
        "request_id": delivery.request_id,
        "url": delivery.url,
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "created_at": iso(delivery.created_at),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "delivered_at": iso(delivery.delivered_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "last_response": delivery.last_response,
        "last_peer": delivery.last_peer,
    }


def _table(deliveries: list[WebhookDelivery]) -> Table:
    from worker.cli.views import iso, listing

    styles = {"pending": "cyan", "delivered": "green", "failed": "red"}
    table = listing(
        ("ID", "STATUS", "TRIES", "WHEN", "LAST", "JOB", "URL"),
        wraps={"ID", "WHEN", "LAST", "JOB", "URL"},
    )
    for delivery in deliveries:
        when = delivery.delivered_at if delivery.status == "delivered" else None
        if delivery.status == "pending":
            when = delivery.next_attempt_at
        last = delivery.last_error or (
            f"answered {delivery.last_status}" if delivery.last_status else "-"
        )
        table.add_row(
            text(delivery.id),
            text(delivery.status, style=styles.get(delivery.status, "")),
            str(delivery.attempts),
            iso(when) or "-",
            text(last),
            text(delivery.job_id),
            text(delivery.url),
        )
    return table


@webhooks_app.command("list")
def webhooks_list(
    status: Annotated[
        str | None, typer.Option(help="Only deliveries in this status: pending, delivered, failed.")
    ] = None,
    job: Annotated[str | None, typer.Option(help="Only the deliveries of this job.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List webhook deliveries: where each goes, how it stands, what the last attempt got."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store.outbox import list_deliveries

    settings = load_settings()
    with errors_reported():
        deliveries = list_deliveries(
            open_database(settings), status=status, job_id=job, limit=limit
        )
        if json_output:
            views.print_json([delivery_dict(delivery) for delivery in deliveries])
            return
        stdout.print(_table(deliveries))


@webhooks_app.command("retry")
def webhooks_retry(
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(help="Failed deliveries to send again.")
    ] = None,
    *,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed delivery (up to --limit).")
    ] = False,
    limit: Annotated[int, typer.Option(help="With --failed: at most this many.", min=1)] = 1000,
) -> None:
    """Send failed deliveries again, with a fresh count of attempts; print each id retried."""
    from worker.app.database import open_database
    from worker.clock import utcnow
    from worker.store.outbox import failed_delivery_ids, retry_deliveries

    if bool(delivery_ids) == failed:
        fail("give delivery ids or --failed, one of them")
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        wanted = delivery_ids or failed_delivery_ids(db, limit=limit)
        retried = retry_deliveries(db, ids=wanted, now=utcnow())
        for delivery_id in retried:
            stdout.print(text(delivery_id))
        left = [delivery_id for delivery_id in dict.fromkeys(wanted) if delivery_id not in retried]
        for delivery_id in left:
            sys.stderr.write(
                f"scanbox: {safe(delivery_id[:100])} is not a failed delivery: left as it is\n"
            )
        if left:
            raise typer.Exit(EXIT_FAILURE)
