"""``scanbox stats``: jobs per state, recent runs, drains and schedules, once or live."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated

import typer

from worker.cli.base import JsonOption, app, errors_reported, load_settings, stdout

#: Recent runs ``scanbox stats`` shows unless told.
DEFAULT_RUN_LIMIT = 10


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
    from worker.app.database import open_database
    from worker.cli import views
    from worker.cli.stats_views import render, snapshot_dict, watch
    from worker.telemetry.stats import take_snapshot

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
