"""Commands of the HTTP API: ``api`` (serve it) and ``apikey create|list|revoke``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from worker.cli.base import (
    JsonOption,
    apikey_app,
    app,
    errors_reported,
    fail,
    load_settings,
    stdout,
)
from worker.cli.terminal import text


@app.command()
def api(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: API_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [default: API_PORT].", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the HTTP API and the web pages (refuses a database at another schema revision)."""
    from worker.api.server import serve

    settings = load_settings()
    with errors_reported():
        serve(settings, host=host or settings.api_host, port=port or settings.api_port)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists and logs).")],
    scope: Annotated[str, typer.Option(help="read, submit (and read) or admin.")] = "read",
    json_output: JsonOption = False,
) -> None:
    """Make an API key and print it once: only its hash is stored."""
    from worker.api.keys import SCOPES, new_key
    from worker.app.database import open_database
    from worker.cli import views
    from worker.clock import utcnow
    from worker.store.apikeys import create_key

    if scope not in SCOPES:
        fail(f"unknown scope {scope!r} (use one of {', '.join(SCOPES)})")
    settings = load_settings()
    with errors_reported():
        made = new_key()
        row = create_key(
            open_database(settings),
            key_id=made.key_id,
            name=name,
            scope=scope,
            key_hash=made.key_hash,
            now=utcnow(),
        )
    if json_output:
        views.print_json({"id": row.id, "name": row.name, "scope": row.scope, "key": made.key})
        return
    sys.stdout.write(made.key + "\n")
    sys.stderr.write(
        f"scanbox: key {row.id} ({row.scope}) made; it is shown this once, keep it now\n"
    )


@apikey_app.command("list")
def apikey_list(json_output: JsonOption = False) -> None:
    """List API keys (never the keys themselves: only their ids, names and scopes)."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store.apikeys import list_keys

    settings = load_settings()
    with errors_reported():
        keys = list_keys(open_database(settings))
    if json_output:
        views.print_json(
            [
                {
                    "id": key.id,
                    "name": key.name,
                    "scope": key.scope,
                    "created_at": views.iso(key.created_at),
                    "revoked_at": views.iso(key.revoked_at),
                }
                for key in keys
            ]
        )
        return
    table = views.listing(("ID", "SCOPE", "CREATED", "REVOKED", "NAME"), wraps={"NAME"})
    for key in keys:
        table.add_row(
            text(key.id),
            text(key.scope),
            views.iso(key.created_at) or "",
            views.iso(key.revoked_at) or "-",
            text(key.name),
        )
    stdout.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikey list).")],
) -> None:
    """Revoke an API key: every request with it is refused from then on."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.clock import utcnow
    from worker.store.apikeys import revoke_key

    settings = load_settings()
    with errors_reported():
        key = revoke_key(open_database(settings), key_id, now=utcnow())
    stdout.print(text(f"key {key.id} ({key.name}) revoked at {views.iso(key.revoked_at)}"))
