"""Commands about the database's schema: ``db upgrade``, ``db current`` and ``db history``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli.base import JsonOption, db_app, errors_reported, load_settings, stdout

if TYPE_CHECKING:
    from worker.store.migrations.commands import Standing


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Revision to upgrade to (see 'scanbox db history').")
    ] = "head",
    json_output: JsonOption = False,
) -> None:
    """Upgrade the schema, in one transaction (stop workers and schedulers first).

    A database made before migrations is stamped with the baseline first; an empty one gets
    every revision. Nothing is changed if any step fails.
    """
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store.migrations.commands import upgrade

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        done = upgrade(db, target=revision)
        db.dispose()
        before = ",".join(done.before) or None
        after = ",".join(done.after) or None
        if json_output:
            views.print_json(
                {"from": before, "to": after, "stamped_baseline": done.stamped_baseline}
            )
            return
        for line in _upgrade_lines(before, after, stamped_baseline=done.stamped_baseline):
            stdout.print(line, markup=False)


def _upgrade_lines(before: str | None, after: str | None, *, stamped_baseline: bool) -> list[str]:
    from worker.store.migrations import BASELINE

    if stamped_baseline:
        lines = [f"tables made before migrations: stamped with the baseline {BASELINE}"]
        if after != BASELINE:
            lines.append(f"upgraded from {BASELINE} to {after}")
        return lines
    if before == after:
        return [f"already at {after}"]
    return [f"upgraded from {before or 'an empty database'} to {after}"]


@db_app.command("current")
def db_current(json_output: JsonOption = False) -> None:
    """Show the database's schema revision and whether this scanbox can use it."""
    from worker.app.database import open_database
    from worker.cli import views
    from worker.store.migrations import HEAD
    from worker.store.migrations.commands import current, known_revisions, standing

    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        state = current(db)
        db.dispose()
        where = standing(state, known=known_revisions())
        revision = ",".join(state.revisions) or None
        if json_output:
            views.print_json({"revision": revision, "head": HEAD, "status": where})
            return
        stdout.print(_current_line(revision, where, head=HEAD), markup=False)


def _current_line(revision: str | None, where: Standing, *, head: str) -> str:
    if where == "current":
        return f"{revision} (head)"
    if where == "behind":
        return f"{revision} (behind: head is {head}; run 'scanbox db upgrade')"
    if where == "unknown":
        return f"{revision!r} (unknown to this scanbox, whose head is {head})"
    if where == "pre-migration":
        return f"none: tables made before migrations (head is {head}; run 'scanbox db upgrade')"
    return f"none: empty database (head is {head}; created at first use or by 'scanbox db upgrade')"


@db_app.command("history")
def db_history(json_output: JsonOption = False) -> None:
    """List the schema revisions this scanbox has, newest first."""
    from worker.cli import views
    from worker.store.migrations.commands import history

    with errors_reported():
        revisions = history()
        if json_output:
            views.print_json(
                [
                    {
                        "revision": item.id,
                        "down_revision": item.down_revision,
                        "message": item.message,
                        "head": item.head,
                    }
                    for item in revisions
                ]
            )
            return
        for item in revisions:
            mark = " (head)" if item.head else ""
            stdout.print(
                f"{item.down_revision or 'base'} -> {item.id}{mark}  {item.message}", markup=False
            )
