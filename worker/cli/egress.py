"""``scanbox egress``: the egress proxy of this host, the fetchers' only way out."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli.base import app, errors_reported, load_settings


@app.command()
def egress(
    parent: Annotated[
        int | None,
        typer.Option(
            help="Stop when the process PID is no longer this one's parent (for a proxy a "
            "worker starts for itself).",
            metavar="PID",
            hidden=True,
        ),
    ] = None,
) -> None:
    """Run this host's egress proxy until SIGTERM or Ctrl-C.

    Fetcher containers (FETCHER_NETWORK=egress) have no network of their own: each scan gets
    a session of this proxy, a socket in EGRESS_DIR mounted into its container. The proxy
    resolves each host once, refuses it if any address is not allowed (FETCHER_ALLOW_NETWORKS,
    FETCHER_ALLOWED_PORTS), connects to the address it checked, and records every connection
    in the scan's result. `scanbox worker` starts one for as long as it runs if none answers.
    """
    from worker.app.egress import egress_config
    from worker.egress.run import run_egress
    from worker.logs import configure_logging

    settings = load_settings()
    with errors_reported():
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        run_egress(egress_config(settings), parent=parent)
