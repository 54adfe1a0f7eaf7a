"""Commands about recurring scans: ``schedule add|list|enable|disable|remove``, ``scheduler``."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli.base import JsonOption, app, errors_reported, load_settings, schedule_app, stdout


@schedule_app.command("add")
def schedule_add(
    url: Annotated[str, typer.Argument(help="URL to scan on every tick (http or https).")],
    *,
    cron: Annotated[
        str,
        typer.Option(
            "--cron",
            help='Cron expression in UTC: 5 fields, or 6 with seconds last ("*/15 * * * *").',
        ),
    ],
    priority: Annotated[str, typer.Option(help="Queue priority: high, normal or low.")] = "normal",
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it inactive.")] = False,
    mode: Annotated[str, typer.Option(help="How its scans are made: http or browser.")] = "http",
    json_output: JsonOption = False,
) -> None:
    """Add a recurring scan; print its id."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.schedule.schedules import add_schedule

    settings = load_settings()
    with errors_reported():
        schedule = add_schedule(
            open_database(settings),
            url=url,
            cron=cron,
            priority=priority,
            active=not disabled,
            mode=mode,
        )
        if json_output:
            views.print_json(views.schedule_dict(schedule))
        else:
            stdout.print(schedule.id)


@schedule_app.command("list")
def schedule_list(json_output: JsonOption = False) -> None:
    """List every schedule: next and last run, failed scans in a row, why it is paused."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.schedule.schedules import list_schedules

    settings = load_settings()
    with errors_reported():
        schedules = list_schedules(open_database(settings))
        if json_output:
            views.print_json([views.schedule_dict(schedule) for schedule in schedules])
            return
        stdout.print(views.schedules_table(schedules))


def _set_active(schedule_id: str, *, active: bool) -> None:
    from worker.app.database import open_database
    from worker.schedule.schedules import set_active

    settings = load_settings()
    with errors_reported():
        schedule = set_active(open_database(settings), schedule_id, active=active)
        stdout.print(f"{schedule.id} {'enabled' if schedule.active else 'disabled'}")


@schedule_app.command("enable")
def schedule_enable(schedule_id: str) -> None:
    """Enable a schedule (from the schedulers' next refresh); a paused one starts again with
    no failures counted."""
    _set_active(schedule_id, active=True)


@schedule_app.command("disable")
def schedule_disable(schedule_id: str) -> None:
    """Disable a schedule (from the schedulers' next refresh); it is kept."""
    _set_active(schedule_id, active=False)


@schedule_app.command("remove")
def schedule_remove(schedule_id: str) -> None:
    """Delete a schedule and its tick history; the scans it submitted stay."""
    from worker.app.database import open_database
    from worker.schedule.schedules import remove_schedule

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
    from worker.app.database import open_database
    from worker.app.scheduler_process import run_scheduler_process

    settings = load_settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    with errors_reported():
        # Refuse a database at another schema revision before logging or anything else starts.
        db = open_database(settings)
        db.create_schema()
        db.dispose()
        run_scheduler_process(settings)
